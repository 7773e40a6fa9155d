/* hdf5_mdc.c — a file-access property list with a small fixed metadata cache (see
 * hdf5_mdc.h for why). */
#include <string.h>

#include "io/hdf5_mdc.h"

hid_t sfi_h5_fapl_new(void)
{
    return sfi_h5_fapl_sized(SFI_H5_MDC_BYTES);
}

hid_t sfi_h5_fapl_sized(size_t bytes)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    H5AC_cache_config_t cc;
    memset(&cc, 0, sizeof cc);
    cc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    if (H5Pget_mdc_config(fapl, &cc) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    /* a fixed size: no growth on a low hit rate (incr_mode), none when a large
     * entry comes in (flash_incr_mode), no shrinking either (decr_mode) */
    cc.set_initial_size = 1;
    if (bytes < 1024) bytes = 1024; /* H5C__MIN_MAX_CACHE_SIZE (H5Cprivate.h) */
    cc.initial_size = cc.min_size = cc.max_size = bytes;
    cc.incr_mode = H5C_incr__off;
    cc.flash_incr_mode = H5C_flash_incr__off;
    cc.decr_mode = H5C_decr__off;
    if (H5Pset_mdc_config(fapl, &cc) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}
