/* source_impl.h — what every source kind implements; not installed.
 *
 * sf_source is a header (schema, options, name) plus a kind-specific state behind
 * `impl`, dispatched through sf_source_ops (as GSL multilarge and dav1d's
 * demuxers do). The public functions in io/source.c check arguments once and
 * dispatch.
 */
#ifndef SF_SOURCE_IMPL_H
#define SF_SOURCE_IMPL_H

#include <pthread.h>

#include "streamfit/sf_source.h"
#include "core/sf_internal.h"

/* Malformed rows a reader skipped: how many and the first few errors. */
typedef struct sfi_bad_log {
    uint64_t count;
    size_t n_kept;
    sf_error kept[SF_SOURCE_BAD_KEPT];
} sfi_bad_log;

/* A segment's malformed rows, as its parent keeps them: the first few errors are
 * allocated on the first one (a slot is 24 bytes, not a sfi_bad_log's ~3.7 KB: a
 * source keeps a slot for every segment it has handed out, 600 for a 2.5 GB CSV
 * in 4 MiB segments). */
typedef struct sfi_bad_slot {
    uint64_t count;
    size_t n_kept;
    sf_error *kept; /* SF_SOURCE_BAD_KEPT of them, or NULL */
} sfi_bad_slot;

struct sfi_rows_want;

typedef struct sf_source_ops {
    const char *kind;                               /* "csv", "hdf5" */
    sf_status (*next)(sf_source *src, const sf_table **out, sf_error *err);
    sf_status (*rewind)(sf_source *src, sf_error *err);
    sf_status (*n_segments)(sf_source *src, size_t *n_out, sf_error *err);
    sf_status (*open_segment)(sf_source *src, size_t i, sf_source **out, sf_error *err);
    void (*close)(void *impl);                      /* frees impl only */
    /* Optional (NULL: not offered): the next chunk straight into block rows, for a
     * plan of float columns only. Reads the rows next() would give; when none of
     * the wanted values (features want->cols[0..p), target and weight columns, -1
     * for none) is NaN, writes them into b (x, y, w, n_rows, first_row) and sets
     * *t_out = NULL; otherwise *t_out is the chunk as next() gives it (b's rows
     * unspecified), to go the usual way. SF_END at the end, as next(). */
    sf_status (*next_rows)(sf_source *src, const struct sfi_rows_want *want, sf_block *b,
                           const sf_table **t_out, sf_error *err);
} sf_source_ops;

/* The columns next_rows fills a block with. */
typedef struct sfi_rows_want {
    const size_t *cols;
    size_t p;
    long target, weight;
    size_t max_rows; /* at most this many rows a call (0: chunk_rows); divides chunk_rows */
} sfi_rows_want;

/* Rows [0, n) of the p columns v[0..p) (n native doubles each, at any byte
 * alignment) into row-major x (row stride ld), in cache-sized row tiles
 * (core/table.c); returns true when a value is NaN. */
SFI_FUNC bool sfi_gather_cols(const void *const *v, size_t p, size_t n, double *x, size_t ld);

struct sf_source {
    const sf_source_ops *ops;
    void *impl;
    char name[256];
    sf_source_options opt;
    size_t n_cols;
    char **names;          /* n_cols owned strings */
    sf_coltype *types;     /* n_cols */
    bool *is_integer;      /* n_cols */
    uint64_t bytes_read;   /* kept up to date by the kind */
    uint64_t size;         /* total bytes when known, else 0 */
    bool failed;           /* sticky: an error was returned by next() */
    size_t sparse_n_features; /* CSR features of every chunk (svmlight), or 0: dense */
    /* malformed rows (SF_ON_ERROR_SKIP): this source's own since its last rewind;
     * its segments' (slot = segment index), each reported when the segment closes;
     * a segment's parent and slot (SIZE_MAX: add to the parent's own) */
    sfi_bad_log bad;
    pthread_mutex_t bad_mu;
    sfi_bad_slot *bad_slots;
    size_t n_bad_slots;
    sf_source *bad_parent;
    size_t bad_slot;
};

/* Counts a malformed row skipped by src and keeps e if among the first few. */
SFI_FUNC void sfi_source_bad_row(sf_source *src, const sf_error *e);
/* Makes child (a reader of part of parent's data) report its malformed rows to
 * parent when it closes: into segment slot `slot`, or, with SIZE_MAX, added to
 * parent's own count (a file read in turn by a multi-file source). */
SFI_FUNC void sfi_source_bad_adopt(sf_source *parent, sf_source *child, size_t slot);

/* Allocates a source header with n_cols columns (names copied, types set to
 * SF_COL_FLOAT, is_integer false). Free with sfi_source_free_header(). */
SFI_FUNC sf_status sfi_source_alloc(sf_source **out, const sf_source_ops *ops,
                                    const char *name, const sf_source_options *opt,
                                    size_t n_cols, const char *const *names, sf_error *err);
SFI_FUNC void sfi_source_free_header(sf_source *src);

/* Applies opt->types ("a=category,b=float,c=int") to src's schema; unknown column
 * or type names are SF_ERR_ARG. */
SFI_FUNC sf_status sfi_source_apply_types(sf_source *src, sf_error *err);

