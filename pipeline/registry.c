/* registry.c — every stage kind the pipeline knows, searched by name or alias. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/stage.h"

/* One line per kind. */
static const sfi_stage_ops *const registry[] = {
    &sfi_scaler_stage,
    &sfi_kmeans_stage,
    &sfi_sgd_classifier_stage,
    &sfi_sgd_regressor_stage,
    &sfi_perceptron_stage,
    &sfi_passive_aggressive_classifier_stage,
    &sfi_passive_aggressive_regressor_stage,
    &sfi_linreg_stage,
    NULL,
};

const sfi_stage_ops *sfi_stage_find(const char *kind)
{
    for (size_t i = 0; registry[i]; i++)
        if (strcmp(registry[i]->kind, kind) == 0 ||
            (registry[i]->alias && strcmp(registry[i]->alias, kind) == 0))
            return registry[i];
    return NULL;
}

static char kind_list[512];

static void build_list(void)
{
    size_t n = 0;
    for (size_t i = 0; registry[i] && n < sizeof kind_list; i++) {
        const char *a = registry[i]->alias;
        int k = snprintf(kind_list + n, sizeof kind_list - n, "%s%s%s%s%s", i ? ", " : "",
                         registry[i]->kind, a ? " (" : "", a ? a : "", a ? ")" : "");
        if (k < 0) break;
        n += (size_t)k;
    }
}

const char *sfi_stage_list(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_list);
    return kind_list;
}
