/* streamfit.h — the whole public API of libstreamfit.
 *
 * Embedders: the library never changes process-wide hooks except GSL's *default*
 * error handler (sf_library_init); HDF5's automatic error printing is yours to
 * turn off (H5Eset_auto2(H5E_DEFAULT, NULL, NULL)) if you call HDF5 yourself.
 */
#ifndef STREAMFIT_H
#define STREAMFIT_H

#include "sf_core.h"
#include "sf_kmeans.h"
#include "sf_linreg.h"
#include "sf_design.h"
#include "sf_number.h"
#include "sf_pipeline.h"
#include "sf_pool.h"
#include "sf_sink.h"
#include "sf_source.h"
#include "sf_scaler.h"
#include "sf_sgd.h"
#include "sf_table.h"

#endif
