/* spec.h — the parsed pipeline spec; internal.
 * "scaler(with_mean=false) | sgd_classifier(loss=log_loss, alpha=1e-4)" becomes a
 * list of stages, each a kind and its parameters, every token with its byte
 * column so errors can point at it. */
#ifndef SF_SPEC_H
#define SF_SPEC_H

#include "core/sf_internal.h"

typedef enum sfi_value_type {
    SFI_V_NULL, SFI_V_BOOL, SFI_V_NUMBER, SFI_V_STRING, SFI_V_LIST
} sfi_value_type;

typedef struct sfi_value {
    sfi_value_type type;
    bool b;
    double num;
    bool is_int;             /* number written without '.', exponent */
    char *str;               /* SFI_V_STRING: owned */
    struct sfi_value *items; /* SFI_V_LIST: owned */
    size_t n_items;
    size_t column;           /* 1-based byte column in the spec */
} sfi_value;

typedef struct sfi_param {
    char *key;
    size_t column;
    sfi_value value;
} sfi_param;

typedef struct sfi_spec_stage {
    char *kind;
    size_t column;
    sfi_param *params;
    size_t n_params;
} sfi_spec_stage;

typedef struct sfi_spec {
    sfi_spec_stage *stages;
    size_t n_stages;
} sfi_spec;

/* Parses text; errors are SF_ERR_ARG with where.source "<pipeline>" and the column. */
SFI_FUNC sf_status sfi_spec_parse(const char *text, sfi_spec *out, sf_error *err);
SFI_FUNC void sfi_spec_free(sfi_spec *s);
SFI_FUNC void sfi_value_free(sfi_value *v);

/* Fills err for a bad parameter value: "<what> at column". */
SFI_FUNC sf_status sfi_spec_fail(sf_error *err, size_t column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Typed getters used by stage kinds; each returns SF_ERR_ARG (pointing at the
 * value) when the type is wrong. */
SFI_FUNC sf_status sfi_param_bool(const sfi_param *p, bool *out, sf_error *err);
SFI_FUNC sf_status sfi_param_number(const sfi_param *p, double *out, sf_error *err);

#endif
