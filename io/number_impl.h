/* number_impl.h — the number parser's internal entry; not installed. */
#ifndef SF_NUMBER_IMPL_H
#define SF_NUMBER_IMPL_H

#include "core/sf_internal.h"
#include "streamfit/sf_number.h"

/* sf_parse_double for s != NULL, len > 0 and out != NULL, called without the
 * PLT (the library's own readers: io/csv_source.c's per-field loop). */
SFI_FUNC sf_numkind sfi_parse_double(const char *s, size_t len, double *out);

#endif
