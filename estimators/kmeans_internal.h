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
 * made while the step reads them, and in *measured the batch's inertia at the
 * centers after the step (what compute_labels sets inertia_ to). The stage
 * either keeps the batch or measures it (see km_stage). */
SFI_FUNC sf_status sfi_kmeans_partial_fit_keep(sf_kmeans *km, const double *x, size_t n, size_t p, size_t ld,
                                               const double *w, double *keep_x, double *keep_w, double *measured,
                                               sf_error *err);

/* Sets inertia_ (a refinement's final measuring pass). */
SFI_FUNC void sfi_kmeans_set_inertia(sf_kmeans *km, double inertia);

#endif
