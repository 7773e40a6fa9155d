/* sf_internal.h — helpers shared inside the library; not installed.
 *
 * sfi_fail() fills a caller's sf_error (which may be NULL) and returns the status,
 * so a failing path reads `return sfi_fail(err, SF_ERR_PARSE, &where, "...", ...);`.
 */
#ifndef SF_INTERNAL_H
#define SF_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include "streamfit/sf_core.h"

#define SFI_FUNC __attribute__((visibility("hidden")))

/* Fills err (if not NULL) with st, a copy of *where (NULL = unknown) and the
 * printf-style message; returns st. */
SFI_FUNC sf_status sfi_fail(sf_error *err, sf_status st, const sf_where *where,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Sets the name of the field concerned on an already-filled error. */
SFI_FUNC void sfi_error_field(sf_error *err, const char *name);

/* Puts "prefix: " in front of err's message (pipeline and CLI context). */
SFI_FUNC void sfi_error_prefix(sf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fills a sf_where with a source name and nothing else. */
SFI_FUNC void sfi_where_init(sf_where *w, const char *source);

/* Copies a string into a fixed buffer, truncating, always NUL-terminated. */
SFI_FUNC void sfi_strlcpy(char *dst, const char *src, size_t n);

/* Whether path is a regular file or does not exist: a device, pipe, socket or
 * directory must never be replaced by a rename (io/sink.c). */
SFI_FUNC bool sfi_is_regular_or_absent(const char *path);

/* Allocation failure helper: fills err with SF_ERR_NOMEM. */
SFI_FUNC sf_status sfi_nomem(sf_error *err);

#define SF_TRY(expr)                          \
    do {                                      \
        sf_status sf_try_st_ = (expr);        \
        if (SF_IS_ERROR(sf_try_st_)) return sf_try_st_; \
    } while (0)


/* ---- a growing text buffer (JSON, messages) ---- */
typedef struct sfi_buf {
    char *data;     /* NUL-terminated */
    size_t len, cap;
    bool failed;    /* an allocation failed; later appends are no-ops */
} sfi_buf;

SFI_FUNC void sfi_buf_printf(sfi_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a JSON string literal (quoted, escaped) of s[0..n). */
SFI_FUNC void sfi_buf_json_string(sfi_buf *b, const char *s, size_t n);
/* Appends a JSON number in shortest round-trip form; NaN as null, ±inf as
 * "inf"/"-inf" (Decision 16). */
SFI_FUNC void sfi_buf_json_number(sfi_buf *b, double v);
/* Appends [v0, v1, …]. */
SFI_FUNC void sfi_buf_json_array(sfi_buf *b, const double *v, size_t n);

#endif
