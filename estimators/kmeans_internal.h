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

/* Sets inertia_ (a refinement's final measuring pass). */
SFI_FUNC void sfi_kmeans_set_inertia(sf_kmeans *km, double inertia);

#endif
