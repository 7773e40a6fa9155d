/* sink_impl.h — what every sink kind implements; not installed.
 * io/sink.c owns the temporary-file-then-rename protocol: a kind writes to
 * `tmp_path` and io/sink.c renames it over `path` on a successful close.
 */
#ifndef SF_SINK_IMPL_H
#define SF_SINK_IMPL_H

#include "streamfit/sf_sink.h"
#include "core/sf_internal.h"

typedef struct sf_sink_ops {
    const char *kind;                                  /* "csv", "hdf5" */
    sf_status (*write_table)(void *impl, const sf_table *t, sf_error *err);
    sf_status (*write_matrix)(void *impl, const char *name, const double *x, size_t n,
                              size_t p, size_t ld, const char *const *col_names,
                              sf_error *err);
    sf_status (*finish)(void *impl, sf_error *err);    /* flush and close the file */
    void (*discard)(void *impl);                       /* close without flushing; free */
    sf_status (*flush)(void *impl, sf_error *err);     /* push rows to the OS, or NULL */
} sf_sink_ops;

/* HDF5 kind: creates tmp_path and writes under group (NULL or "/" = root).
 * display is the name used in error messages. */
SFI_FUNC sf_status sfi_hdf5_sink_open(void **impl_out, const char *tmp_path,
                                      const char *group, const char *display,
                                      const sf_sink_options *opt, sf_error *err);
SFI_FUNC extern const sf_sink_ops sfi_hdf5_sink_ops;

#endif
