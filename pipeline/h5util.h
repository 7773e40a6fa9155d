/* h5util.h — small HDF5 helpers for model files; internal.
 * Every function wraps its HDF5 calls in H5E_BEGIN_TRY so nothing is printed, and
 * reports failures through sf_error naming the file and object. */
#ifndef SF_H5UTIL_H
#define SF_H5UTIL_H

#include <hdf5.h>

#include "core/sf_internal.h"

typedef struct sfi_h5ctx {
    const char *file;   /* for messages */
    sf_error *err;
} sfi_h5ctx;

SFI_FUNC sf_status sfi_h5_attr_write_str(const sfi_h5ctx *c, hid_t obj, const char *name, const char *v);
SFI_FUNC sf_status sfi_h5_attr_write_i64(const sfi_h5ctx *c, hid_t obj, const char *name, int64_t v);
/* Reads a string attribute into a new string (caller frees). */
SFI_FUNC sf_status sfi_h5_attr_read_str(const sfi_h5ctx *c, hid_t obj, const char *name, char **out);
/* A float64 scalar attribute (read: any float type). */
SFI_FUNC sf_status sfi_h5_attr_write_f64(const sfi_h5ctx *c, hid_t obj, const char *name, double v);
SFI_FUNC sf_status sfi_h5_attr_read_f64(const sfi_h5ctx *c, hid_t obj, const char *name, double *out);
SFI_FUNC sf_status sfi_h5_attr_read_i64(const sfi_h5ctx *c, hid_t obj, const char *name, int64_t *out);
/* A 1-D float64 dataset, chunked, with the fletcher32 checksum (Decision 17). */
SFI_FUNC sf_status sfi_h5_write_vec(const sfi_h5ctx *c, hid_t loc, const char *name, const double *v, size_t n);
/* Reads a 1-D numeric dataset of exactly n values (n = 0: any length, *n_out set). */
SFI_FUNC sf_status sfi_h5_read_vec(const sfi_h5ctx *c, hid_t loc, const char *name, size_t n,
                                   double **out, size_t *n_out);
/* A 1-D dataset of variable-length UTF-8 strings. */
SFI_FUNC sf_status sfi_h5_write_strings(const sfi_h5ctx *c, hid_t loc, const char *name,
                                        const char *const *v, size_t n);
SFI_FUNC sf_status sfi_h5_read_strings(const sfi_h5ctx *c, hid_t loc, const char *name,
                                       char ***out, size_t *n_out);

#endif
