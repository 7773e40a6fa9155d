/* sf_source.h — chunk sources: CSV files and standard input, HDF5 datasets.
 *
 * A source yields table chunks of at most chunk_rows rows, can be rewound for
 * another pass, and can be cut into segments (CSV byte ranges starting at record
 * boundaries, HDF5 row ranges) that workers read independently. Segments are fixed
 * by the data and the options, never by the number of threads, so results merged
 * in segment order are the same for any thread count.
 *
 * Data is named "file.csv", "file.csv.gz" (inflated by zlib as it is read: one
 * segment; rewinds by reading again), "-" (CSV on standard input, plain or gzip: sniffed), or
 * "file.h5:/path" (split at the last ":/"), or "file.svm" / ".svmlight" /
 * ".libsvm" (and the same with ".gz": one segment): svmlight / libsvm text read
 * as sklearn's load_svmlight_file reads it, a sparse source (see below). A file part holding '*', '?' or '['
 * is a glob pattern ("trips-2015-*.csv"; "x-*.h5" with ":/X"): the matching files,
 * sorted, are read in order as one source. They must all have the first file's
 * columns (names, in order), whose types are inferred from the first file and
 * enforced on the rest; each file's chunks keep their own line numbers, first_row
 * and category dictionaries, and errors name the file. Its segments are every
 * file's segments in turn.
 *
 * HDF5 chunks are read outside the HDF5 library, with pread. SF_HDF5_MMAP=1 in
 * the environment maps uncompressed float64 column chunks instead (no copy; a
 * little faster for in-order learners on large chunks), at a cost: a file
 * truncated in place by another process while it is mapped makes the reading
 * thread fault (SIGBUS), as with any mapped file (replacing it by rename is safe).
 */
#ifndef SF_SOURCE_H
#define SF_SOURCE_H

#include "sf_table.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How a sparse text source numbers its feature indices (sklearn's zero_based). */
typedef enum sf_zero_based {
    SF_ZERO_BASED_AUTO = 0, /**< one-based unless some index is 0 in the whole file */
    SF_ZERO_BASED_YES = 1,  /**< indices are columns as they are */
    SF_ZERO_BASED_NO = 2    /**< one-based: index k is column k - 1; 0 is an error */
} sf_zero_based;
/** What a source does with a malformed row (CSV: a wrong number of fields, or a
 *  field of a float column that is not a number). */
typedef enum sf_on_error {
    SF_ON_ERROR_STOP = 0, /**< the default: sf_source_next() first returns the rows
                               before the bad one (a short chunk), then the error */
    SF_ON_ERROR_SKIP = 1  /**< the row stays in its chunk with every field missing
                               and its sf_table.bad flag set; it is counted and the
                               first few errors kept (sf_source_bad_rows) */
} sf_on_error;

/** Rows per HDF5 or memory segment when sf_source_options.segment_rows is 0: a
 *  segment is one parallel task, so several per thread keep the cores even (a
 *  2M-row file is 8 tasks); it depends on the data alone, never on the threads. */
#define SF_SEGMENT_ROWS_DEFAULT 262144u

/** Options for opening a source. Initialise with sf_source_options_init(). */
typedef struct sf_source_options {
    size_t chunk_rows;        /**< rows per chunk; default 16384 (a few MB: memory is
                                   bounded by chunk x threads) */
    char delimiter;           /**< CSV field delimiter; default ',' */
    bool has_header;          /**< CSV has a header row; default true. When false
                                   the columns are named x0, x1, … and the first
                                   record (which fixes their number) is data */
    const char *types;        /**< overrides, "cat1=category,y=float"; NULL = infer.
                                   An entry "?name=type" is ignored when there is no
                                   such column (a model's columns, checked later) */
    const char *target;       /**< HDF5: a 1-D dataset read as an extra column "y"
                                   beside a 2-D design ("/y"); NULL = none */
    size_t max_levels;        /**< per categorical column; default 10000 */
    uint64_t segment_bytes;   /**< CSV segment size; default 32 MiB */
    uint64_t segment_rows;    /**< HDF5 and memory segment size in rows; default
                                   SF_SEGMENT_ROWS_DEFAULT (rounded to the nearest
                                   whole number of HDF5 chunks, at least one) */
    uint64_t n_features;      /**< svmlight: number of features; 0 (default) = the
                                   largest index + 1 (sklearn's n_features=None) */
    int32_t zero_based;       /**< svmlight: an sf_zero_based; default AUTO */
    sf_on_error on_error;     /**< malformed rows; default SF_ON_ERROR_STOP */
    uint8_t reserved[16];
} sf_source_options;

