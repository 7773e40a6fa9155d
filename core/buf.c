/* buf.c — a growing text buffer for JSON output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sf_internal.h"
#include "streamfit/sf_number.h"

static bool reserve(sfi_buf *b, size_t extra)
{
    if (b->failed) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void sfi_buf_printf(sfi_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sfi_buf_json_string(sfi_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n * 6 + 2)) return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->data);
}

void sfi_buf_json_number(sfi_buf *b, double v)
{
    if (isnan(v)) sfi_buf_printf(b, "null");
    else if (isinf(v)) sfi_buf_printf(b, v > 0 ? "\"inf\"" : "\"-inf\"");
    else {
        char t[40];
        sf_format_double(v, t, sizeof t);
        sfi_buf_printf(b, "%s", t);
    }
}

void sfi_buf_json_array(sfi_buf *b, const double *v, size_t n)
{
    sfi_buf_printf(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) sfi_buf_printf(b, ", ");
        sfi_buf_json_number(b, v[i]);
    }
    sfi_buf_printf(b, "]");
}
