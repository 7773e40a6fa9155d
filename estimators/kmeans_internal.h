/* kmeans_internal.h — k-means helpers for tests and the stage adapter; internal. */
#ifndef SF_KMEANS_INTERNAL_H
#define SF_KMEANS_INTERNAL_H

#include "core/sf_internal.h"
#include "streamfit/sf_kmeans.h"

/* The centers (k x p) the first partial_fit on this batch would start from, drawn
 * from a copy of km's random state; km is not changed. */
SFI_FUNC sf_status sfi_kmeans_initial_centers(const sf_kmeans *km, const double *x, size_t n, size_t p,
                                              size_t ld, double *centers, sf_error *err);

/* The input checks of sf_kmeans_partial_fit (shape, finite values, weights). */
SFI_FUNC sf_status sfi_kmeans_check_rows(const sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                         const double *w, sf_error *err);

/* sf_kmeans_partial_fit on rows that passed sfi_kmeans_check_rows (the stage
 * checks a block once, then steps on its batches). */
SFI_FUNC sf_status sfi_kmeans_partial_fit_checked(sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                                  const double *w, sf_error *err);

/* sfi_kmeans_partial_fit_checked that also leaves, when not NULL, a packed copy
 * of the n rows (n x p) in keep_x and their weights (1 without w) in keep_w,
 * made while the step reads them: the stage measures the last batch's inertia
 * from it at the end of the pass (see km_stage). */
SFI_FUNC sf_status sfi_kmeans_partial_fit_keep(sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                               const double *w, double *keep_x, double *keep_w, sf_error *err);

/* A step whose rows come in parts (the stage feeds each block as it comes, while
 * it is in cache), on a fitted model: bitwise the step sfi_kmeans_partial_fit_keep
 * takes on the whole batch. acc (sfi_kmeans_acc_size doubles, the caller's)
 * carries the batch's sums between the calls. batch_feed labels n rows and adds
 * them up (open: the batch's first part, which starts the sums), copying them
 * into keep_x, keep_w when not NULL; batch_close ends the step on the whole
 * batch (its n rows and weights: the reassignment draws rows of it; w NULL = 1).
 * The rows must have passed sfi_kmeans_check_rows. */
SFI_FUNC size_t sfi_kmeans_acc_size(const sf_kmeans *km);
SFI_FUNC sf_status sfi_kmeans_batch_feed(sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                         const double *w, double *acc, bool open, double *keep_x, double *keep_w,
                                         sf_error *err);
SFI_FUNC sf_status sfi_kmeans_batch_close(sf_kmeans *km, const double *acc, const double *x, size_t n, size_t p,
                                          size_t ld, const double *w, sf_error *err);

/* Sets inertia_ (a refinement's final measuring pass). */
SFI_FUNC void sfi_kmeans_set_inertia(sf_kmeans *km, double inertia);

#endif
