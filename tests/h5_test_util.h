/* h5_test_util.h — helpers the HDF5 source tests share: a fresh file name, a
 * source over a file's root group, a column's index, and a fit's JSON export
 * with the direct chunk path on or off. Include after sf_test.h,
 * io/source_impl.h and streamfit/streamfit.h. */
#ifndef H5_TEST_UTIL_H
#define H5_TEST_UTIL_H

#include <unistd.h>

/* "/tmp/<stem>XXXXXX.h5" made unique by mkstemp (no file left there). Caller frees. */
static inline char *h5t_tmp_path(const char *stem)
{
    char base[128];
    snprintf(base, sizeof base, "/tmp/%sXXXXXX", stem);
    int fd = mkstemp(base);
    assert_true(fd >= 0);
    close(fd);
    unlink(base);
    char *q = malloc(strlen(base) + 4);
    assert_non_null(q);
    sprintf(q, "%s.h5", base);
    return q;
}

/* The group of 1-D datasets at the root of path as a source. */
static inline sf_source *h5t_open(const char *path, size_t chunk_rows, uint64_t segment_rows)
{
    sf_source_options o;
    sf_source_options_init(&o);
    o.chunk_rows = chunk_rows;
    o.segment_rows = segment_rows;
    char spec[1100];
    snprintf(spec, sizeof spec, "%s:/", path);
    sf_source *src = NULL;
    sf_error err;
    if (sf_source_open(&src, spec, &o, &err) != SF_OK) fail_msg("%s", err.message);
    return src;
}

static inline size_t h5t_col_of(const sf_source *src, const char *name)
{
    for (size_t j = 0; j < src->n_cols; j++)
        if (strcmp(src->names[j], name) == 0) return j;
    fail_msg("no column %s", name);
    return 0;
}

/* The JSON export of spec fitted on path's columns (target "y"), with the direct
 * chunk path on or off (SF_HDF5_DIRECT=0: H5Dread). */
static inline char *h5t_fit_json(const char *path, const char *spec, const char *columns, size_t threads,
                                 bool direct, size_t chunk_rows, uint64_t segment_rows)
{
    if (!direct) setenv("SF_HDF5_DIRECT", "0", 1);
    sf_source *src = h5t_open(path, chunk_rows, segment_rows);
    sf_pipeline *pl = NULL;
    sf_error err;
    assert_int_equal(sf_pipeline_new(&pl, spec, &err), SF_OK);
    sf_fit_options fo;
    sf_fit_options_init(&fo);
    fo.threads = threads;
    fo.target = "y";
    fo.columns = columns;
    if (sf_pipeline_fit(pl, src, &fo, &err) != SF_OK) fail_msg("%s", err.message);
    char *json = NULL;
    assert_int_equal(sf_pipeline_to_json(pl, &json, &err), SF_OK);
    sf_pipeline_free(pl);
    sf_source_close(src);
    unsetenv("SF_HDF5_DIRECT");
    return json;
}

#endif
