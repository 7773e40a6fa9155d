/* linreg_summary.c — the regression table (placeholder). */
#include <stdlib.h>
#include "estimators/linreg_impl.h"

sf_status sf_linreg_summary(const sf_linreg *s, const char *const *names, size_t n_names,
                            const char *yname, char **out, sf_error *err)
{
    (void)s; (void)names; (void)n_names; (void)yname; (void)out;
    return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "summary: not yet");
}
