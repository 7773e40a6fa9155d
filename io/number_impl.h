/* number_impl.h — the number parser's internal entry; not installed. */
#ifndef SF_NUMBER_IMPL_H
#define SF_NUMBER_IMPL_H

#include "core/sf_internal.h"
#include "streamfit/sf_number.h"

/* sf_parse_double for s != NULL, len > 0 and out != NULL, called without the
 * PLT (the library's own readers: io/csv_source.c's per-field loop). */
SFI_FUNC sf_numkind sfi_parse_double(const char *s, size_t len, double *out);

/* sf_format_double's text made with snprintf: "%.15g", else "%.16g", else
 * "%.17g", the first that reads back (for 1e15 <= |v| < 1e17 the shortest of
 * those that read back), radix forced to '.'. The reference the fast
 * formatter is tested against, and its fallback. Same contract as
 * sf_format_double. */
SFI_FUNC size_t sfi_format_double_ref(double v, char *buf, size_t n);

/* sf_format_double's text (at most 25 bytes, no NUL) at out, which must have
 * SFI_FORMAT_ROOM writable bytes: the bytes after the text are overwritten
 * with scratch. For writers that assemble lines in a buffer (the CSV sink).
 * Returns the text's length. */
#define SFI_FORMAT_ROOM 32
SFI_FUNC size_t sfi_format_double_raw(double v, char *out);

/* A number as a category label: an integer below 2^53 as "%.0f", NaN as
 * "%.17g" ("nan", "-nan"), anything else as "%.{p}g" with the least p that
 * reads back, in the C locale: the text of io/hdf5_source.c's format_number,
 * which sfi_format_label_ref reproduces with snprintf and strtod (up to 17 of
 * each) and sfi_format_label computes. NUL-terminated, truncated to n - 1
 * bytes; returns the length written. */
SFI_FUNC size_t sfi_format_label(double v, char *buf, size_t n);
SFI_FUNC size_t sfi_format_label_ref(double v, char *buf, size_t n);

#endif
