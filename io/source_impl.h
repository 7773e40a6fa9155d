/* source_impl.h — what every source kind implements; not installed.
 *
 * sf_source is a header (schema, options, name) plus a kind-specific state behind
 * `impl`, dispatched through sf_source_ops (as GSL multilarge and dav1d's
 * demuxers do). The public functions in io/source.c check arguments once and
 * dispatch.
 */
#ifndef SF_SOURCE_IMPL_H
#define SF_SOURCE_IMPL_H

#include "streamfit/sf_source.h"
#include "core/sf_internal.h"

typedef struct sf_source_ops {
    const char *kind;                               /* "csv", "hdf5" */
    sf_status (*next)(sf_source *src, const sf_table **out, sf_error *err);
    sf_status (*rewind)(sf_source *src, sf_error *err);
    sf_status (*n_segments)(sf_source *src, size_t *n_out, sf_error *err);
    sf_status (*open_segment)(sf_source *src, size_t i, sf_source **out, sf_error *err);
    void (*close)(void *impl);                      /* frees impl only */
} sf_source_ops;

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
};

/* Allocates a source header with n_cols columns (names copied, types set to
 * SF_COL_FLOAT, is_integer false). Free with sfi_source_free_header(). */
SFI_FUNC sf_status sfi_source_alloc(sf_source **out, const sf_source_ops *ops,
                                    const char *name, const sf_source_options *opt,
                                    size_t n_cols, const char *const *names, sf_error *err);
SFI_FUNC void sfi_source_free_header(sf_source *src);

/* Applies opt->types ("a=category,b=float,c=int") to src's schema; unknown column
 * or type names are SF_ERR_ARG. */
SFI_FUNC sf_status sfi_source_apply_types(sf_source *src, sf_error *err);

/* Kind constructors. */
SFI_FUNC sf_status sfi_csv_open(sf_source **out, const char *path,
                                const sf_source_options *opt, sf_error *err);
SFI_FUNC sf_status sfi_hdf5_open(sf_source **out, const char *file, const char *dataset,
                                 const sf_source_options *opt, sf_error *err);

#endif
