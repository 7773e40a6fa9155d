/* fuzz_formula.c — libFuzzer target for the formula parser and design builder:
 * any bytes must give a design or a clean SF_ERR_ARG pointing inside the formula
 * (column 1 .. length + 1), never a crash, a hang or a leak. Formulas that parse
 * are bound to a small table (numeric a, b, c, integer k, text g), fitted, finished
 * and built, and a fitted design's clone merged back. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "streamfit/streamfit.h"

static sf_table *table(sf_dict **dict)
{
    static const char *const names[] = {"a", "b", "c", "k", "g"};
    sf_coltype types[5] = {SF_COL_FLOAT, SF_COL_FLOAT, SF_COL_FLOAT, SF_COL_FLOAT, SF_COL_CATEGORY};
    sf_table *t = NULL;
    if (sf_dict_new(dict, 0, NULL) != SF_OK) return NULL;
    sf_dict *dicts[5] = {NULL, NULL, NULL, NULL, *dict};
    if (sf_table_new(&t, 5, types, names, dicts, 6, NULL) != SF_OK) return NULL;
    static const char *const labels[] = {"x", "y", "x", "z", "y", "x"};
    t->n_rows = 6;
    t->first_row = 1;
    t->cols[3].is_integer = true;
    for (size_t i = 0; i < 6; i++) {
        t->cols[0].values[i] = (double)i - 2.5;
        t->cols[1].values[i] = i == 3 ? NAN : (double)(i * i) / 7.0;
        t->cols[2].values[i] = 1.0 + (double)i;
        t->cols[3].values[i] = (double)(i % 3);
        for (size_t j = 0; j < 4; j++) t->cols[j].missing[i] = j == 1 && i == 3;
        sf_dict_intern(*dict, labels[i], 1, &t->cols[4].codes[i], NULL);
        t->cols[4].missing[i] = 0;
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sf_design *d = NULL;
    sf_error err;
    sf_status st = sf_design_new(&d, text, NULL, &err);
    if (st != SF_OK) {
        if (st == SF_ERR_ARG && (err.where.column < 1 || err.where.column > strlen(text) + 1)) abort();
        free(text);
        return 0;
    }
    sf_design_define(d, "lv", "[0, 1, 2]", &err);
    sf_dict *dict = NULL;
    sf_table *t = table(&dict);
    if (t && sf_design_bind_table(d, t, &err) == SF_OK) {
        sf_design *part = NULL;
        if (sf_design_clone_empty(d, &part, &err) == SF_OK && sf_design_partial_fit(part, t, &err) == SF_OK)
            sf_design_merge(d, part, &err);
        sf_design_free(part);
        sf_design_partial_fit(d, t, &err);
        if (sf_design_finish(d, &err) == SF_OK) {
            size_t p = sf_design_n_columns(d), n = 0;
            double *x = malloc((p ? p : 1) * 6 * sizeof *x), y[6];
            uint64_t dropped = 0;
            if (x && sf_design_build(d, t, x, p ? p : 1, y, &n, &dropped, &err) == SF_OK && n + dropped != 6) abort();
            free(x);
        }
    }
    sf_table_free(t);
    sf_dict_free(dict);
    sf_design_free(d);
    free(text);
    return 0;
}
