/* sf_core.h — status codes, the caller-owned error record, version.
 *
 * Every fallible streamfit call returns an sf_status and, when it fails, fills the
 * sf_error the caller passed (NULL is allowed). The record holds no pointers, needs
 * no per-thread state, and survives the object that filled it. The library never
 * prints, exits or aborts.
 */
#ifndef SF_CORE_H
#define SF_CORE_H

#include <stddef.h>
#include <stdint.h>

#if defined(SF_BUILDING)
#define SF_API __attribute__((visibility("default")))
#else
#define SF_API
#endif

#define SF_VERSION_MAJOR 0
#define SF_VERSION_MINOR 1
#define SF_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. ABI: values are pinned; new codes are only appended. */
typedef enum sf_status {
    SF_OK = 0,
    SF_END = 1,              /**< a source is exhausted; not an error */
    SF_ERR_NOMEM = 16,       /**< an allocation failed */
    SF_ERR_IO = 17,          /**< a file could not be opened, read or written */
    SF_ERR_PARSE = 18,       /**< malformed input text or file contents */
    SF_ERR_SHAPE = 19,       /**< sizes do not agree */
    SF_ERR_ARG = 20,         /**< a bad argument or parameter */
    SF_ERR_STATE = 21,       /**< a call out of order (e.g. predict before fit) */
    SF_ERR_NUMERIC = 22,     /**< a numerical failure (singular system, overflow) */
    SF_ERR_UNSUPPORTED = 23, /**< valid but not supported (e.g. an HDF5 type) */
    SF_ERR_INTERNAL = 24     /**< a bug in streamfit */
} sf_status;

/** True when st is an error (not SF_OK nor SF_END). */
#define SF_IS_ERROR(st) ((st) >= SF_ERR_NOMEM)

/** Where an error happened. 0 means unknown; all counts are 1-based. */
typedef struct sf_where {
    char source[256];   /**< "data.csv", "<stdin>", "x.h5:/X"; copied, truncated */
    uint64_t line;      /**< physical line (text sources) */
    uint64_t column;    /**< byte column within the line (text sources) */
    uint64_t row;       /**< data record, header excluded */
    uint64_t field;     /**< 1-based field / column index */
} sf_where;

/** The error record: owned by the caller, filled by the library on failure. */
typedef struct sf_error {
    sf_status status;
    sf_where where;
    char field_name[128]; /**< name of the column concerned, or "" */
    char message[512];    /**< lowercase, no location: "expected a number, got \"n/a\"" */
} sf_error;

/** Returns a static description of a status; never NULL. */
SF_API const char *sf_strerror(sf_status st);

/** Clears an error record (status SF_OK, empty strings). err may be NULL. */
SF_API void sf_error_clear(sf_error *err);

/** Formats err as "source:line:column: error: message (row R, field F "name")",
 *  omitting unknown parts, into buf (always NUL-terminated when n > 0).
 *  Returns the length the full text needs, like snprintf. */
SF_API size_t sf_error_format(const sf_error *err, char *buf, size_t n);

/** Returns the library version as "MAJOR.MINOR.PATCH"; a static string. */
SF_API const char *sf_version(void);

/** Prepares the numerical back ends once per process: replaces GSL's default
 *  abort-on-error handler (only if no handler was installed by the host) so GSL
 *  returns codes instead. Called by every constructor that uses GSL; idempotent. */
SF_API void sf_library_init(void);

#ifdef __cplusplus
}
#endif
#endif
