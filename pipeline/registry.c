/* registry.c — every stage kind the pipeline knows, searched by name or alias. */
#include <string.h>

#include "pipeline/stage.h"

static const sfi_stage_ops *const registry[] = {&sfi_scaler_stage, NULL};

const sfi_stage_ops *sfi_stage_find(const char *kind)
{
    for (size_t i = 0; registry[i]; i++)
        if (strcmp(registry[i]->kind, kind) == 0 ||
            (registry[i]->alias && strcmp(registry[i]->alias, kind) == 0))
            return registry[i];
    return NULL;
}

const char *sfi_stage_list(void) { return "standard_scaler (scaler)"; }
