/* sf_number.h — exact, locale-independent text <-> double conversion.
 *
 * sf_parse_double gives the correctly rounded double (round-half-to-even), the
 * value strtod gives in the C locale, with a fast exact path for ordinary decimal
 * text and an exact fallback for the rest. sf_format_double prints the shortest of
 * the "%.15g", "%.16g" and "%.17g" texts that reads back to the same double.
 */
#ifndef SF_NUMBER_H
#define SF_NUMBER_H

#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What sf_parse_double found. */
typedef enum sf_numkind {
    SF_NUM_NONE = 0,  /**< not a number; *out is untouched */
    SF_NUM_FLOAT = 1, /**< a number with a '.', an exponent, or inf/nan */
    SF_NUM_INT = 2    /**< an optional sign and decimal digits only */
} sf_numkind;

/** Parses the whole of s[0..len) (not NUL-terminated) as a number:
 *  [+-]digits[.digits][(e|E)[+-]digits], ".5", "5.", and case-insensitive
 *  "inf", "infinity", "nan" with an optional sign. Leading or trailing spaces,
 *  hex floats and an empty string are not numbers. Overflow gives ±inf and
 *  underflow ±0 or a subnormal, as strtod. Thread-safe; ignores the locale. */
SF_API sf_numkind sf_parse_double(const char *s, size_t len, double *out);

/** Writes the first of the "%.15g", "%.16g", "%.17g" texts (C locale; the
 *  shortest of them for 1e15 <= |v| < 1e17) that parses back to exactly v ("0.1",
 *  "1e+300", "-0", "inf", "-inf", "nan", "4.94065645841247e-324") into buf,
 *  NUL-terminated.
 *  n must be at least 32. Returns the length written (without the NUL). */
SF_API size_t sf_format_double(double v, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
