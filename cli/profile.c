/* profile.c — the `--profile FILE.csv` sampler (see profile.h for the columns).
 * A thread wakes every 250 ms and writes a row; pass ends write a row from the
 * thread that reports them. All state sits behind one mutex, and each row is
 * written and flushed under it, so rows never interleave and time never goes
 * back. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/profile.h"

#define PROFILE_PERIOD_NS 250000000L

static struct {
    bool on;
    FILE *f;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* signalled by stop */
    bool stopping;
    char verb[32];
    char label[128];
    bool counted, open;     /* the pass counts rows; a pass is running */
    uint64_t base_rows, base_bytes; /* ended passes */
    uint64_t rows, bytes;           /* the running pass */
    double t0, last_wall, last_cpu;
} prof = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f) return 0;
    int got = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (got != 2) return 0;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* Writes one row; prof.mu held. */
static void write_row(const char *event)
{
    double now = cli_now(), cpu = cpu_seconds();
    double dt = now - prof.last_wall;
    double pct = dt > 0 ? 100.0 * (cpu - prof.last_cpu) / dt : 0;
    prof.last_wall = now;
    prof.last_cpu = cpu;
    fprintf(prof.f, "%.3f,%s,%s,%s,", now - prof.t0, prof.verb, prof.label, event);
    if (prof.counted)
        fprintf(prof.f, "%llu,%.3f,", (unsigned long long)(prof.base_rows + prof.rows),
                (double)(prof.base_bytes + prof.bytes) / 1e6);
    else fputs(",,", prof.f);
    fprintf(prof.f, "%.1f,%.1f\n", pct, rss_mib());
    fflush(prof.f);
}

static void *sampler(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&prof.mu);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!prof.stopping) {
        next.tv_nsec += PROFILE_PERIOD_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!prof.stopping && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&prof.wake, &prof.mu, &next);
        if (!prof.stopping) write_row("sample");
    }
    pthread_mutex_unlock(&prof.mu);
    return NULL;
}

/* Copies s into the label, commas turned into semicolons (the CSV has no quoting). */
static void set_label(const char *s)
{
    snprintf(prof.label, sizeof prof.label, "%s", s);
    for (char *c = prof.label; *c; c++)
        if (*c == ',' || *c == '\n') *c = ';';
}

int cli_profile_start(const char *path, const char *verb)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "streamfit: cannot write the profile %s: %s\n", path, strerror(errno));
        return EXIT_IO;
    }
    fputs("time_s,verb,pass,event,rows,mb_read,cpu_pct,rss_mib\n", f);
    fflush(f);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&prof.wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        fclose(f);
        fprintf(stderr, "streamfit: cannot start the profiler: %s\n", strerror(rc));
        return EXIT_IO;
    }
    pthread_mutex_lock(&prof.mu);
    prof.f = f;
    snprintf(prof.verb, sizeof prof.verb, "%s", verb);
    prof.label[0] = '\0';
    prof.stopping = false;
    prof.t0 = prof.last_wall = cli_now();
    prof.last_cpu = cpu_seconds();
    pthread_mutex_unlock(&prof.mu);
    if ((rc = pthread_create(&prof.thread, NULL, sampler, NULL)) != 0) {
        fclose(f);
        pthread_cond_destroy(&prof.wake);
        fprintf(stderr, "streamfit: cannot start the profiler: %s\n", strerror(rc));
        return EXIT_IO;
    }
    prof.on = true;
    return 0;
}

bool cli_profile_on(void) { return prof.on; }

void cli_profile_stop(void)
{
    if (!prof.on) return;
    pthread_mutex_lock(&prof.mu);
    prof.stopping = true;
    pthread_cond_signal(&prof.wake);
    pthread_mutex_unlock(&prof.mu);
    pthread_join(prof.thread, NULL);
    write_row("end");
    if (fclose(prof.f) != 0) fprintf(stderr, "streamfit: writing the profile failed: %s\n", strerror(errno));
    prof.f = NULL;
    pthread_cond_destroy(&prof.wake);
    prof.on = false;
}

/* Ends the running pass; prof.mu held. */
static void end_pass(void)
{
    if (!prof.open) return;
    write_row("pass_end");
    prof.base_rows += prof.rows;
    prof.base_bytes += prof.bytes;
    prof.rows = prof.bytes = 0;
    prof.open = false;
}

void cli_profile_pass_begin(const char *label, bool counted)
{
    if (!prof.on) return;
    pthread_mutex_lock(&prof.mu);
    end_pass();
    set_label(label);
    prof.counted = counted;
    prof.open = true;
    pthread_mutex_unlock(&prof.mu);
}

void cli_profile_add(uint64_t rows, uint64_t bytes)
{
    if (!prof.on) return;
    pthread_mutex_lock(&prof.mu);
    prof.rows += rows;
    prof.bytes += bytes;
    pthread_mutex_unlock(&prof.mu);
}

void cli_profile_pass_end(void)
{
    if (!prof.on) return;
    pthread_mutex_lock(&prof.mu);
    prof.counted = true;
    end_pass();
    pthread_mutex_unlock(&prof.mu);
}

void cli_profile_fit_progress(const sf_progress *p)
{
    if (!prof.on) return;
    char label[128];
    snprintf(label, sizeof label, "stage %zu/%zu %s pass %u", p->stage + 1, p->n_stages,
             p->kind ? p->kind : "classes", p->pass + 1);
    pthread_mutex_lock(&prof.mu);
    if (!prof.open || strcmp(label, prof.label) != 0) {
        /* a new pass; one that ended without its done report ends here */
        end_pass();
        set_label(label);
        prof.open = true;
    }
    prof.counted = true;
    prof.rows = p->rows;
    prof.bytes = p->bytes;
    if (p->done) end_pass();
    pthread_mutex_unlock(&prof.mu);
}
