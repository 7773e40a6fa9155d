/* error.c — status strings and the caller-owned error record. */
#include <stdio.h>
#include <string.h>
#include <gsl/gsl_errno.h>
#include <pthread.h>

#include "core/sf_internal.h"

#ifdef SF_HAVE_OPENBLAS
void openblas_set_num_threads(int n); /* cblas.h of OpenBLAS; our pool owns the cores */
/* OpenBLAS's pthread build (blas_server.c): stops its server threads. Weak: the
 * serial and OpenMP builds have none. */
int blas_thread_shutdown_(void) __attribute__((weak));
#endif

const char *sf_strerror(sf_status st)
{
    switch (st) {
    case SF_OK: return "success";
    case SF_END: return "end of data";
    case SF_ERR_NOMEM: return "out of memory";
    case SF_ERR_IO: return "input/output error";
    case SF_ERR_PARSE: return "malformed input";
    case SF_ERR_SHAPE: return "sizes do not agree";
    case SF_ERR_ARG: return "invalid argument";
    case SF_ERR_STATE: return "call out of order";
    case SF_ERR_NUMERIC: return "numerical failure";
    case SF_ERR_UNSUPPORTED: return "unsupported";
    case SF_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void sfi_strlcpy(char *dst, const char *src, size_t n)
{
    if (n == 0) return;
    size_t len = src ? strlen(src) : 0;
    if (len >= n) len = n - 1;
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

void sf_error_clear(sf_error *err)
{
    if (err) memset(err, 0, sizeof *err);
}

void sfi_where_init(sf_where *w, const char *source)
{
    memset(w, 0, sizeof *w);
    sfi_strlcpy(w->source, source, sizeof w->source);
}

sf_status sfi_fail(sf_error *err, sf_status st, const sf_where *where, const char *fmt, ...)
{
    if (!err) return st;
    memset(err, 0, sizeof *err);
    err->status = st;
    if (where) err->where = *where;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return st;
}

sf_status sfi_nomem(sf_error *err)
{
    return sfi_fail(err, SF_ERR_NOMEM, NULL, "out of memory");
}

void sfi_error_field(sf_error *err, const char *name)
{
    if (err) sfi_strlcpy(err->field_name, name, sizeof err->field_name);
}

void sfi_error_prefix(sf_error *err, const char *fmt, ...)
{
    if (!err) return;
    char head[256], old[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    size_t k = strlen(head);
    if (k + 2 >= sizeof err->message) k = sizeof err->message - 3;
    memcpy(err->message, head, k);
    memcpy(err->message + k, ": ", 2);
    sfi_strlcpy(err->message + k + 2, old, sizeof err->message - k - 2);
}

size_t sf_error_format(const sf_error *e, char *buf, size_t n)
{
    char loc[320] = "";
    char tail[200] = "";
    if (!e) return (size_t)snprintf(buf, n, "error: no error record");
    const sf_where *w = &e->where;
    if (w->source[0]) {
        if (w->line && w->column)
            snprintf(loc, sizeof loc, "%s:%llu:%llu: ", w->source, (unsigned long long)w->line,
                     (unsigned long long)w->column);
        else if (w->line)
            snprintf(loc, sizeof loc, "%s:%llu: ", w->source, (unsigned long long)w->line);
        else
            snprintf(loc, sizeof loc, "%s: ", w->source);
    }
    size_t k = 0;
    if (w->row) k += (size_t)snprintf(tail + k, sizeof tail - k, "row %llu", (unsigned long long)w->row);
    if (w->field && k < sizeof tail)
        k += (size_t)snprintf(tail + k, sizeof tail - k, "%sfield %llu", k ? ", " : "",
                              (unsigned long long)w->field);
    if (e->field_name[0] && k < sizeof tail)
        snprintf(tail + k, sizeof tail - k, "%s\"%s\"", k ? " " : "column ", e->field_name);
    int len;
    if (tail[0])
        len = snprintf(buf, n, "%serror: %s (%s)", loc, e->message, tail);
    else
        len = snprintf(buf, n, "%serror: %s", loc, e->message);
    return len < 0 ? 0 : (size_t)len;
}

const char *sf_version(void)
{
#define SF_STR2(x) #x
#define SF_STR(x) SF_STR2(x)
    return SF_STR(SF_VERSION_MAJOR) "." SF_STR(SF_VERSION_MINOR) "." SF_STR(SF_VERSION_PATCH);
}

static void library_init_once(void)
{
    /* Decision 7: replace only GSL's default (aborting) handler; keep a host's own. */
    gsl_error_handler_t *prev = gsl_set_error_handler_off();
    if (prev) gsl_set_error_handler(prev);
#ifdef SF_HAVE_OPENBLAS
    /* Decision 8. The pthread build starts a server thread per core at load, and
     * each spins in sched_yield for ~0.1 s waiting for work that never comes (a
     * core lost to every short run); with one thread every call runs in its
     * caller, so the servers can go. (Debian's serial build has no such threads
     * but no locks either: concurrent calls from our workers corrupt its shared
     * buffers, so it is not an option.) */
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
#endif
}

void sf_library_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, library_init_once);
}
