/* progress.c — a progress line on stderr (rows, MB/s, ETA) when it is a terminal. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress_start(cli_progress *p, const cli_opts *o, const char *what)
{
    p->on = !o->quiet && isatty(STDERR_FILENO);
    p->t0 = p->last = cli_now();
    p->what = what;
}

void cli_progress_update(cli_progress *p, uint64_t rows, uint64_t bytes, uint64_t total)
{
    if (!p->on) return;
    double now = cli_now();
    if (now - p->last < 0.25) return;
    p->last = now;
    double dt = now - p->t0, mbs = dt > 0 ? (double)bytes / 1e6 / dt : 0;
    fprintf(stderr, "\r%s: %llu rows, %.1f MB, %.0f MB/s", p->what, (unsigned long long)rows,
            (double)bytes / 1e6, mbs);
    if (total && bytes && bytes < total)
        fprintf(stderr, ", ETA %.0f s", dt * (double)(total - bytes) / (double)bytes);
    fputs("\033[K", stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (p->on) fputs("\r\033[K", stderr);
}
