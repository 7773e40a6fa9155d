/* design_io.h — a design in model files and JSON exports; internal. */
#ifndef SF_DESIGN_IO_H
#define SF_DESIGN_IO_H

#include <hdf5.h>

#include "core/sf_internal.h"
#include "pipeline/h5util.h"
#include "streamfit/sf_design.h"

/* Writes a bound design (finished, or a partial state) into group g: attributes
 * formula, na_action, unknown_level, max_levels, finished, response; datasets
 * define_names/define_values, bound_columns/bound_flags, column_names (when
 * finished), levels_<i>, transform_<s>. */
SFI_FUNC sf_status sfi_design_save(const sf_design *d, hid_t g, const sfi_h5ctx *c);

/* Rebuilds a design from a group written by sfi_design_save: bound to the saved
 * column names and types, and finished if it was. Anything inconsistent is
 * SF_ERR_PARSE "corrupt model file: design ...". Caller frees with sf_design_free. */
SFI_FUNC sf_status sfi_design_load(sf_design **out, hid_t g, const sfi_h5ctx *c);

/* Appends "\"params\": {formula, na_action, unknown_level, max_levels, defines},
 * \"columns\": [...], \"response\": ..., \"intercept\": ..., \"factors\": [...],
 * \"transforms\": [...]" (no braces) to b. */
SFI_FUNC void sfi_design_to_json(const sf_design *d, sfi_buf *b);

#endif
