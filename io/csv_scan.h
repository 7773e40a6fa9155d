/* csv_scan.h — the CSV reader's fast path for simple records; not installed.
 *
 * Most lines of a CSV file hold no quote: the reader (io/csv_source.c) splits
 * such a line itself, with one vector scan for the delimiter and the line end,
 * and hands its fields to the same handlers that libcsv's callbacks call.
 * Everything else (quotes, a bare CR, an empty line, a line not yet complete in
 * the buffer, a last line without a line end, a wrong field count) goes to
 * libcsv as before, so errors keep one code path.
 */
#ifndef SF_CSV_SCAN_H
#define SF_CSV_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sf_internal.h"

/* Splits the line at the front of p[0..avail) when it is simple, exactly as
 * libcsv (strict mode, no space trimming) would: it ends with LF or CRLF inside
 * p[0..avail), holds no '"' and no other CR, and is not empty. Then fields k
 * of the line are p[start_k, ends[k]) with start_0 = 0 and start_k =
 * ends[k-1] + 1; *n_fields is their number (at most max_fields, max_fields
 * >= 1) and the return value the bytes the line takes with its line end.
 * Returns 0 when the line is not simple or has more than max_fields fields.
 * delim must not be '"', '\r' or '\n'. */
SFI_FUNC size_t sfi_csv_split_simple(const char *p, size_t avail, char delim, size_t *ends,
                                     size_t max_fields, size_t *n_fields);

/* The number of LFs in p[0..n); *quote and *cr say whether a '"' or a CR
 * occurs there. (The segment scan of csv_source.c.) */
SFI_FUNC uint64_t sfi_csv_count_lf(const char *p, size_t n, bool *quote, bool *cr);

/* Test knobs, process-wide; set them only while no CSV source is being opened
 * or read. sfi_csv_set_fast_path(false) makes readers opened afterwards hand
 * every line to libcsv (the differential test compares both ways);
 * sfi_csv_set_read_size(n) sets the bytes a reader asks for per refill (n >= 2;
 * 0 restores the default of 1 MiB), so tests can put lines across refills. */
SFI_FUNC void sfi_csv_set_fast_path(bool on);
SFI_FUNC void sfi_csv_set_read_size(size_t n);
SFI_FUNC bool sfi_csv_fast_path(void);
SFI_FUNC size_t sfi_csv_read_size(void);

#endif