/* Checks that s has like's columns (like: the first file of a multi-file
 * source): the same names in the same order and, when check_types, the same
 * types. Else SF_ERR_PARSE naming s's file and the first differing column. */
SFI_FUNC sf_status sfi_source_check_columns(const sf_source *like, const sf_source *s,
                                            bool check_types, sf_error *err);

/* Kind constructors. like: NULL, or a source whose columns (names, checked) and
 * types (enforced, not inferred) the CSV file must have: a later file of a
 * multi-file source. */
SFI_FUNC sf_status sfi_csv_open(sf_source **out, const char *path,
                                const sf_source_options *opt, const sf_source *like,
                                sf_error *err);
/* The byte range of a CSV segment, so it can be reopened without its parent. */
typedef struct sfi_csv_range {
    uint64_t start, end, line; /* bytes [start, end) of the text; first line */
    bool whole;                /* the file's only segment: rows numbered in it */
} sfi_csv_range;
SFI_FUNC bool sfi_source_is_csv(const sf_source *src);
/* Range of segment i of a CSV source (counts its segments first). */
SFI_FUNC sf_status sfi_csv_range_of(sf_source *src, size_t i, sfi_csv_range *out, sf_error *err);
/* All the rows of a CSV file src opened whole, as one range, without planning its
 * segments: from the data start (after the header) to the end (UINT64_MAX: a gzip
 * file, inflated to its end). */
SFI_FUNC void sfi_csv_data_range(const sf_source *src, sfi_csv_range *out);
/* Opens a range of the CSV file path with like's schema and options; its chunks
 * say they come from segment `segment`. */
SFI_FUNC sf_status sfi_csv_open_range(sf_source **out, const sf_source *like, const char *path,
                                      const sfi_csv_range *range, size_t segment, sf_error *err);
/* Several files (a glob pattern, expanded sorted) read in order as one source;
 * dataset: the HDF5 path inside each file, or NULL. */
SFI_FUNC sf_status sfi_multi_open(sf_source **out, const char *pattern, const char *dataset,
                                  const sf_source_options *opt, sf_error *err);
/* Opens one named file: CSV (plain or .gz), or HDF5 (dataset, or a .h5 name);
 * with like, its columns must match (see sfi_csv_open). */
SFI_FUNC sf_status sfi_source_open_file(sf_source **out, const char *file, const char *dataset,
                                        const sf_source_options *opt, const sf_source *like,
                                        sf_error *err);
/* svmlight / libsvm text (io/svmlight_source.c): a sparse source. */
SFI_FUNC bool sfi_is_svmlight_name(const char *path);
/* The distinct non-NaN labels of the whole file (all files of a multi-file
 * svmlight source), sorted, when a scan at open saw them all (borrowed: valid
 * while src is open); else false. */
SFI_FUNC bool sfi_source_known_labels(const sf_source *src, const double **labels, size_t *n);
SFI_FUNC sf_status sfi_svmlight_open(sf_source **out, const char *path, const sf_source_options *opt,
                                     sf_error *err);
/* Several svmlight files read as one source: n_features, the index base
 * (zero_based "auto") and the labels decided over all of them at open, as
 * sklearn's load_svmlight_files (one scan of each file's index tokens unless the
 * options give both n_features and zero_based). A missing file, an index over
 * n_features or over INT32_MAX fail here, naming the file (and line). */
typedef struct sfi_svm_set sfi_svm_set;
SFI_FUNC sf_status sfi_svmlight_set_open(sfi_svm_set **out, const char *const *paths, size_t n,
                                         const sf_source_options *opt, sf_error *err);
SFI_FUNC void sfi_svmlight_set_free(sfi_svm_set *set); /* NULL ok; after its readers are closed */
/* A reader of file i of set (named by the file; borrows set): it counts its
 * segments and lends them as a single file's source does. */
SFI_FUNC sf_status sfi_svmlight_open_member(sf_source **out, sfi_svm_set *set, size_t i,
                                            const sf_source_options *opt, sf_error *err);
/* Segment `local` of file `file` of set, once that file's member counted its
 * segments; its chunks say they come from segment `segment`. Reads only set. */
SFI_FUNC sf_status sfi_svmlight_open_part(sf_source **out, sfi_svm_set *set, size_t file, size_t local,
                                          size_t segment, const sf_source_options *opt, sf_error *err);
/* The svmlight set of a multi-file source (io/multi_source.c), or NULL. */
SFI_FUNC const sfi_svm_set *sfi_multi_svm_set(const sf_source *src);
/* An HDF5 source's spare buffer sets (left by its closed segments for the next
 * ones: io/hdf5_source.c, spares), 0 for other kinds; dropping them frees them. */
SFI_FUNC size_t sfi_hdf5_spare_sets(const sf_source *src);
SFI_FUNC void sfi_hdf5_drop_spares(sf_source *src);
SFI_FUNC sf_status sfi_hdf5_open(sf_source **out, const char *file, const char *dataset,
                                 const sf_source_options *opt, sf_error *err);

/* The source a filter (sf_source_filter) reads, or NULL when src is no filter:
 * malformed-row counts are the inner source's. */
SFI_FUNC const sf_source *sfi_filter_inner(const sf_source *src);

#endif