/** Fills o with the defaults above. */
SF_API void sf_source_options_init(sf_source_options *o);

typedef struct sf_source sf_source;

/** Opens the data named by spec. For CSV it reads the header and infers each
 *  column's type from the first chunk (a column is float when every non-missing
 *  field is a number, else category; malformed rows take no part), unless
 *  opt->types says otherwise. A malformed row in the first chunk under
 *  SF_ON_ERROR_STOP fails the open only when no row comes before it; otherwise
 *  the types come from the rows before it, which sf_source_next() returns
 *  before the error.
 *  For svmlight, unless opt gives both n_features and zero_based, it scans the
 *  file's index tokens once (sklearn decides both over the whole file; a
 *  streaming reader needs them before its first chunk), reporting a bad index
 *  there with file, line and column.
 *  opt may be NULL (defaults). Caller closes with sf_source_close().
 *  Errors: SF_ERR_IO (missing file, a pattern matching no file), SF_ERR_PARSE
 *  (empty file, header only, malformed CSV, truncated or corrupt gzip, a later
 *  file of a pattern with other columns, non-numeric HDF5 data), SF_ERR_ARG (bad types string, unknown
 *  column in it); *out is NULL then. */
SF_API sf_status sf_source_open(sf_source **out, const char *spec,
                                const sf_source_options *opt, sf_error *err);

/** A source over arrays the caller already holds (a C service fitting from
 *  memory): x is n rows x p columns, row-major with row stride ld >= p; y (the
 *  target) and w (sample weights) are n values each, or NULL. The columns are x's
 *  p columns, then y, then w, named by names[] (p names, then y's, then w's when
 *  given; copied) or, with names NULL, "x0" … "x{p-1}", "y", "weight".
 *  NaN is a missing value. x, y and w are BORROWED, not copied: they must stay
 *  valid and unchanged until the source and every segment opened from it are
 *  closed; each chunk copies only its chunk_rows rows (memory stays bounded).
 *  The source rewinds, and splits into segments of opt->segment_rows rows
 *  (fixed by the data, not the thread count). opt->types may retype columns
 *  ("x3=category": labels are the numbers' shortest texts); other CSV/HDF5
 *  options are ignored. opt may be NULL (defaults). Caller closes with
 *  sf_source_close(). Errors: SF_ERR_ARG (no columns, ld < p, x NULL with rows,
 *  a NULL or repeated name, chunk_rows 0, bad types); *out is NULL then. */
SF_API sf_status sf_source_from_memory(sf_source **out, const double *x, size_t n, size_t p,
                                       size_t ld, const double *y, const double *w,
                                       const char *const *names, const sf_source_options *opt,
                                       sf_error *err);

/** Closes a source and frees everything it lent; NULL is a no-op. */
SF_API void sf_source_close(sf_source *src);

/** Reads the next chunk into *out (borrowed; see sf_table). Returns SF_OK with a
 *  chunk of >= 1 row, SF_END when exhausted, or an error naming file, line,
 *  column, row and field. After an error the source stays in error. */
SF_API sf_status sf_source_next(sf_source *src, const sf_table **out, sf_error *err);

/** Malformed rows skipped (SF_ON_ERROR_SKIP) in one full pass over src: *count
 *  gets their number, *first (may be NULL; cleared when there are none) the
 *  error of the first of them (file, line, row, field, what). Counted whether src
 *  is read itself or through its segments (a segment reports each bad row to src
 *  at once, and its count starts again when it is opened again; a pass reading
 *  part of the data counts that part); a rewind starts src's own count again.
 *  Thread-safe against segment readers. */
SF_API void sf_source_bad_rows(const sf_source *src, uint64_t *count, sf_error *first);

/** How many malformed rows' errors a source keeps. */
#define SF_SOURCE_BAD_KEPT 4

/** The k-th (0-based) of the first few malformed rows' errors, in data order, as
 *  sf_source_bad_rows counts them (at most SF_SOURCE_BAD_KEPT are kept). Returns
 *  false (out cleared) when k is past the kept ones. */
SF_API bool sf_source_bad_row_error(const sf_source *src, size_t k, sf_error *out);

/** Starts again at the first data row. Fails with SF_ERR_UNSUPPORTED on a stream
 *  that cannot be rewound (standard input). Category codes stay as they were. */
SF_API sf_status sf_source_rewind(sf_source *src, sf_error *err);

