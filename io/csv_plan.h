/* csv_plan.h — where the segments of a CSV file start and end; not installed.
 *
 * A segment is a byte range of whole records. Its cuts and first line are found
 * lazily, so that no scan of the whole file precedes a parallel pass:
 *
 * 1. At planning (sfi_csv_plan_new, one thread) the cuts are found without
 *    regard to quotes, each from a few bytes read where it falls: every
 *    segment_bytes from the previous cut, after the next LF. These "blind" cuts
 *    fix the number of segments and cut the file into blocks.
 * 2. Opening segment k (sfi_csv_plan_range, from any thread) needs the quote
 *    parity and the line count of everything before its start and its end: the
 *    blocks 0..k. Each block is scanned once (pread, sfi_csv_count_lf), by the
 *    first opener that needs it; an opener scans its own block first, so the
 *    blocks are scanned in parallel by the threads that go on to parse them.
 * 3. A blind cut with an even number of quotes before it is a record start (its
 *    LF lies outside quotes), as the scan of the whole file found it before. Only
 *    after an odd number (a quoted field holds the LF) is the true cut sought: the
 *    next LF outside quotes, reading on from the blind cut. The segment between
 *    two true cuts is then empty when one quoted field spans a whole block.
 *
 * Lines are counted as the reader counts them (every LF, and every CR not
 * followed by an LF), so a segment's errors name the file's own line numbers.
 */
#ifndef SF_CSV_PLAN_H
#define SF_CSV_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/sf_internal.h"

typedef struct sfi_csv_plan sfi_csv_plan;

/* Plans the segments of the regular file open as fd (borrowed: it must stay open
 * while the plan is used; only pread is used on it), whose data starts at byte
 * data_offset on line data_line and ends at size. name is for errors. */
SFI_FUNC sf_status sfi_csv_plan_new(sfi_csv_plan **out, int fd, const char *name,
                                    uint64_t data_offset, uint64_t data_line, uint64_t size,
                                    uint64_t segment_bytes, sf_error *err);

/* Plans the segments of the regular file path as sfi_csv_plan_new does, owning its
 * descriptor: closed once the blind cuts are found, opened again (by name, the
 * same file: device, inode and size checked, else SF_ERR_IO) by the first range
 * that needs a block scanned or a cut resolved, and closed again when every cut
 * is resolved. So a source of many files (io/multi_source.c) keeps a plan for
 * each without holding a descriptor for each: a file of one segment is never
 * opened again. */
SFI_FUNC sf_status sfi_csv_plan_open(sfi_csv_plan **out, const char *path, uint64_t data_offset,
                                     uint64_t data_line, uint64_t segment_bytes, sf_error *err);

/* The number of segments (>= 1). */
SFI_FUNC size_t sfi_csv_plan_count(const sfi_csv_plan *p);

/* Segment i's bytes [*start, *end) and the line number at *start. Safe to call
 * from several threads at once; once a block's scan has failed, its error is
 * returned to every later caller (whatever blocks it needs). */
SFI_FUNC sf_status sfi_csv_plan_range(sfi_csv_plan *p, size_t i, uint64_t *start, uint64_t *end,
                                      uint64_t *line, sf_error *err);

SFI_FUNC void sfi_csv_plan_free(sfi_csv_plan *p);

#endif
