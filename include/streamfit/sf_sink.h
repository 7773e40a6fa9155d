/* sf_sink.h — writing tables and matrices: HDF5 (extendable, chunked, deflated
 * datasets, as PyTables' EArray) and CSV (shortest round-trip doubles).
 *
 * A sink writes to a temporary file beside the target and renames it over the
 * target only on a successful sf_sink_close(), so a failed or abandoned write
 * never leaves a half-written file and never destroys an existing one.
 */
#ifndef SF_SINK_H
#define SF_SINK_H

#include "sf_table.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options for a sink. Initialise with sf_sink_options_init(). */
typedef struct sf_sink_options {
    int compression;        /**< HDF5 deflate level 0-9; default 1 (as seed 000) */
    size_t chunk_rows;      /**< HDF5 dataset chunk size in rows; default 16384 */
    char delimiter;         /**< CSV delimiter; default ',' */
    size_t threads;         /**< HDF5: threads that deflate and write chunks; 0 (default) = one per CPU */
    uint8_t reserved[24];
} sf_sink_options;

/** Fills o with the defaults above. */
SF_API void sf_sink_options_init(sf_sink_options *o);

typedef struct sf_sink sf_sink;

/** Opens a sink for path: "out.csv" (or "-": standard output) writes CSV;
 *  "out.h5" or "out.h5:/group" writes HDF5. The table layout is set by the first
 *  sf_sink_write_table(); sf_sink_write_matrix() writes named 2-D/1-D datasets.
 *  opt may be NULL. Caller finishes with sf_sink_close() or sf_sink_abort(). */
SF_API sf_status sf_sink_open(sf_sink **out, const char *path, const sf_sink_options *opt,
                              sf_error *err);

/** Appends the rows of t. CSV: a header from t->names on the first call, then one
 *  line per row (missing as empty fields, category labels as text, quoted when
 *  needed). HDF5: a group holding one 1-D dataset per column (float64, or a
 *  variable-length UTF-8 string dataset for category columns), readable with
 *  h5py and reconstructed by `pd.DataFrame({k: f[g][k][:] ...})` in column order
 *  given by the group's "columns" attribute. Every call must have the same columns. */
SF_API sf_status sf_sink_write_table(sf_sink *s, const sf_table *t, sf_error *err);

/** Appends n rows of a row-major n x p matrix (row stride ld) to the HDF5 dataset
 *  called name (p = 0 means a 1-D dataset; x then holds n values), creating it
 *  extendable on first use. col_names (p names, or NULL) is stored as the
 *  dataset's "columns" attribute. CSV sinks write the rows as lines. */
SF_API sf_status sf_sink_write_matrix(sf_sink *s, const char *name, const double *x,
                                      size_t n, size_t p, size_t ld,
                                      const char *const *col_names, sf_error *err);

/** Pushes the rows written so far to the operating system (CSV: fflush, so a
 *  reader of standard output sees every row at once); HDF5: nothing (the file
 *  appears whole at sf_sink_close). SF_ERR_IO if the write fails. */
SF_API sf_status sf_sink_flush(sf_sink *s, sf_error *err);

/** Flushes, closes and renames the file into place; frees s (also on error, in
 *  which case the target is left as it was). */
SF_API sf_status sf_sink_close(sf_sink *s, sf_error *err);

/** Abandons the output: removes the temporary file, frees s. NULL is a no-op. */
SF_API void sf_sink_abort(sf_sink *s);

#ifdef __cplusplus
}
#endif
#endif