/** Number of columns, and their names and types (names borrowed; valid until close). */
SF_API size_t sf_source_n_columns(const sf_source *src);
SF_API const char *sf_source_column_name(const sf_source *src, size_t i);
SF_API sf_coltype sf_source_column_type(const sf_source *src, size_t i);
/** True if column i is numeric and its first chunk held integers only. */
SF_API bool sf_source_column_is_integer(const sf_source *src, size_t i);
/** Index of the column called name, or -1. */
SF_API long sf_source_column_index(const sf_source *src, const char *name);

/** Sparse sources (svmlight): the number of CSR features every chunk has
 *  (chunks carry t->csr; the columns are then just "y", the label). 0 for dense
 *  sources. */
SF_API size_t sf_source_n_sparse_features(const sf_source *src);

/** The source's display name ("data.csv", "<stdin>", "x.h5:/X"); borrowed. */
SF_API const char *sf_source_name(const sf_source *src);

/** Bytes consumed so far (for progress and throughput) and the total size when
 *  known (0 otherwise). */
SF_API uint64_t sf_source_bytes_read(const sf_source *src);
SF_API uint64_t sf_source_size(const sf_source *src);

/** Counts the segments of src (for CSV without scanning the file: the record
 *  boundaries are found as each segment is opened; a segment may be empty when
 *  one quoted record is longer than a segment). Standard input has 1 segment. */
SF_API sf_status sf_source_n_segments(sf_source *src, size_t *n_out, sf_error *err);

/** Opens segment i of src as an independent source with src's column types;
 *  its categorical columns have their own dictionaries. Readers of different
 *  segments may run in different threads; src must outlive them and must not be
 *  read meanwhile. Caller closes with sf_source_close(). */
SF_API sf_status sf_source_open_segment(sf_source *src, size_t i, sf_source **out,
                                        sf_error *err);

/** A source of the rows of inner for which expr holds: a row filter, as
 *  pandas' DataFrame.query(expr, engine="python") selects rows, e.g.
 *  "trip_time_in_secs > 1200 and passenger_count >= 2" or
 *  "vendor_id in ['CMT', 'VTS'] and not (fare_amount < 0)".
 *  The language is a formula's embedded Python — numbers, column names (Q('a b')
 *  for other names), + - * / ** and unary -, < > <= >= == !=, log, log1p, exp,
 *  sqrt, abs, log10, log2, expm1, square, floor, ceil, sin, cos, tan, tanh,
 *  arctan (also as np.log …) — plus and, or, not (Python's precedence: or <
 *  and < not < comparisons; pandas' & and | are and / or, ~(…) is not),
 *  parentheses, True, False, chained comparisons
 *  (0 < x <= 5), text columns compared with quoted strings (== != < > <= >=,
 *  by code point) and "in" / "not in" lists of strings or numbers. A comparison
 *  with a missing value is false, as in numpy and pandas (so NaN != 1 holds and
 *  not (x > 1) keeps a row whose x is missing); a missing text value equals no
 *  string and is in no list. Row order is kept, and each kept row keeps its line
 *  and record number (sf_table.row), so later errors name the right row.
 *  The filter has inner's columns, name, size and segments (each segment of
 *  inner, filtered): parallel passes stay parallel and in order (count them
 *  with sf_source_n_segments before opening them from several threads, as the
 *  pipeline does). Segments share the compiled expression: src must outlive
 *  them. Chunks hold
 *  1 to chunk_rows kept rows (a chunk with every row dropped is skipped).
 *  Ownership: on success the filter OWNS inner — sf_source_close(*out) closes
 *  it, and inner must not be used directly any more; on failure inner is left
 *  as it was and stays the caller's. expr is copied.
 *  Errors: SF_ERR_ARG with where.source "<where>" and where.column the 1-based
 *  byte column in expr: a syntax error, an unknown column (with a suggestion), a
 *  text column in arithmetic, a numeric column compared with a string, a
 *  function that learns from the data (center, standardize), or a result that
 *  is not true/false ("a + 1"); SF_ERR_UNSUPPORTED for a sparse
 *  (svmlight) source; *out is NULL then. */
SF_API sf_status sf_source_filter(sf_source **out, sf_source *inner, const char *expr, sf_error *err);

/** Rows a filter (sf_source_filter) saw and dropped on its last complete read:
 *  the whole source's last read to its end when there was one, else the sum
 *  over segments of each segment's last read to its end (a pass in parallel);
 *  on a segment of a filter, that segment's. Every pass over the same data
 *  filters the same rows, so passes do not add up. Reads not yet at their end
 *  do not count. Errors: SF_ERR_ARG for NULL arguments or a source that is not
 *  a filter. */
SF_API sf_status sf_source_filter_counts(const sf_source *src, uint64_t *seen, uint64_t *dropped,
                                         sf_error *err);

#ifdef __cplusplus
}
#endif
#endif
