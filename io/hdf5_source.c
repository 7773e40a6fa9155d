/* hdf5_source.c — HDF5 datasets and groups as table chunks (source kind "hdf5").
 *
 * DATA may name
 *   - a 2-D numeric dataset: columns from its "columns" string attribute, else x0, x1, …;
 *   - a 1-D dataset: one column named after the dataset's basename;
 *   - a group of equal-length 1-D datasets (what io/hdf5_sink.c writes), in the order of
 *     the group's "columns" attribute, else link creation order when tracked, else by name;
 *   - a compound table as PyTables writes it, or the group pandas' to_hdf(format="table")
 *     writes around it (column names from pandas' pickled attributes);
 * and opt->target adds a 1-D dataset of the same length as one more, last, column.
 *
 * Every column comes from one "part" (an open dataset) and one "field" of that part's
 * in-memory row: the whole row of a matrix, the element of a 1-D dataset, or one member
 * of a compound. next() reads one hyperslab of at most chunk_rows rows per part, never
 * a whole dataset, and scatters the fields into the chunk's columns. A numeric dataset
 * in deflate/shuffle/unfiltered chunks is read chunk by chunk instead, with the
 * inflating done outside HDF5's global lock ("direct chunk reads" below).
 *
 * Every HDF5 call runs inside H5E_BEGIN_TRY (in the public entry points), so HDF5
 * prints nothing and the process-wide handler is restored on return; the most specific
 * message on HDF5's error stack goes into the sf_error instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/deflate.h"
#include "io/hdf5_index.h"
#include "io/hdf5_mdc.h"
#include "io/number_impl.h"
#include "io/source_impl.h"
#include "streamfit/sf_number.h"

/* ---------------------------------------------------------------- small helpers */

static herr_t first_error_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc && *e->desc) sfi_strlcpy(buf, e->desc, 200);
    return 0;
}

/* The most specific message on the calling thread's HDF5 error stack (walked upward,
 * from the function that detected the error towards the API). Call inside the TRY. */
static void h5_message(char buf[200])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error_cb, buf);
    if (!buf[0]) sfi_strlcpy(buf, "unreadable HDF5 object", 200);
}

static sf_status fail_corrupt(sf_error *err, const sf_where *w, const char *what)
{
    char msg[200];
    h5_message(msg);
    return sfi_fail(err, SF_ERR_PARSE, w, "corrupt HDF5 file: %s: %s", what, msg);
}

static void close_id(hid_t *id)
{
    if (*id >= 0) H5Idec_ref(*id);
    *id = -1;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

static const char *basename_of(const char *path)
{
    const char *end = path + strlen(path);
    while (end > path && end[-1] == '/') end--;
    const char *b = end;
    while (b > path && b[-1] != '/') b--;
    return b;
}

/* HDF5 link names cannot hold '/' and "." names the group itself, so io/hdf5_sink.c
 * stores column "a/b" as link "a%2Fb"; the "columns" attribute keeps the true name.
 * Mirrored by link_name() in io/hdf5_sink.c. */
static char *link_name(const char *name)
{
    if (!*name) return strdup("%00");
    if (strcmp(name, ".") == 0) return strdup("%2E");
    size_t n = 0;
    for (const char *p = name; *p; p++) n += *p == '/' ? 3 : 1;
    char *out = malloc(n + 1), *q = out;
    if (!out) return NULL;
    for (const char *p = name; *p; p++) {
        if (*p == '/') {
            memcpy(q, "%2F", 3);
            q += 3;
        } else
            *q++ = *p;
    }
    *q = '\0';
    return out;
}

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Takes ownership of s (even on failure). */
static bool strlist_push(strlist *l, char *s)
{
    if (!s) return false;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return false;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return true;
}

static void append_utf8(char **q, unsigned long cp)
{
    unsigned char *o = (unsigned char *)*q;
    if (cp < 0x80) *o++ = (unsigned char)cp;
    else if (cp < 0x800) {
        *o++ = (unsigned char)(0xC0 | (cp >> 6));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xE0 | (cp >> 12));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | (cp >> 18));
        *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *q = (char *)o;
}

/* ------------------------------------------------- the pickle subset pandas needs
 *
 * PyTables stores an attribute that is not a NumPy value as a pickle, protocol 0
 * (tables/hdf5extension.pyx, AttributeSet._g_setattr), and pandas keeps its column
 * names only there: the table's "<field>_kind" (pandas/io/pytables.py,
 * DataCol.set_attr) and the group's "non_index_axes" (Table.set_attrs), e.g.
 *   (lp0\nVa\np1\naVc\np2\na.             == ['a', 'c']
 *   (lp0\n(I1\n(lp1\nVa\np2\na…atp6\na.   == [(1, ['a', …])]
 * This is a tiny stack machine for lists and tuples of str, int and None, in
 * protocols 0 to 4; anything else (dicts, floats) parses to an opaque value. A parse
 * failure only means the caller falls back to field-based names. */

enum { PK_MARK, PK_NONE, PK_INT, PK_STR, PK_LIST, PK_TUPLE, PK_OTHER };

typedef struct pk_val {
    int type;
    long long i;
    char *s;
    struct pk_val **items;
    size_t n, cap;
} pk_val;

typedef struct pk_vm {
    pk_val **all; /* every node, for freeing */
    size_t n_all, cap_all;
    pk_val **stack;
    size_t sp, cap_stack;
    pk_val **memo;
    size_t n_memo;
} pk_vm;

#define PK_MAX_MEMO 65536

static pk_val *pk_new(pk_vm *vm, int type)
{
    if (vm->n_all == vm->cap_all) {
        size_t cap = vm->cap_all ? 2 * vm->cap_all : 32;
        pk_val **a = realloc(vm->all, cap * sizeof *a);
        if (!a) return NULL;
        vm->all = a;
        vm->cap_all = cap;
    }
    pk_val *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->type = type;
    vm->all[vm->n_all++] = v;
    return v;
}

static bool pk_push(pk_vm *vm, pk_val *v)
{
    if (!v) return false;
    if (vm->sp == vm->cap_stack) {
        size_t cap = vm->cap_stack ? 2 * vm->cap_stack : 32;
        pk_val **s = realloc(vm->stack, cap * sizeof *s);
        if (!s) return false;
        vm->stack = s;
        vm->cap_stack = cap;
    }
    vm->stack[vm->sp++] = v;
    return true;
}

static pk_val *pk_pop(pk_vm *vm) { return vm->sp ? vm->stack[--vm->sp] : NULL; }
static pk_val *pk_top(pk_vm *vm) { return vm->sp ? vm->stack[vm->sp - 1] : NULL; }

static bool pk_add(pk_val *list, pk_val *item)
{
    if (!list || !item || item->type == PK_MARK) return false;
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 8;
        pk_val **it = realloc(list->items, cap * sizeof *it);
        if (!it) return false;
        list->items = it;
        list->cap = cap;
    }
    list->items[list->n++] = item;
    return true;
}

/* Pops everything above the topmost mark (and the mark) into a new value. */
static pk_val *pk_collect(pk_vm *vm, int type)
{
    size_t m = vm->sp;
    while (m > 0 && vm->stack[m - 1]->type != PK_MARK) m--;
    if (m == 0) return NULL;
    pk_val *v = pk_new(vm, type);
    if (!v) return NULL;
    for (size_t k = m; k < vm->sp; k++)
        if (!pk_add(v, vm->stack[k])) return NULL;
    vm->sp = m - 1;
    return v;
}

static bool pk_memo_put(pk_vm *vm, unsigned long long id)
{
    if (id >= PK_MAX_MEMO || !pk_top(vm)) return false;
    if (id >= vm->n_memo) {
        pk_val **m = realloc(vm->memo, (id + 1) * sizeof *m);
        if (!m) return false;
        for (size_t k = vm->n_memo; k <= id; k++) m[k] = NULL;
        vm->memo = m;
        vm->n_memo = id + 1;
    }
    vm->memo[id] = pk_top(vm);
    return true;
}

static bool pk_memo_get(pk_vm *vm, unsigned long long id)
{
    return id < vm->n_memo && vm->memo[id] && pk_push(vm, vm->memo[id]);
}

static pk_val *pk_str(pk_vm *vm, const char *s, size_t n)
{
    pk_val *v = pk_new(vm, PK_STR);
    if (!v || !(v->s = malloc(n + 1))) return NULL;
    memcpy(v->s, s, n);
    v->s[n] = '\0';
    return v;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Protocol 0 'V': raw-unicode-escape, i.e. latin-1 bytes plus \uXXXX / \UXXXXXXXX
 * (pickle escapes every backslash itself as \u005c). Re-encoded as UTF-8. */
static pk_val *pk_unicode0(pk_vm *vm, const char *s, size_t n)
{
    pk_val *v = pk_new(vm, PK_STR);
    if (!v || !(v->s = malloc(4 * n + 1))) return NULL;
    char *q = v->s;
    for (size_t k = 0; k < n;) {
        unsigned char c = (unsigned char)s[k];
        size_t digits = 0;
        if (c == '\\' && k + 1 < n && (s[k + 1] == 'u' || s[k + 1] == 'U'))
            digits = s[k + 1] == 'u' ? 4 : 8;
        if (digits && k + 2 + digits <= n) {
            unsigned long cp = 0;
            for (size_t d = 0; d < digits; d++) {
                int h = hexval(s[k + 2 + d]);
                if (h < 0) return NULL;
                cp = cp * 16 + (unsigned long)h;
            }
            if (cp > 0x10FFFF) return NULL;
            append_utf8(&q, cp);
            k += 2 + digits;
        } else {
            append_utf8(&q, c);
            k++;
        }
    }
    *q = '\0';
    return v;
}

/* Protocol 0 'S': a Python 2 str repr in quotes ('abc' or "abc") with \-escapes;
 * the bytes are kept as they are (pandas wrote UTF-8). */
static pk_val *pk_string0(pk_vm *vm, const char *s, size_t n)
{
    if (n < 2 || (s[0] != '\'' && s[0] != '"') || s[n - 1] != s[0]) return NULL;
    s++;
    n -= 2;
    pk_val *v = pk_new(vm, PK_STR);
    if (!v || !(v->s = malloc(n + 1))) return NULL;
    char *q = v->s;
    for (size_t k = 0; k < n; k++) {
        if (s[k] != '\\' || k + 1 == n) {
            *q++ = s[k];
            continue;
        }
        char e = s[++k];
        if (e == 'n') *q++ = '\n';
        else if (e == 't') *q++ = '\t';
        else if (e == 'r') *q++ = '\r';
        else if (e == 'x' && k + 2 < n && hexval(s[k + 1]) >= 0 && hexval(s[k + 2]) >= 0) {
            *q++ = (char)(hexval(s[k + 1]) * 16 + hexval(s[k + 2]));
            k += 2;
        } else
            *q++ = e;
    }
    *q = '\0';
    return v;
}

static uint64_t pk_le(const unsigned char *p, size_t n)
{
    uint64_t x = 0;
    for (size_t k = n; k-- > 0;) x = (x << 8) | p[k];
    return x;
}

/* Runs the pickle in buf[0..n); returns the value left by STOP or NULL. */
static pk_val *pk_run(pk_vm *vm, const unsigned char *buf, size_t n)
{
    const unsigned char *p = buf, *end = buf + n;
#define NEED(k) do { if ((size_t)(end - p) < (size_t)(k)) return NULL; } while (0)
    while (p < end) {
        int op = *p++;
        const unsigned char *nl = NULL;
        size_t len = 0;
        if (op && strchr("pgILFVS", op)) { /* text argument up to the newline */
            nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl) return NULL;
            len = (size_t)(nl - p);
        }
        char line[64];
        if (nl && op != 'V' && op != 'S') {
            if (len >= sizeof line) return NULL;
            memcpy(line, p, len);
            line[len] = '\0';
        }
        pk_val *v;
        switch (op) {
        case 0x80: NEED(1); p += 1; break;                 /* PROTO */
        case 0x95: NEED(8); p += 8; break;                 /* FRAME */
        case '(': if (!pk_push(vm, pk_new(vm, PK_MARK))) return NULL; break;
        case ']': if (!pk_push(vm, pk_new(vm, PK_LIST))) return NULL; break;
        case ')': if (!pk_push(vm, pk_new(vm, PK_TUPLE))) return NULL; break;
        case '}': if (!pk_push(vm, pk_new(vm, PK_OTHER))) return NULL; break;
        case 'N': if (!pk_push(vm, pk_new(vm, PK_NONE))) return NULL; break;
        case 0x88: case 0x89:                              /* NEWTRUE, NEWFALSE */
            if (!(v = pk_new(vm, PK_INT))) return NULL;
            v->i = op == 0x88;
            if (!pk_push(vm, v)) return NULL;
            break;
        case 'l': if (!pk_push(vm, pk_collect(vm, PK_LIST))) return NULL; break;
        case 't': if (!pk_push(vm, pk_collect(vm, PK_TUPLE))) return NULL; break;
        case 'd': if (!pk_push(vm, pk_collect(vm, PK_OTHER))) return NULL; break;
        case 0x85: case 0x86: case 0x87: {                 /* TUPLE1..3 */
            size_t k = (size_t)(op - 0x84);
            if (vm->sp < k || !(v = pk_new(vm, PK_TUPLE))) return NULL;
            for (size_t j = vm->sp - k; j < vm->sp; j++)
                if (!pk_add(v, vm->stack[j])) return NULL;
            vm->sp -= k;
            if (!pk_push(vm, v)) return NULL;
            break;
        }
        case 'a': {                                        /* APPEND */
            pk_val *item = pk_pop(vm), *list = pk_top(vm);
            if (!list || list->type != PK_LIST || !pk_add(list, item)) return NULL;
            break;
        }
        case 'e': {                                        /* APPENDS */
            size_t m = vm->sp;
            while (m > 0 && vm->stack[m - 1]->type != PK_MARK) m--;
            if (m < 2 || vm->stack[m - 2]->type != PK_LIST) return NULL;
            for (size_t j = m; j < vm->sp; j++)
                if (!pk_add(vm->stack[m - 2], vm->stack[j])) return NULL;
            vm->sp = m - 1;
            break;
        }
        case 's': if (vm->sp < 3) return NULL; vm->sp -= 2; break; /* SETITEM on a dict */
        case 'u': if (!pk_collect(vm, PK_OTHER)) return NULL; break; /* SETITEMS */
        case 'p': if (!pk_memo_put(vm, strtoull(line, NULL, 10))) return NULL; break;
        case 'q': NEED(1); if (!pk_memo_put(vm, p[0])) return NULL; p += 1; break;
        case 'r': NEED(4); if (!pk_memo_put(vm, pk_le(p, 4))) return NULL; p += 4; break;
        case 0x94: if (!pk_memo_put(vm, vm->n_memo)) return NULL; break; /* MEMOIZE */
        case 'g': if (!pk_memo_get(vm, strtoull(line, NULL, 10))) return NULL; break;
        case 'h': NEED(1); if (!pk_memo_get(vm, p[0])) return NULL; p += 1; break;
        case 'j': NEED(4); if (!pk_memo_get(vm, pk_le(p, 4))) return NULL; p += 4; break;
        case 'I': case 'L': {
            if (!(v = pk_new(vm, PK_INT))) return NULL;
            char *e;
            errno = 0;
            v->i = strtoll(line, &e, 10);
            if (errno || e == line || (*e && !(op == 'L' && *e == 'L' && !e[1]))) return NULL;
            if (!pk_push(vm, v)) return NULL;
            break;
        }
        case 'J': case 'K': case 'M': {
            size_t k = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            NEED(k);
            if (!(v = pk_new(vm, PK_INT))) return NULL;
            uint64_t x = pk_le(p, k);
            v->i = op == 'J' ? (long long)(int32_t)(uint32_t)x : (long long)x;
            p += k;
            if (!pk_push(vm, v)) return NULL;
            break;
        }
        case 0x8a: {                                       /* LONG1 */
            NEED(1);
            size_t k = p[0];
            NEED(1 + k);
            if (k > 8 || !(v = pk_new(vm, PK_INT))) return NULL;
            uint64_t x = pk_le(p + 1, k);
            if (k && k < 8 && (p[k] & 0x80)) x |= ~(uint64_t)0 << (8 * k);
            v->i = (long long)x;
            p += 1 + k;
            if (!pk_push(vm, v)) return NULL;
            break;
        }
        case 'F': if (!pk_push(vm, pk_new(vm, PK_OTHER))) return NULL; break;
        case 'G': NEED(8); p += 8; if (!pk_push(vm, pk_new(vm, PK_OTHER))) return NULL; break;
        case 'V': if (!pk_push(vm, pk_unicode0(vm, (const char *)p, len))) return NULL; break;
        case 'S': if (!pk_push(vm, pk_string0(vm, (const char *)p, len))) return NULL; break;
        case 'X': case 'T': case 'B': case 0x8c: case 0x8d: case 'U': case 'C': {
            size_t k = (op == 0x8c || op == 'U' || op == 'C') ? 1 : op == 0x8d ? 8 : 4;
            NEED(k);
            uint64_t slen = pk_le(p, k);
            p += k;
            NEED(slen);
            if (!pk_push(vm, pk_str(vm, (const char *)p, (size_t)slen))) return NULL;
            p += slen;
            break;
        }
        case '.': return vm->sp == 1 ? vm->stack[0] : NULL;
        default: return NULL;
        }
        if (nl) p = nl + 1;
    }
#undef NEED
    return NULL;
}

static void pk_free(pk_vm *vm)
{
    for (size_t k = 0; k < vm->n_all; k++) {
        free(vm->all[k]->s);
        free(vm->all[k]->items);
        free(vm->all[k]);
    }
    free(vm->all);
    free(vm->stack);
    free(vm->memo);
}

/* Names from a list or tuple of str / int values; false if v is anything else. */
static bool pk_names(const pk_val *v, strlist *out)
{
    if (!v || (v->type != PK_LIST && v->type != PK_TUPLE)) return false;
    for (size_t k = 0; k < v->n; k++) {
        const pk_val *it = v->items[k];
        char num[32];
        if (it->type == PK_STR) {
            if (!strlist_push(out, strdup(it->s))) return false;
        } else if (it->type == PK_INT) {
            snprintf(num, sizeof num, "%lld", it->i);
            if (!strlist_push(out, strdup(num))) return false;
        } else
            return false;
    }
    return true;
}

/* Parses a pickled list of names (kind = 0) or pandas' non_index_axes, a list of one
 * (axis, names) tuple (kind = 1). Returns false when the pickle is anything else. */
static bool unpickle_names(const char *buf, size_t n, int kind, strlist *out)
{
    pk_vm vm = {0};
    pk_val *v = pk_run(&vm, (const unsigned char *)buf, n);
    if (v && kind == 1)
        v = (v->type == PK_LIST && v->n == 1 && v->items[0]->type == PK_TUPLE &&
             v->items[0]->n == 2) ? v->items[0]->items[1] : NULL;
    bool ok = pk_names(v, out);
    if (!ok) strlist_free(out);
    pk_free(&vm);
    return ok;
}

/* ------------------------------------------------------------- string attributes */

/* Reads attribute `name` of obj when it is a string or an array of strings (fixed or
 * variable length) into out. Returns 1 when read, 0 when absent or not strings,
 * -1 on an HDF5 or allocation failure. */
static int attr_strings(hid_t obj, const char *name, strlist *out)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    hid_t mt = -1;
    int rc = -1;
    char *raw = NULL;
    if (ft < 0 || sp < 0) goto done;
    rc = 0;
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (H5Tget_class(ft) != H5T_STRING || n < 0 || H5Sget_simple_extent_ndims(sp) > 1)
        goto done;
    rc = -1;
    mt = H5Tcopy(H5T_C_S1);
    htri_t vlen = H5Tis_variable_str(ft);
    if (mt < 0 || vlen < 0) goto done;
    /* HDF5 converts no character set into another: read in the file's own */
    if (H5Tset_cset(mt, H5Tget_cset(ft)) < 0) goto done;
    if (vlen) {
        char **v = calloc((size_t)n + 1, sizeof *v);
        if (!v || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, v) < 0) {
            free(v);
            goto done;
        }
        rc = 1;
        for (hssize_t k = 0; k < n; k++)
            if (rc == 1 && !strlist_push(out, strdup(v[k] ? v[k] : ""))) rc = -1;
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        free(v);
    } else {
        size_t size = H5Tget_size(ft);
        H5T_str_t pad = H5Tget_strpad(ft);
        if (size == 0 || H5Tset_size(mt, size) < 0 || H5Tset_strpad(mt, pad) < 0) goto done;
        raw = malloc((size_t)n * size + 1);
        if (!raw || H5Aread(a, mt, raw) < 0) goto done;
        rc = 1;
        for (hssize_t k = 0; k < n && rc == 1; k++) {
            const char *s = raw + (size_t)k * size;
            const char *z = memchr(s, '\0', size);
            size_t len = z ? (size_t)(z - s) : size;
            if (pad == H5T_STR_SPACEPAD)
                while (len && s[len - 1] == ' ') len--;
            if (!strlist_push(out, strndup(s, len))) rc = -1;
        }
    }
done:
    if (rc != 1) strlist_free(out);
    free(raw);
    close_id(&mt);
    close_id(&sp);
    close_id(&ft);
    close_id(&a);
    return rc;
}

/* A scalar string attribute, or NULL (absent, not a string, or failure). */
static char *attr_string(hid_t obj, const char *name)
{
    strlist l = {0};
    char *s = NULL;
    if (attr_strings(obj, name, &l) == 1 && l.n == 1) {
        s = l.v[0];
        l.v[0] = NULL;
    }
    for (size_t k = 0; k < l.n; k++) free(l.v[k]);
    free(l.v);
    return s;
}

/* A name list stored as a string array or (PyTables, for a Python list) pickled. */
static int attr_names(hid_t obj, const char *name, strlist *out)
{
    int rc = attr_strings(obj, name, out);
    if (rc == 1 && out->n == 1 && (strncmp(out->v[0], "(l", 2) == 0 ||
                                   (unsigned char)out->v[0][0] == 0x80)) {
        char *pickle = out->v[0];
        out->n = 0;
        if (unpickle_names(pickle, strlen(pickle), 0, out)) free(pickle);
        else if (!strlist_push(out, pickle)) rc = -1; /* not a pickle after all: a name */
    }
    return rc;
}

/* ----------------------------------------------------------------- the reader */

typedef enum { V_DOUBLE, V_RAWINT, V_FSTR, V_VSTR } val_kind;

/* One field of a part's in-memory row: count elements of elem_size bytes at offset,
 * element e filling source column cols[e]. */
typedef struct field {
    char *name;          /* compound member name; NULL otherwise */
    val_kind kind;
    size_t count, offset, elem_size;
    bool is_signed;      /* V_RAWINT */
    bool space_pad;      /* V_FSTR */
    hid_t mem_elem;      /* memory type of one element */
    int arank;           /* compound member that is an HDF5 array: its shape */
    hsize_t adims[8];
    size_t *cols;
} field;

typedef enum { PART_MATRIX, PART_VECTOR, PART_RECORD } part_kind;

typedef struct part {
    part_kind kind;
    char *path;
    hid_t dset;
    hid_t mem_type;      /* of one row: double[p], an element, or a compound */
    size_t rec_size;
    size_t n_fields;
    field *fields;
    char *nan_rep;       /* pandas: the text that stands for a missing string */
    struct direct *direct; /* raw-chunk fast path (see "direct chunk reads"), or NULL */
    sfi_h5idx index;       /* its chunk index read by us (io/hdf5_index.h); state 0 = not
                            * looked at yet (segments copy their source's) */
    int in_file;           /* the dataset lies in the reader's file (not behind an external
                            * link): 1 yes, -1 no, 0 not looked at yet */
    bool setup;            /* direct_setup ran (a segment copies its source's result) */
} part;

/* Schema under construction: one entry per source column. */
typedef struct colinfo {
    char *name;
    bool is_string, is_integer;
} colinfo;

/* A closed segment reader's buffers, kept for the next segment of the same
 * source: a segment opening fresh ones (8 MB of table for 50,000 x 21, the decode
 * tiles, the inflater) spent 1-2 ms a segment in page faults and memset, 10% of
 * a scaler pass over uncompressed HDF5. */
typedef struct scratch {
    sf_table *table;
    unsigned char *buf, *zbuf, *sbuf;
    size_t buf_bytes, zbuf_cap, sbuf_cap;
    sfi_inflater *zs;
    unsigned char **tiles;  /* every direct part's tiles, in part order (or NULL) */
    size_t n_tiles;
} scratch;

enum { SPARES_MAX = 8 };    /* more than the threads that read segments at once */

/* Shared by a source and its segment readers (counted), under its own lock. */
typedef struct spares {
    pthread_mutex_t mu;
    size_t refs, n;
    scratch s[SPARES_MAX];
} spares;

typedef struct hdf5_reader {
    sf_source *src;
    spares *spares;          /* buffers of closed segments (NULL: none kept) */
    size_t buf_bytes;        /* buf's size */
    char *file, *dataset;
    hid_t fid;
    part *parts;
    size_t n_parts;
    colinfo *info;
    size_t n_info, cap_info;
    hsize_t n_rows;          /* of the whole data */
    hsize_t file_chunk_rows; /* dim 0 of the main dataset's chunks; 0 = contiguous */
    int filtered;            /* some part's chunks are filtered: 1 yes, -1 no, 0 not
                              * known yet (finish_open; a segment copies its source's) */
    hsize_t begin, end, cursor;
    size_t segment;
    size_t cap_rows;
    unsigned char *buf;
    /* direct chunk reads: stored bytes, inflated-but-shuffled bytes, the inflater;
     * the file's descriptor (sec2 driver) and where HDF5's addresses start in it */
    unsigned char *zbuf, *sbuf;
    size_t zbuf_cap, sbuf_cap;
    sfi_inflater *zs;
    int fd;
    hsize_t base;
    sf_dict **dicts;
    sf_table *table;
    sf_where where;
    /* next_rows: the part holding each column when it is a float column read by
     * direct chunk reads (a 1-D dataset), else NULL; the wanted columns' values */
    part **vec_part;
    const void **want_v;
    bool saw_nan;               /* next_rows met a NaN: no more mapping */
    struct rowmap {
        int state;              /* 0 not tried yet, 1 usable, -1 not for these columns */
        size_t *cols;           /* the wanted columns it maps (compared by value: a */
        size_t p;               /* caller may ask for others with the same want) */
        long target, weight;
        hsize_t ci;             /* the chunk row mapped, DIRECT_NONE for none */
        size_t n_maps;          /* mappings: one over all the chunks, or one each */
        unsigned char **base;
        size_t *len;
        const unsigned char **at; /* each wanted column's chunk in them */
        hsize_t *where;         /* and its file offset */
    } map;
} hdf5_reader;

static void field_clear(field *f)
{
    free(f->name);
    free(f->cols);
    close_id(&f->mem_elem);
}

static void direct_free(struct direct *d);
static void unmap_all(struct rowmap *m);
static void spares_put(hdf5_reader *r);
static void spares_unref(spares *sp);

static void reader_free(hdf5_reader *r)
{
    if (!r) return;
    spares_put(r);
    spares_unref(r->spares);
    for (size_t k = 0; k < r->n_parts; k++) {
        part *p = &r->parts[k];
        direct_free(p->direct);
        for (size_t j = 0; j < p->n_fields; j++) field_clear(&p->fields[j]);
        free(p->fields);
        free(p->path);
        free(p->nan_rep);
        close_id(&p->mem_type);
        close_id(&p->dset);
    }
    free(r->parts);
    for (size_t k = 0; k < r->n_info; k++) free(r->info[k].name);
    free(r->info);
    if (r->dicts && r->src)
        for (size_t j = 0; j < r->src->n_cols; j++) sf_dict_free(r->dicts[j]);
    free(r->dicts);
    free(r->vec_part);
    free(r->want_v);
    unmap_all(&r->map);
    free(r->map.cols);
    free(r->map.base);
    free(r->map.len);
    free(r->map.at);
    free(r->map.where);
    sf_table_free(r->table);
    free(r->buf);
    free(r->zbuf);
    free(r->sbuf);
    sfi_inflater_free(r->zs);
    close_id(&r->fid);
    free(r->file);
    free(r->dataset);
    free(r);
}

static void hdf5_close(void *impl)
{
    H5E_BEGIN_TRY { reader_free(impl); } H5E_END_TRY;
}

/* Adds a source column; returns its index or (size_t)-1 when out of memory. */
static size_t add_column(hdf5_reader *r, const char *name, bool is_string, bool is_integer)
{
    if (r->n_info == r->cap_info) {
        size_t cap = r->cap_info ? 2 * r->cap_info : 16;
        colinfo *c = realloc(r->info, cap * sizeof *c);
        if (!c) return (size_t)-1;
        r->info = c;
        r->cap_info = cap;
    }
    char *copy = strdup(name);
    if (!copy) return (size_t)-1;
    r->info[r->n_info] = (colinfo){copy, is_string, is_integer};
    return r->n_info++;
}

static part *add_part(hdf5_reader *r, part_kind kind, const char *path)
{
    part *p = realloc(r->parts, (r->n_parts + 1) * sizeof *p);
    if (!p) return NULL;
    r->parts = p;
    p = &r->parts[r->n_parts];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->dset = p->mem_type = -1;
    p->path = strdup(path);
    if (!p->path) return NULL;
    r->n_parts++;
    return p;
}

static field *add_field(part *p)
{
    field *f = realloc(p->fields, (p->n_fields + 1) * sizeof *f);
    if (!f) return NULL;
    p->fields = f;
    f = &p->fields[p->n_fields++];
    memset(f, 0, sizeof *f);
    f->mem_elem = -1;
    return f;
}

/* Chooses how one element of file type ft is read: numbers convert to double in
 * HDF5; enums (h5py's bool) and bitfields (PyTables' bool) have no conversion to
 * double, so they are read as their native integer and widened here; strings keep
 * their size and padding (a fixed string read as NULLTERM of the same size would
 * lose its last byte). Returns false with *cls set when the class is unsupported. */
static bool choose_elem(hid_t ft, field *f, bool *is_string, bool *is_integer, H5T_class_t *cls)
{
    *cls = H5Tget_class(ft);
    *is_string = *is_integer = false;
    switch (*cls) {
    case H5T_INTEGER:
    case H5T_FLOAT:
        f->kind = V_DOUBLE;
        f->mem_elem = H5Tcopy(H5T_NATIVE_DOUBLE);
        f->elem_size = sizeof(double);
        *is_integer = *cls == H5T_INTEGER;
        return f->mem_elem >= 0;
    case H5T_ENUM:
    case H5T_BITFIELD: {
        f->kind = V_RAWINT;
        f->mem_elem = H5Tget_native_type(ft, H5T_DIR_ASCEND);
        if (f->mem_elem < 0) return false;
        f->elem_size = H5Tget_size(f->mem_elem);
        if (*cls == H5T_ENUM) {
            hid_t base = H5Tget_super(ft);
            f->is_signed = base >= 0 && H5Tget_sign(base) == H5T_SGN_2;
            close_id(&base);
        }
        *is_integer = true;
        return f->elem_size >= 1 && f->elem_size <= 8;
    }
    case H5T_STRING: {
        htri_t vlen = H5Tis_variable_str(ft);
        f->mem_elem = H5Tcopy(H5T_C_S1);
        if (vlen < 0 || f->mem_elem < 0) return false;
        *is_string = true;
        H5T_cset_t cset = H5Tget_cset(ft);
        if (vlen) {
            f->kind = V_VSTR;
            f->elem_size = sizeof(char *);
            return H5Tset_size(f->mem_elem, H5T_VARIABLE) >= 0 &&
                   H5Tset_cset(f->mem_elem, cset) >= 0;
        }
        f->kind = V_FSTR;
        f->elem_size = H5Tget_size(ft);
        H5T_str_t pad = H5Tget_strpad(ft);
        f->space_pad = pad == H5T_STR_SPACEPAD;
        return f->elem_size > 0 && H5Tset_size(f->mem_elem, f->elem_size) >= 0 &&
               H5Tset_strpad(f->mem_elem, pad) >= 0 && H5Tset_cset(f->mem_elem, cset) >= 0;
    }
    default:
        return false;
    }
}

/* Opens a dataset with a chunk cache of at least two chunks: a hyperslab of
 * chunk_rows rows rarely ends on a chunk boundary, and a chunk larger than HDF5's
 * default 1 MiB cache would be read and inflated once for each of the two chunks
 * of rows that share it. */
static hid_t open_dataset(hid_t loc, const char *path, hsize_t *chunk_rows)
{
    *chunk_rows = 0;
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t dcpl = H5Dget_create_plist(d), ft = H5Dget_type(d), sp = H5Dget_space(d);
    size_t chunk_bytes = 0;
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (dcpl >= 0 && ft >= 0 && rank >= 1 && rank <= 32 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t dims[32];
        if (H5Pget_chunk(dcpl, rank, dims) == rank) {
            *chunk_rows = dims[0];
            chunk_bytes = H5Tget_size(ft);
            for (int k = 0; k < rank; k++) chunk_bytes *= (size_t)dims[k];
        }
    }
    close_id(&dcpl);
    close_id(&ft);
    close_id(&sp);
    const size_t dflt = (size_t)1 << 20, cap = (size_t)256 << 20;
    if (chunk_bytes * 2 > dflt && chunk_bytes <= cap) {
        hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
        if (dapl >= 0 &&
            H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 2 * chunk_bytes,
                               H5D_CHUNK_CACHE_W0_DEFAULT) >= 0) {
            hid_t d2 = H5Dopen2(loc, path, dapl);
            if (d2 >= 0) {
                close_id(&d);
                d = d2;
            }
        }
        close_id(&dapl);
    }
    return d;
}

/* Dimensions of a dataset: rank into *rank, sizes into dims (up to 8). */
static bool dataset_shape(hid_t d, int *rank, hsize_t dims[8])
{
    hid_t sp = H5Dget_space(d);
    if (sp < 0) return false;
    *rank = H5Sget_simple_extent_ndims(sp);
    bool ok = *rank >= 0 && (*rank > 8 || H5Sget_simple_extent_dims(sp, dims, NULL) >= 0);
    close_id(&sp);
    return ok;
}

static sf_status set_rows(hdf5_reader *r, hsize_t rows, const char *what, sf_error *err)
{
    if (r->n_parts == 1) {
        r->n_rows = rows;
        return SF_OK;
    }
    if (rows == r->n_rows) return SF_OK;
    return sfi_fail(err, SF_ERR_SHAPE, &r->where, "%s has %llu rows, the data has %llu", what,
                    (unsigned long long)rows, (unsigned long long)r->n_rows);
}

static sf_status nomem(hdf5_reader *r, sf_error *err)
{
    return sfi_fail(err, SF_ERR_NOMEM, &r->where, "out of memory");
}

/* A 1-D dataset as one column called `name`. */
static sf_status add_vector(hdf5_reader *r, hid_t loc, const char *path, const char *name,
                            const char *what, sf_error *err)
{
    hsize_t chunk;
    hid_t d = open_dataset(loc, path, &chunk);
    if (d < 0) return fail_corrupt(err, &r->where, what);
    part *p = add_part(r, PART_VECTOR, path);
    if (!p) {
        close_id(&d);
        return nomem(r, err);
    }
    p->dset = d;
    if (r->n_parts == 1) r->file_chunk_rows = chunk;
    int rank;
    hsize_t dims[8];
    if (!dataset_shape(d, &rank, dims)) return fail_corrupt(err, &r->where, what);
    if (rank != 1)
        return sfi_fail(err, rank < 1 ? SF_ERR_UNSUPPORTED : SF_ERR_SHAPE, &r->where,
                        "%s must be a 1-D dataset, got %d-D", what, rank);
    field *f = add_field(p);
    hid_t ft = H5Dget_type(d);
    if (!f || ft < 0) {
        close_id(&ft);
        return f ? fail_corrupt(err, &r->where, what) : nomem(r, err);
    }
    bool is_string, is_integer;
    H5T_class_t cls;
    bool ok = choose_elem(ft, f, &is_string, &is_integer, &cls);
    close_id(&ft);
    if (!ok)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                        "%s: expected a numeric or string dataset, got a%s %s dataset", what,
                        cls == H5T_INTEGER || cls == H5T_ENUM || cls == H5T_OPAQUE ||
                        cls == H5T_ARRAY ? "n" : "", class_name(cls));
    f->count = 1;
    f->cols = malloc(sizeof *f->cols);
    size_t c = f->cols ? add_column(r, name, is_string, is_integer) : (size_t)-1;
    if (c == (size_t)-1) return nomem(r, err);
    f->cols[0] = c;
    p->mem_type = H5Tcopy(f->mem_elem);
    if (p->mem_type < 0) return fail_corrupt(err, &r->where, what);
    p->rec_size = f->elem_size;
    return set_rows(r, dims[0], what, err);
}

/* A 2-D numeric dataset: its row is read as p doubles. */
static sf_status add_matrix(hdf5_reader *r, hid_t d, const char *path, hsize_t chunk,
                            sf_error *err)
{
    part *p = add_part(r, PART_MATRIX, path);
    if (!p) {
        close_id(&d);
        return nomem(r, err);
    }
    p->dset = d;
    r->file_chunk_rows = chunk;
    int rank;
    hsize_t dims[8];
    if (!dataset_shape(d, &rank, dims)) return fail_corrupt(err, &r->where, "dataset");
    hid_t ft = H5Dget_type(d);
    if (ft < 0) return fail_corrupt(err, &r->where, "dataset type");
    field *f = add_field(p);
    bool is_string = false, is_integer = false;
    H5T_class_t cls = H5Tget_class(ft);
    bool ok = f && choose_elem(ft, f, &is_string, &is_integer, &cls);
    close_id(&ft);
    if (!f) return nomem(r, err);
    if (!ok || is_string)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                        "expected a numeric dataset, got a%s %s dataset",
                        cls == H5T_INTEGER || cls == H5T_ENUM || cls == H5T_OPAQUE ||
                        cls == H5T_ARRAY ? "n" : "", class_name(cls));
    if (dims[1] == 0)
        return sfi_fail(err, SF_ERR_SHAPE, &r->where, "the dataset has no columns");
    size_t ncol = (size_t)dims[1];
    strlist names = {0};
    int rc = attr_names(d, "columns", &names);
    if (rc < 0) return fail_corrupt(err, &r->where, "attribute \"columns\"");
    if (rc == 1 && names.n != ncol) {
        size_t got = names.n;
        strlist_free(&names);
        return sfi_fail(err, SF_ERR_SHAPE, &r->where,
                        "the \"columns\" attribute has %zu names for %zu columns", got, ncol);
    }
    f->count = ncol;
    f->cols = malloc(ncol * sizeof *f->cols);
    if (!f->cols) {
        strlist_free(&names);
        return nomem(r, err);
    }
    for (size_t j = 0; j < ncol; j++) {
        char dflt[32];
        snprintf(dflt, sizeof dflt, "x%zu", j);
        f->cols[j] = add_column(r, rc == 1 ? names.v[j] : dflt, false, is_integer);
        if (f->cols[j] == (size_t)-1) {
            strlist_free(&names);
            return nomem(r, err);
        }
    }
    strlist_free(&names);
    p->mem_type = H5Tcopy(f->mem_elem);
    if (p->mem_type < 0) return fail_corrupt(err, &r->where, "dataset type");
    p->rec_size = ncol * f->elem_size;
    return set_rows(r, dims[0], "the dataset", err);
}

/* Moves the columns into the order pandas gives in non_index_axes (the frame's
 * column order), when that list names exactly the columns read. */
static void pandas_order(hdf5_reader *r, hid_t grp, size_t first)
{
    char *pickle = grp >= 0 ? attr_string(grp, "non_index_axes") : NULL;
    strlist order = {0};
    size_t n = r->n_info - first;
    if (!pickle || !unpickle_names(pickle, strlen(pickle), 1, &order) || order.n != n) goto done;
    size_t *perm = malloc(n * sizeof *perm); /* perm[new] = old */
    bool *used = calloc(n ? n : 1, 1);
    bool ok = perm && used;
    for (size_t k = 0; ok && k < n; k++) {
        ok = false;
        for (size_t j = 0; j < n; j++)
            if (!used[j] && strcmp(order.v[k], r->info[first + j].name) == 0) {
                perm[k] = j;
                used[j] = ok = true;
                break;
            }
    }
    colinfo *moved = ok ? malloc(n * sizeof *moved) : NULL;
    size_t *where_now = ok ? malloc(n * sizeof *where_now) : NULL;
    if (moved && where_now) {
        for (size_t k = 0; k < n; k++) {
            moved[k] = r->info[first + perm[k]];
            where_now[perm[k]] = first + k;
        }
        memcpy(r->info + first, moved, n * sizeof *moved);
        part *p = &r->parts[r->n_parts - 1];
        for (size_t j = 0; j < p->n_fields; j++)
            for (size_t e = 0; e < p->fields[j].count; e++)
                p->fields[j].cols[e] = where_now[p->fields[j].cols[e] - first];
    }
    free(moved);
    free(where_now);
    free(perm);
    free(used);
done:
    strlist_free(&order);
    free(pickle);
}

/* A compound table (PyTables Table; pandas' "table" dataset). grp is the group
 * holding it (pandas' attributes live there) or -1. Numeric fields become float
 * columns, string fields category columns; an array field expands into one column
 * per element. pandas' "index" field is skipped. */
static sf_status add_record(hdf5_reader *r, hid_t d, hid_t grp, const char *path,
                            hsize_t chunk, sf_error *err)
{
    part *p = add_part(r, PART_RECORD, path);
    if (!p) {
        close_id(&d);
        return nomem(r, err);
    }
    p->dset = d;
    r->file_chunk_rows = chunk;
    int rank;
    hsize_t dims[8];
    if (!dataset_shape(d, &rank, dims)) return fail_corrupt(err, &r->where, "table");
    if (rank != 1)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                        "expected a 1-D compound table, got %d-D", rank);
    bool is_pandas = H5Aexists(d, "index_kind") > 0 ||
                     (grp >= 0 && H5Aexists(grp, "pandas_type") > 0);
    if (is_pandas && grp >= 0) p->nan_rep = attr_string(grp, "nan_rep");
    hid_t ft = H5Dget_type(d);
    int nmemb = ft >= 0 ? H5Tget_nmembers(ft) : -1;
    if (nmemb < 0) {
        close_id(&ft);
        return fail_corrupt(err, &r->where, "table type");
    }
    size_t first = r->n_info, offset = 0;
    sf_status st = SF_OK;
    for (int m = 0; m < nmemb && st == SF_OK; m++) {
        char *mname = H5Tget_member_name(ft, (unsigned)m);
        hid_t mt = H5Tget_member_type(ft, (unsigned)m), et = -1;
        if (!mname || mt < 0) {
            st = fail_corrupt(err, &r->where, "table type");
            goto next;
        }
        if (is_pandas && strcmp(mname, "index") == 0) goto next;
        hsize_t count = 1;
        int arank = 0;
        hsize_t adims[8] = {0};
        if (H5Tget_class(mt) == H5T_ARRAY) {
            arank = H5Tget_array_ndims(mt);
            if (arank < 1 || arank > 8 || H5Tget_array_dims2(mt, adims) < 0) {
                st = sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                              "field \"%s\": unsupported array shape", mname);
                goto next;
            }
            for (int k = 0; k < arank; k++) count *= adims[k];
            et = H5Tget_super(mt);
        } else
            et = H5Tcopy(mt);
        field *f = add_field(p);
        if (!f) {
            st = nomem(r, err);
            goto next;
        }
        bool is_string, is_integer;
        H5T_class_t cls = H5T_NO_CLASS;
        if (et < 0 || !choose_elem(et, f, &is_string, &is_integer, &cls)) {
            st = sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                          "field \"%s\" has an unsupported type (%s)", mname,
                          class_name(cls));
            goto next;
        }
        f->name = mname;
        mname = NULL;
        f->count = (size_t)count;
        f->arank = arank;
        memcpy(f->adims, adims, sizeof adims);
        f->offset = offset;
        offset += f->count * f->elem_size;
        f->cols = malloc(f->count * sizeof *f->cols);
        /* pandas names the columns of a field in "<field>_kind" on the table
         * (pandas/io/pytables.py, DataCol.set_attr); else field_j / the field name */
        char kind_attr[300];
        snprintf(kind_attr, sizeof kind_attr, "%s_kind", f->name);
        strlist names = {0};
        if (is_pandas && attr_names(d, kind_attr, &names) == 1 && names.n != f->count)
            strlist_free(&names);
        for (size_t e = 0; f->cols && e < f->count; e++) {
            char dflt[300];
            if (arank) snprintf(dflt, sizeof dflt, "%s_%zu", f->name, e);
            else sfi_strlcpy(dflt, f->name, sizeof dflt);
            f->cols[e] = add_column(r, names.n ? names.v[e] : dflt, is_string, is_integer);
            if (f->cols[e] == (size_t)-1) break;
        }
        bool ok = f->cols && (f->count == 0 || f->cols[f->count - 1] != (size_t)-1);
        strlist_free(&names);
        if (!ok) st = nomem(r, err);
    next:
        H5free_memory(mname);
        close_id(&et);
        close_id(&mt);
    }
    close_id(&ft);
    if (st != SF_OK) return st;
    if (r->n_info == first)
        return sfi_fail(err, SF_ERR_ARG, &r->where, "the table has no data fields");
    /* Memory compound of the chosen fields only; H5Dread matches members by name. */
    p->mem_type = H5Tcreate(H5T_COMPOUND, offset);
    if (p->mem_type < 0) return fail_corrupt(err, &r->where, "table type");
    for (size_t j = 0; j < p->n_fields; j++) {
        field *f = &p->fields[j];
        /* an array member converts only to an array of the same shape */
        hid_t at = f->arank ? H5Tarray_create2(f->mem_elem, (unsigned)f->arank, f->adims) : -1;
        hid_t t = f->arank ? at : f->mem_elem;
        herr_t rc = t >= 0 ? H5Tinsert(p->mem_type, f->name, f->offset, t) : -1;
        close_id(&at);
        if (rc < 0) return fail_corrupt(err, &r->where, "table type");
    }
    p->rec_size = offset;
    if (is_pandas) pandas_order(r, grp, first);
    return set_rows(r, dims[0], "the table", err);
}

/* Iteration callback collecting link names. */
static herr_t collect_link(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    return strlist_push(data, strdup(name)) ? 0 : -1;
}

/* A group of 1-D datasets, one column each. skip names a member not to read (the
 * target, added last by the caller). */
static sf_status add_group(hdf5_reader *r, hid_t g, const char *path, const char *skip,
                           sf_error *err)
{
    strlist names = {0}, links = {0};
    int rc = attr_names(g, "columns", &names);
    if (rc < 0) return fail_corrupt(err, &r->where, "attribute \"columns\"");
    sf_status st = SF_OK;
    if (rc == 1) {
        /* io/hdf5_sink.c's layout: the attribute gives the order */
        for (size_t k = 0; k < names.n && st == SF_OK; k++)
            if (!strlist_push(&links, link_name(names.v[k]))) st = nomem(r, err);
        for (size_t k = 0; k < links.n && st == SF_OK; k++)
            if (H5Lexists(g, links.v[k], H5P_DEFAULT) <= 0)
                st = sfi_fail(err, SF_ERR_ARG, &r->where,
                              "no dataset \"%s\" in the group (named by its \"columns\" "
                              "attribute)", names.v[k]);
    } else {
        /* link creation order when the group tracks it (h5py track_order=True,
         * pandas' PyTables groups do not), else name order */
        unsigned flags = 0;
        hid_t gcpl = H5Gget_create_plist(g);
        if (gcpl >= 0) H5Pget_link_creation_order(gcpl, &flags);
        close_id(&gcpl);
        herr_t it = -1;
        if (flags & H5P_CRT_ORDER_TRACKED)
            it = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, collect_link, &links);
        if (it < 0) {
            strlist_free(&links);
            it = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_link, &links);
        }
        if (it < 0) st = fail_corrupt(err, &r->where, "group");
        /* keep datasets only (subgroups such as pandas' _i_table are not columns) */
        size_t keep = 0;
        for (size_t k = 0; k < links.n; k++) {
            H5O_info_t oi;
            bool is_ds = st == SF_OK &&
                         H5Oget_info_by_name2(g, links.v[k], &oi, H5O_INFO_BASIC,
                                              H5P_DEFAULT) >= 0 && oi.type == H5O_TYPE_DATASET;
            if (is_ds && !strlist_push(&names, strdup(links.v[k]))) {
                st = nomem(r, err);
                is_ds = false;
            }
            if (is_ds) links.v[keep++] = links.v[k];
            else free(links.v[k]);
        }
        links.n = keep;
    }
    for (size_t k = 0; k < links.n && st == SF_OK; k++) {
        if (skip && strcmp(names.v[k], skip) == 0) continue;
        char what[300];
        snprintf(what, sizeof what, "column \"%s\"", names.v[k]);
        size_t before = r->n_parts;
        st = add_vector(r, g, links.v[k], names.v[k], what, err);
        if (st == SF_OK && r->n_parts > before) {
            char *full = malloc(strlen(path) + strlen(links.v[k]) + 2);
            if (!full) st = nomem(r, err);
            else {
                sprintf(full, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
                        links.v[k]);
                free(r->parts[r->n_parts - 1].path);
                r->parts[r->n_parts - 1].path = full;
            }
        }
    }
    if (st == SF_OK && r->n_info == 0)
        st = sfi_fail(err, SF_ERR_ARG, &r->where, "the group holds no datasets");
    strlist_free(&names);
    strlist_free(&links);
    return st;
}

/* True when every component of path names an existing link (H5Lexists requires
 * the intermediate ones to exist) and the last one resolves to an object. */
static bool path_exists(hid_t fid, const char *path)
{
    char *buf = strdup(path);
    if (!buf) return false;
    bool ok = true;
    for (char *q = buf + 1; ok && *q; q++) {
        if (*q != '/' || q[-1] == '/') continue;
        *q = '\0';
        ok = H5Lexists(fid, buf, H5P_DEFAULT) > 0;
        *q = '/';
    }
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    if (ok && strcmp(buf, "/") != 0) ok = H5Lexists(fid, buf, H5P_DEFAULT) > 0;
    if (ok) ok = H5Oexists_by_name(fid, buf, H5P_DEFAULT) > 0;
    free(buf);
    return ok;
}

/* Is `name` in group g a compound dataset? */
static bool is_table_in(hid_t g, const char *name)
{
    H5O_info_t oi;
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0 ||
        H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
        oi.type != H5O_TYPE_DATASET)
        return false;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT), t = d >= 0 ? H5Dget_type(d) : -1;
    bool yes = t >= 0 && H5Tget_class(t) == H5T_COMPOUND;
    close_id(&t);
    close_id(&d);
    return yes;
}

static char *parent_path(const char *path)
{
    const char *b = basename_of(path);
    size_t n = (size_t)(b - path);
    while (n > 1 && path[n - 1] == '/') n--;
    return n ? strndup(path, n) : strdup("/");
}

/* Resolves r->dataset (and opt->target) into parts and columns. */
static sf_status build(hdf5_reader *r, const char *target, sf_error *err)
{
    const char *path = r->dataset;
    if (!path_exists(r->fid, path))
        return sfi_fail(err, SF_ERR_ARG, &r->where, "no dataset or group \"%s\" in the file",
                        path);
    char *tpath = NULL;
    const char *tname = NULL;
    if (target && *target) {
        tpath = target[0] == '/' ? strdup(target) : NULL;
        if (!tpath && (tpath = malloc(strlen(target) + 2))) sprintf(tpath, "/%s", target);
        if (!tpath) return nomem(r, err);
        tname = basename_of(tpath);
    }
    sf_status st = SF_OK;
    H5O_info_t oi;
    hid_t obj = -1;
    char *ptype = NULL;
    if (H5Oget_info_by_name2(r->fid, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        st = fail_corrupt(err, &r->where, "object header");
        goto done;
    }
    if (oi.type == H5O_TYPE_GROUP) {
        obj = H5Gopen2(r->fid, path, H5P_DEFAULT);
        if (obj < 0) st = fail_corrupt(err, &r->where, "group");
        else if (is_table_in(obj, "table")) {
            /* pandas: the key's group holds the "table" dataset */
            char *tp = malloc(strlen(path) + 8);
            hsize_t chunk;
            hid_t d = tp ? open_dataset(obj, "table", &chunk) : -1;
            if (tp) sprintf(tp, "%s%stable", path, path[strlen(path) - 1] == '/' ? "" : "/");
            if (!tp) st = nomem(r, err);
            else if (d < 0) st = fail_corrupt(err, &r->where, "table");
            else st = add_record(r, d, obj, tp, chunk, err);
            free(tp);
        } else if ((ptype = attr_string(obj, "pandas_type")) != NULL) {
            /* pandas' fixed format keeps a frame as 2-D blocks plus axis labels
             * (pandas/io/pytables.py, BlockManagerFixed.write) */
            st = sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                          "pandas \"%s\" storage is not supported: write it with "
                          "to_hdf(..., format=\"table\")", ptype);
        } else {
            /* the target may be a member of the group: it is read once, last */
            char *tparent = tpath ? parent_path(tpath) : NULL;
            char *gpath = strdup(path);
            size_t gn = gpath ? strlen(gpath) : 0;
            while (gn > 1 && gpath[gn - 1] == '/') gpath[--gn] = '\0';
            bool skip = tparent && gpath && strcmp(tparent, gpath) == 0;
            if (!gpath || (tpath && !tparent)) st = nomem(r, err);
            else st = add_group(r, obj, gpath, skip ? tname : NULL, err);
            free(tparent);
            free(gpath);
        }
    } else if (oi.type == H5O_TYPE_DATASET) {
        hsize_t chunk;
        hid_t d = open_dataset(r->fid, path, &chunk);
        int rank;
        hsize_t dims[8];
        hid_t ft = d >= 0 ? H5Dget_type(d) : -1;
        if (ft < 0 || !dataset_shape(d, &rank, dims)) {
            close_id(&d);
            st = fail_corrupt(err, &r->where, "dataset");
        } else if (H5Tget_class(ft) == H5T_COMPOUND) {
            char *pp = parent_path(path);
            hid_t grp = pp ? H5Gopen2(r->fid, pp, H5P_DEFAULT) : -1;
            if (pp) st = add_record(r, d, grp, path, chunk, err);
            else {
                close_id(&d);
                st = nomem(r, err);
            }
            close_id(&grp);
            free(pp);
        } else if (rank == 2) {
            st = add_matrix(r, d, path, chunk, err);
        } else if (rank == 1) {
            close_id(&d);
            st = add_vector(r, r->fid, path, basename_of(path), "the dataset", err);
        } else {
            close_id(&d);
            if (rank == 0)
                st = sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                              "expected a 1-D or 2-D dataset, got a scalar");
            else
                st = sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                              "expected a 1-D or 2-D dataset, got %d-D", rank);
        }
        close_id(&ft);
    } else {
        st = sfi_fail(err, SF_ERR_UNSUPPORTED, &r->where,
                      "\"%s\" is neither a dataset nor a group", path);
    }
    if (st == SF_OK && tpath) {
        for (size_t j = 0; j < r->n_info && st == SF_OK; j++)
            if (strcmp(r->info[j].name, tname) == 0)
                st = sfi_fail(err, SF_ERR_ARG, &r->where,
                              "target \"%s\" duplicates column \"%s\" of the data", tpath,
                              tname);
        if (st == SF_OK && !path_exists(r->fid, tpath))
            st = sfi_fail(err, SF_ERR_ARG, &r->where, "no dataset or group \"%s\" in the file",
                          tpath);
        char what[300];
        snprintf(what, sizeof what, "target \"%s\"", tpath);
        if (st == SF_OK) st = add_vector(r, r->fid, tpath, tname, what, err);
    }
done:
    close_id(&obj);
    free(ptype);
    free(tpath);
    return st;
}

/* Opens file read-only and classifies the failures: missing or unreadable (I/O),
 * not HDF5 at all, or HDF5 that the library cannot open (truncated, damaged). */
static sf_status open_file(const char *file, hid_t *fid, const sf_where *w, sf_error *err)
{
    struct stat sb;
    FILE *fp = fopen(file, "rb");
    if (!fp) return sfi_fail(err, SF_ERR_IO, w, "cannot open: %s", strerror(errno));
    fclose(fp);
    if (stat(file, &sb) == 0 && S_ISDIR(sb.st_mode))
        return sfi_fail(err, SF_ERR_IO, w, "cannot open: %s", strerror(EISDIR));
    htri_t is = H5Fis_hdf5(file);
    if (is == 0) return sfi_fail(err, SF_ERR_PARSE, w, "not an HDF5 file");
    if (is < 0) {
        char msg[200];
        h5_message(msg);
        return sfi_fail(err, SF_ERR_PARSE, w, "not an HDF5 file: %s", msg);
    }
    /* a small fixed metadata cache: HDF5's default keeps every chunk-index node
     * it reads while the file is open (io/hdf5_mdc.h) */
    hid_t fapl = sfi_h5_fapl_new();
    *fid = H5Fopen(file, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (fapl >= 0) H5Pclose(fapl);
    if (*fid < 0) {
        char msg[200];
        h5_message(msg);
        return sfi_fail(err, SF_ERR_PARSE, w, "corrupt HDF5 file: %s", msg);
    }
    return SF_OK;
}

static const sf_source_ops hdf5_ops;

/* ------------------------------------------------------------ direct chunk reads
 *
 * Decision 6: this HDF5 is the thread-safe build (one global lock around every H5
 * call), and H5Dread inflates deflated chunks under that lock, so segment readers in
 * different threads would take turns. For a numeric 1-D or 2-D dataset stored in
 * chunks whose filters are shuffle and/or deflate, or none, next() instead finds
 * each chunk it needs (its address, size and filter mask) in the dataset's chunk
 * index as read by io/hdf5_index.c (a window of chunk rows read from the file's
 * v1 B-tree, outside the lock; see direct_setup), or for other indexes with
 * H5Dget_chunk_info_by_coord (a short call under the lock), reads its stored bytes with pread()
 * from HDF5's own file descriptor when the file is read through the sec2 driver
 * (else, or when the read comes short, with H5Dread_chunk), then inflates
 * (io/deflate.c: libdeflate or ISA-L when built in, else zlib), unshuffles and
 * converts them here, all outside the lock, so segment readers read in parallel. A part keeps the chunk it decoded last (one per tile of columns:
 * one for a 1-D dataset or a matrix chunked by whole rows), so rows of one chunk
 * read by two next() calls are decoded once; the stored and the inflated-but-shuffled
 * bytes go through two scratch buffers of the reader.
 *
 * Element types taken are the ones HDF5 itself converts to double by a C cast
 * (little-endian IEEE float64/float32, standard little-endian integers) or by
 * reordering bytes (big-endian float64), so the values are the same bits H5Dread
 * gives (tests/test_hdf5.c compares the two paths on every such type); other
 * types, filters and layouts, compound tables and strings keep the hyperslab path,
 * and so does a read that meets a chunk the file never wrote (H5Dread supplies the
 * fill value) or that HDF5 will not hand out raw. A chunk that does not inflate to
 * exactly its size, or an unfiltered one whose index gives another size, is a
 * corrupt file (SF_ERR_PARSE naming the dataset and row).
 * SF_HDF5_DIRECT=0 in the environment turns the fast path off, for comparisons;
 * SF_HDF5_INDEX=0 keeps HDF5's chunk lookups (no chunk index read by us).
 */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DIRECT_HOST_OK 1
#else
#define DIRECT_HOST_OK 0
#endif

/* Largest decoded chunk taken (as open_dataset's chunk cache cap). */
#define DIRECT_MAX_CHUNK ((size_t)256 << 20)
#define DIRECT_NONE ((hsize_t)-1)

typedef enum {
    DT_F64, DT_F64_SWAP, DT_F32, DT_I8, DT_U8, DT_I16, DT_U16, DT_I32, DT_U32, DT_I64, DT_U64
} direct_type;

#define DIRECT_LOOKUP_MAX 512 /* chunks a dataset, see direct_setup */
#define INDEX_WINDOW 256      /* chunks a reader's window of a chunk index holds, at most */

typedef struct direct {
    direct_type type;
    size_t esize;              /* bytes per file element */
    hsize_t crows;             /* chunk shape: crows x cwidth elements */
    size_t cwidth, ncols;      /* ncols: the dataset's dim 1 (1 when 1-D) */
    size_t chunk_bytes;
    bool shuffle, deflate;     /* the pipeline: shuffle (if any) before deflate */
    unsigned shuffle_bit, deflate_bit; /* their bits in a chunk's filter mask */
    size_t n_tiles;            /* chunks across a row: ceil(ncols / cwidth) */
    unsigned char **tile;      /* the decoded chunk of each tile (or NULL) */
    hsize_t *tile_chunk;       /* which chunk row it holds, DIRECT_NONE for none */
    uint64_t decoded;          /* chunks decoded so far (sfi_hdf5_direct_chunks) */
    uint64_t preads;           /* of which read with pread (sfi_hdf5_direct_preads) */
    bool lookup;               /* chunk addresses by H5Dget_chunk_info_by_coord (few chunks) */
    sfi_h5chunk *win;          /* chunk rows [win_lo, win_hi) of the index, n_tiles each */
    hsize_t win_lo, win_hi;
    size_t win_rows;           /* the window's capacity in chunk rows */
    bool win_off;              /* the index failed to read here: HDF5's calls from now on */
    uint64_t indexed;          /* chunks located by the index (sfi_hdf5_index_chunks) */
    hsize_t at_chunk;          /* direct_rows: the chunk whose file address it holds */
    haddr_t at_addr;           /* (HADDR_UNDEF: none usable) */
} direct;

/* A segment's copy of its source's direct setup q: the same chunk layout, with
 * decode buffers, index window and counters of its own. NULL when out of memory. */
static direct *direct_clone(const direct *q)
{
    direct *d = malloc(sizeof *d);
    if (!d) return NULL;
    *d = *q;
    d->decoded = d->preads = d->indexed = 0;
    d->win = NULL;
    d->win_lo = d->win_hi = 0;
    d->win_rows = 0;
    d->win_off = false;
    d->at_chunk = DIRECT_NONE;
    d->tile = calloc(d->n_tiles ? d->n_tiles : 1, sizeof *d->tile);
    d->tile_chunk = malloc((d->n_tiles ? d->n_tiles : 1) * sizeof *d->tile_chunk);
    if (!d->tile || !d->tile_chunk) {
        free(d->tile);
        free(d->tile_chunk);
        free(d);
        return NULL;
    }
    for (size_t t = 0; t < d->n_tiles; t++) d->tile_chunk[t] = DIRECT_NONE;
    return d;
}

static void direct_free(direct *d)
{
    if (!d) return;
    for (size_t t = 0; d->tile && t < d->n_tiles; t++) free(d->tile[t]);
    free(d->tile);
    free(d->tile_chunk);
    free(d->win);
    free(d);
}

static void scratch_free(scratch *c)
{
    sf_table_free(c->table);
    free(c->buf);
    free(c->zbuf);
    free(c->sbuf);
    sfi_inflater_free(c->zs);
    for (size_t t = 0; c->tiles && t < c->n_tiles; t++) free(c->tiles[t]);
    free(c->tiles);
}

/* The decode tiles of r's direct parts, in all. */
static size_t tiles_of(const hdf5_reader *r)
{
    size_t n = 0;
    for (size_t k = 0; k < r->n_parts; k++)
        if (r->parts[k].direct) n += r->parts[k].direct->n_tiles;
    return n;
}

static spares *spares_new(void)
{
    spares *sp = calloc(1, sizeof *sp);
    if (sp && pthread_mutex_init(&sp->mu, NULL) != 0) {
        free(sp);
        return NULL;
    }
    if (sp) sp->refs = 1;
    return sp;
}

static spares *spares_ref(spares *sp)
{
    if (!sp) return NULL;
    pthread_mutex_lock(&sp->mu);
    sp->refs++;
    pthread_mutex_unlock(&sp->mu);
    return sp;
}

static void spares_unref(spares *sp)
{
    if (!sp) return;
    pthread_mutex_lock(&sp->mu);
    bool last = --sp->refs == 0;
    pthread_mutex_unlock(&sp->mu);
    if (!last) return;
    for (size_t i = 0; i < sp->n; i++) scratch_free(&sp->s[i]);
    pthread_mutex_destroy(&sp->mu);
    free(sp);
}

/* Hands r's buffers to its source's spares (or frees them when they are full). */
static void spares_put(hdf5_reader *r)
{
    if (!r->spares) return;
    scratch c = {.table = r->table, .buf = r->buf, .zbuf = r->zbuf, .sbuf = r->sbuf, .buf_bytes = r->buf_bytes,
                 .zbuf_cap = r->zbuf_cap, .sbuf_cap = r->sbuf_cap, .zs = r->zs};
    size_t n = tiles_of(r), at = 0;
    c.tiles = n ? calloc(n, sizeof *c.tiles) : NULL; /* none kept when out of memory */
    c.n_tiles = c.tiles ? n : 0;
    for (size_t k = 0; c.tiles && k < r->n_parts; k++) {
        direct *d = r->parts[k].direct;
        for (size_t t = 0; d && t < d->n_tiles; t++) {
            c.tiles[at++] = d->tile[t];
            d->tile[t] = NULL;
        }
    }
    r->table = NULL;
    r->buf = r->zbuf = r->sbuf = NULL;
    r->zs = NULL;
    pthread_mutex_lock(&r->spares->mu);
    bool kept = r->spares->n < SPARES_MAX;
    if (kept) r->spares->s[r->spares->n++] = c;
    pthread_mutex_unlock(&r->spares->mu);
    if (!kept) scratch_free(&c);
}

/* Gives r (a segment reader, before its first read) the buffers of a closed one
 * when they are large enough. */
static void spares_take(hdf5_reader *r)
{
    if (!r->spares) return;
    scratch c;
    pthread_mutex_lock(&r->spares->mu);
    bool got = r->spares->n > 0;
    if (got) c = r->spares->s[--r->spares->n];
    pthread_mutex_unlock(&r->spares->mu);
    if (!got) return;
    sf_source *s = r->src;
    if (c.table && c.table->capacity >= r->cap_rows && c.table->n_cols == s->n_cols) {
        r->table = c.table;
        r->table->names = (const char *const *)s->names;
        r->table->segment = r->segment;
        for (size_t j = 0; j < s->n_cols; j++) r->table->cols[j].dict = r->dicts[j];
        c.table = NULL;
    }
    if (c.buf) {
        r->buf = c.buf;
        r->buf_bytes = c.buf_bytes;
        c.buf = NULL;
    }
    r->zbuf = c.zbuf;
    r->zbuf_cap = c.zbuf_cap;
    r->sbuf = c.sbuf;
    r->sbuf_cap = c.sbuf_cap;
    r->zs = c.zs;
    c.zbuf = c.sbuf = NULL;
    c.zs = NULL;
    size_t at = 0; /* the readers of a source have the same parts: tile for tile */
    for (size_t k = 0; c.n_tiles == tiles_of(r) && k < r->n_parts; k++) {
        direct *d = r->parts[k].direct;
        for (size_t t = 0; d && t < d->n_tiles; t++) {
            d->tile[t] = c.tiles[at];
            c.tiles[at++] = NULL;
        }
    }
    scratch_free(&c);
}

/* The conversion for file type ft, when it is one of those described above. */
static bool direct_type_of(hid_t ft, direct_type *out)
{
    if (!DIRECT_HOST_OK) return false;
    const struct { hid_t id; direct_type t; } known[] = {
        {H5T_IEEE_F64LE, DT_F64}, {H5T_IEEE_F64BE, DT_F64_SWAP}, {H5T_IEEE_F32LE, DT_F32},
        {H5T_STD_I8LE, DT_I8},    {H5T_STD_U8LE, DT_U8},         {H5T_STD_I16LE, DT_I16},
        {H5T_STD_U16LE, DT_U16},  {H5T_STD_I32LE, DT_I32},       {H5T_STD_U32LE, DT_U32},
        {H5T_STD_I64LE, DT_I64},  {H5T_STD_U64LE, DT_U64},
    };
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        if (H5Tequal(ft, known[k].id) > 0) {
            *out = known[k].t;
            return true;
        }
    return false;
}

/* Whether dataset d lies in file fid itself, not in a file an external link leads
 * to: only then are its chunk addresses offsets in fid's descriptor. */
static bool dataset_in_file(hid_t fid, hid_t d)
{
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t a, b;
    return H5Oget_info3(d, &a, H5O_INFO_BASIC) >= 0 &&
           H5Oget_info_by_name3(fid, "/", &b, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 && a.fileno == b.fileno;
#else
    H5O_info_t a, b;
    return H5Oget_info2(d, &a, H5O_INFO_BASIC) >= 0 &&
           H5Oget_info_by_name2(fid, "/", &b, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 && a.fileno == b.fileno;
#endif
}

/* Sets p->direct when p qualifies for direct chunk reads (else leaves it NULL). */
static sf_status direct_setup(hdf5_reader *r, part *p, sf_error *err)
{
    p->setup = true;
    const char *env = getenv("SF_HDF5_DIRECT");
    if ((env && strcmp(env, "0") == 0) || p->kind == PART_RECORD || p->n_fields != 1 ||
        p->fields[0].kind != V_DOUBLE)
        return SF_OK;
    direct d = {0};
    hid_t dcpl = H5Dget_create_plist(p->dset), ft = H5Dget_type(p->dset);
    hid_t sp = H5Dget_space(p->dset);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[2] = {0, 1}, cdims[2] = {0, 1};
    bool ok = dcpl >= 0 && ft >= 0 && (rank == 1 || rank == 2) &&
              (rank == 2) == (p->kind == PART_MATRIX) &&
              H5Pget_layout(dcpl) == H5D_CHUNKED && direct_type_of(ft, &d.type) &&
              H5Sget_simple_extent_dims(sp, dims, NULL) == rank &&
              H5Pget_chunk(dcpl, rank, cdims) == rank;
    if (ok) {
        d.esize = H5Tget_size(ft);
        d.crows = cdims[0];
        d.cwidth = (size_t)cdims[1];
        d.ncols = (size_t)dims[1];
        ok = d.esize > 0 && d.crows > 0 && d.cwidth > 0 && d.ncols == p->fields[0].count &&
             p->rec_size == d.ncols * sizeof(double) &&
             d.crows <= DIRECT_MAX_CHUNK / d.esize / d.cwidth;
    }
    /* with DONT_FILTER_PARTIAL_CHUNKS, edge chunks are stored unfiltered with no
     * mark in their filter mask: leave those datasets to HDF5 */
    unsigned opts = 0;
    ok = ok && H5Pget_chunk_opts(dcpl, &opts) >= 0 &&
         !(opts & H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS);
    int nf = ok ? H5Pget_nfilters(dcpl) : -1;
    ok = ok && nf >= 0 && nf <= 2;
    for (int i = 0; ok && i < nf; i++) {
        unsigned flags = 0, cd[8] = {0}, config = 0;
        size_t ncd = sizeof cd / sizeof *cd;
        char fname[64];
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname,
                                         fname, &config);
        if (id == H5Z_FILTER_SHUFFLE && !d.shuffle && !d.deflate && ncd == 1 &&
            cd[0] == d.esize) {
            d.shuffle = true;
            d.shuffle_bit = 1u << i;
        } else if (id == H5Z_FILTER_DEFLATE && !d.deflate) {
            d.deflate = true;
            d.deflate_bit = 1u << i;
        } else
            ok = false;
    }
    close_id(&dcpl);
    close_id(&ft);
    close_id(&sp);
    if (!ok) return SF_OK;
    d.chunk_bytes = (size_t)d.crows * d.cwidth * d.esize;
    d.n_tiles = (d.ncols + d.cwidth - 1) / d.cwidth;
    direct *dp = malloc(sizeof *dp);
    if (dp) {
        *dp = d;
        dp->tile = calloc(d.n_tiles ? d.n_tiles : 1, sizeof *dp->tile);
        dp->tile_chunk = malloc((d.n_tiles ? d.n_tiles : 1) * sizeof *dp->tile_chunk);
    }
    if (!dp || !dp->tile || !dp->tile_chunk) {
        direct_free(dp);
        return nomem(r, err);
    }
    for (size_t t = 0; t < d.n_tiles; t++) dp->tile_chunk[t] = DIRECT_NONE;
    /* Chunk addresses: from the chunk index read by us (io/hdf5_index.c: a v1
     * B-tree, as our sink, h5py, pandas and PyTables write; parsed and checked
     * against HDF5 once, by the source; its segments copy the result), a window of
     * chunk rows at a time, outside the lock. Else HDF5 1.10's
     * H5Dget_chunk_info_by_coord, which walks the index from its start (H5B_iterate)
     * until it meets the chunk: a lookup per chunk costs the square of their number
     * (18% of a scaler pass over 1,221 chunks a column), so with more than
     * DIRECT_LOOKUP_MAX chunks H5Dread_chunk (an indexed lookup) reads them under the
     * lock instead of pread outside it. */
    const char *use_index = getenv("SF_HDF5_INDEX");
    if (use_index && strcmp(use_index, "0") == 0) p->index.state = -1;
    if (p->in_file == 0) p->in_file = dataset_in_file(r->fid, p->dset) ? 1 : -1;
    if (p->in_file < 0) p->index.state = -1;
    if (p->index.state == 0) sfi_h5idx_open(&p->index, r->fid, p->dset, r->fd, r->base);
    if (p->index.state > 0 && (p->index.cdims[0] != d.crows || p->index.cdims[1] != d.cwidth ||
                               p->index.esize != d.esize || sfi_h5idx_tiles(&p->index) != d.n_tiles))
        p->index.state = -1;
    dp->lookup = (dims[0] + d.crows - 1) / d.crows <= DIRECT_LOOKUP_MAX;
    dp->at_chunk = DIRECT_NONE;
    p->direct = dp;
    return SF_OK;
}

/* A reader's scratch buffer of at least n bytes. */
static unsigned char *direct_scratch(unsigned char **buf, size_t *cap, size_t n)
{
    if (*cap < n) {
        unsigned char *b = realloc(*buf, n);
        if (!b) return NULL;
        *buf = b;
        *cap = n;
    }
    return *buf;
}

static void direct_unshuffle(const unsigned char *in, unsigned char *out, size_t nbytes,
                             size_t esize)
{
    size_t n = nbytes / esize;
    if (esize <= 1 || n <= 1) {
        memcpy(out, in, nbytes);
        return;
    }
    if (esize == 8) {
        const unsigned char *b0 = in, *b1 = in + n, *b2 = in + 2 * n, *b3 = in + 3 * n,
                            *b4 = in + 4 * n, *b5 = in + 5 * n, *b6 = in + 6 * n,
                            *b7 = in + 7 * n;
        for (size_t i = 0; i < n; i++) {
            unsigned char *o = out + 8 * i;
            o[0] = b0[i], o[1] = b1[i], o[2] = b2[i], o[3] = b3[i];
            o[4] = b4[i], o[5] = b5[i], o[6] = b6[i], o[7] = b7[i];
        }
    } else {
        for (size_t b = 0; b < esize; b++) {
            const unsigned char *s = in + b * n;
            unsigned char *o = out + b;
            for (size_t i = 0; i < n; i++) o[i * esize] = s[i];
        }
    }
    memcpy(out + n * esize, in + n * esize, nbytes - n * esize); /* as HDF5: a tail */
}

/* n file elements at src to doubles at dst, as H5Dread converts them. */
static void direct_convert(direct_type t, const unsigned char *src, double *dst, size_t n)
{
#define DIRECT_CAST(T)                                                                   \
    for (size_t i = 0; i < n; i++) {                                                     \
        T v_;                                                                            \
        memcpy(&v_, src + i * sizeof v_, sizeof v_);                                     \
        dst[i] = (double)v_;                                                             \
    }                                                                                    \
    break
    switch (t) {
    case DT_F64: memcpy(dst, src, n * sizeof *dst); break;
    case DT_F64_SWAP:
        for (size_t i = 0; i < n; i++) {
            uint64_t u;
            memcpy(&u, src + 8 * i, 8);
            u = __builtin_bswap64(u);
            memcpy(&dst[i], &u, 8);
        }
        break;
    case DT_F32: DIRECT_CAST(float);
    case DT_I8: DIRECT_CAST(int8_t);
    case DT_U8: DIRECT_CAST(uint8_t);
    case DT_I16: DIRECT_CAST(int16_t);
    case DT_U16: DIRECT_CAST(uint16_t);
    case DT_I32: DIRECT_CAST(int32_t);
    case DT_U32: DIRECT_CAST(uint32_t);
    case DT_I64: DIRECT_CAST(int64_t);
    case DT_U64: DIRECT_CAST(uint64_t);
    }
#undef DIRECT_CAST
}

/* A chunk that cannot be decoded: SF_ERR_PARSE at `row` (0-based, the first row
 * wanted from the chunk), naming the dataset and the chunk's rows. */
static sf_status direct_fail(hdf5_reader *r, const part *p, size_t t, hsize_t ci, hsize_t row,
                             const char *why, sf_error *err)
{
    const direct *d = p->direct;
    sf_where w = r->where;
    w.row = row + 1;
    unsigned long long first = (unsigned long long)(ci * d->crows) + 1,
                       last = (unsigned long long)(ci * d->crows + d->crows);
    if (last > r->n_rows) last = r->n_rows;
    char cols[80] = "";
    if (d->n_tiles > 1) {
        size_t c0 = t * d->cwidth, c1 = c0 + d->cwidth < d->ncols ? c0 + d->cwidth : d->ncols;
        snprintf(cols, sizeof cols, ", columns %zu-%zu", c0 + 1, c1);
    }
    bool vector = p->kind == PART_VECTOR;
    if (vector) w.field = p->fields[0].cols[0] + 1;
    sfi_fail(err, SF_ERR_PARSE, &w,
             "corrupt HDF5 file: reading \"%s\": chunk of rows %llu-%llu%s: %s", p->path, first,
             last, cols, why);
    if (vector) sfi_error_field(err, r->src->names[p->fields[0].cols[0]]);
    return SF_ERR_PARSE;
}

/* Where chunk row ci, tile t of p is stored: true with its address, stored size
 * and filter mask (stored 0, addr HADDR_UNDEF: never written), from the window of
 * the chunk index (refilled from the tree when ci is outside it: INDEX_WINDOW
 * chunks, within the reader's rows) or H5Dget_chunk_info_by_coord (few chunks);
 * false when only H5Dread_chunk can find it. */
static bool chunk_where(hdf5_reader *r, part *p, hsize_t ci, size_t t, haddr_t *addr, hsize_t *stored,
                        unsigned *mask)
{
    direct *d = p->direct;
    *addr = HADDR_UNDEF;
    *stored = 0;
    *mask = 0;
    if (r->fd < 0 || p->in_file < 0) return false; /* another file's addresses */
    if (p->index.state > 0 && !d->win_off) {
        if (ci < d->win_lo || ci >= d->win_hi) {
            if (!d->win) {
                /* at most INDEX_WINDOW chunks, at most the reader's chunk rows */
                hsize_t span = (r->end + d->crows - 1) / d->crows - r->begin / d->crows;
                size_t cap = INDEX_WINDOW / d->n_tiles ? INDEX_WINDOW / d->n_tiles : 1;
                if (span > 0 && span < cap) cap = (size_t)span;
                d->win = malloc(cap * d->n_tiles * sizeof *d->win);
                d->win_rows = cap;
            }
            hsize_t all = (p->index.dims[0] + d->crows - 1) / d->crows, hi = ci + d->win_rows;
            if (hi > all) hi = all;
            if (d->win && ci < hi && sfi_h5idx_fill(&p->index, r->fd, ci, hi, d->win)) {
                d->win_lo = ci;
                d->win_hi = hi;
            } else
                d->win_off = true;
        }
        if (!d->win_off) {
            const sfi_h5chunk *e = &d->win[(size_t)(ci - d->win_lo) * d->n_tiles + t];
            d->indexed++;
            if (e->size) *addr = e->addr, *stored = e->size, *mask = e->mask;
            return true;
        }
    }
    if (!d->lookup) return false;
    hsize_t off[2] = {ci * d->crows, (hsize_t)t * d->cwidth};
    if (H5Dget_chunk_info_by_coord(p->dset, off, mask, addr, stored) < 0) *addr = HADDR_UNDEF;
    if (*addr == HADDR_UNDEF) *stored = 0;
    return true;
}

/* Decodes chunk row ci of tile t into d->tile[t], unless it holds it already.
 * *fallback = true when H5Dread must read instead (see above). */
static sf_status direct_load(hdf5_reader *r, part *p, size_t t, hsize_t ci, hsize_t row,
                             bool *fallback, sf_error *err)
{
    direct *d = p->direct;
    if (d->tile_chunk[t] == ci) return SF_OK;
    if (!d->tile[t] && !(d->tile[t] = malloc(d->chunk_bytes))) return nomem(r, err);
    d->tile_chunk[t] = DIRECT_NONE;
    unsigned char *tile = d->tile[t];
    hsize_t off[2] = {ci * d->crows, (hsize_t)t * d->cwidth};
    hsize_t stored = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned fmask = 0;
    if (!chunk_where(r, p, ci, t, &addr, &stored, &fmask) &&
        H5Dget_chunk_storage_size(p->dset, off, &stored) < 0)
        stored = 0;
    if (stored == 0) {
        *fallback = true; /* never written: H5Dread fills it */
        return SF_OK;
    }
    bool filtered = d->shuffle || d->deflate;
    size_t bound = d->chunk_bytes;
    if (d->deflate) bound = (size_t)compressBound((uLong)d->chunk_bytes) + 64;
    if (!filtered && stored != d->chunk_bytes) {
        /* HDF5 stores an unfiltered chunk whole: a damaged index (HDF5 1.10's H5Dread
         * would copy a whole chunk out of the short buffer it reads) */
        char msg[120];
        snprintf(msg, sizeof msg, "its index gives %llu stored bytes, not the chunk's %zu",
                 (unsigned long long)stored, d->chunk_bytes);
        return direct_fail(r, p, t, ci, row, msg, err);
    }
    if (stored > bound) {
        *fallback = true; /* not what HDF5's filters write: let HDF5 judge it */
        return SF_OK;
    }
    unsigned char *raw = tile;
    if (filtered) raw = direct_scratch(&r->zbuf, &r->zbuf_cap, (size_t)stored);
    if (!raw) return nomem(r, err);
    uint32_t mask = fmask;
    /* the bytes themselves: pread outside HDF5 and its lock, so segment readers read
     * in parallel; a short read (a truncated file) is left to H5Dread_chunk to judge */
    bool have = false;
    if (addr != HADDR_UNDEF && addr <= (haddr_t)INT64_MAX - r->base) {
        ssize_t got = pread(r->fd, raw, (size_t)stored, (off_t)(addr + r->base));
        have = got >= 0 && (hsize_t)got == stored;
        d->preads += have;
    }
    if (!have && H5Dread_chunk(p->dset, H5P_DEFAULT, off, &mask, raw) < 0) {
        *fallback = true;
        return SF_OK;
    }
    /* the rest runs outside HDF5 and its lock */
    bool inflate_it = d->deflate && !(mask & d->deflate_bit);
    bool unshuffle = d->shuffle && !(mask & d->shuffle_bit);
    const unsigned char *cur = raw;
    size_t n = (size_t)stored;
    if (inflate_it) {
        if (!r->zs && !(r->zs = sfi_inflater_new())) return nomem(r, err);
        unsigned char *out = unshuffle ? direct_scratch(&r->sbuf, &r->sbuf_cap, d->chunk_bytes)
                                       : tile;
        if (!out) return nomem(r, err);
        const char *why = sfi_inflate(r->zs, raw, n, out, d->chunk_bytes, &n);
        if (why) return direct_fail(r, p, t, ci, row, why, err);
        if (n != d->chunk_bytes) {
            char msg[120];
            snprintf(msg, sizeof msg, "it inflates to %zu bytes, not the chunk's %zu", n,
                     d->chunk_bytes);
            return direct_fail(r, p, t, ci, row, msg, err);
        }
        cur = out;
    } else if (n != d->chunk_bytes) {
        *fallback = true; /* stored unfiltered, yet not a chunk's size */
        return SF_OK;
    }
    if (unshuffle) direct_unshuffle(cur, tile, n, d->esize);
    else if (cur != tile) memcpy(tile, cur, n);
    d->tile_chunk[t] = ci;
    d->decoded++;
    return SF_OK;
}

/* Uncompressed native doubles, one chunk across the whole row: rows [r0, r0 + n) of
 * chunk ci are n·ncols contiguous doubles in the file, read straight into dst (no
 * tile, no copy). *done = false leaves them to direct_load, which judges chunks
 * that are unallocated, filtered, of the wrong size or short. */
static void direct_rows(hdf5_reader *r, part *p, hsize_t ci, hsize_t r0, size_t n,
                        unsigned char *dst, bool *done)
{
    direct *d = p->direct;
    *done = false;
    if (r->fd < 0 || d->type != DT_F64 || d->shuffle || d->deflate || d->cwidth != d->ncols ||
        d->tile_chunk[0] == ci)
        return;
    if (d->at_chunk != ci) {
        hsize_t stored = 0;
        haddr_t addr = HADDR_UNDEF;
        unsigned fmask = 0;
        if (!chunk_where(r, p, ci, 0, &addr, &stored, &fmask) || addr == HADDR_UNDEF ||
            stored != d->chunk_bytes || addr > (haddr_t)INT64_MAX - r->base - stored)
            addr = HADDR_UNDEF;
        d->at_chunk = ci;
        d->at_addr = addr;
        d->decoded += addr != HADDR_UNDEF; /* counted once per chunk, as direct_load */
        d->preads += addr != HADDR_UNDEF;
    }
    if (d->at_addr == HADDR_UNDEF) return;
    size_t pitch = d->ncols * sizeof(double), bytes = n * pitch;
    ssize_t got = pread(r->fd, dst, bytes, (off_t)(d->at_addr + r->base + r0 * pitch));
    *done = got >= 0 && (size_t)got == bytes;
}

/* Reads rows [r->cursor, r->cursor + k) of p into buf as H5Dread would (k records
 * of p->rec_size bytes). *done = false when the hyperslab path must read them. */
static sf_status direct_read(hdf5_reader *r, part *p, unsigned char *buf, size_t k, bool *done,
                             sf_error *err)
{
    direct *d = p->direct;
    *done = false;
    hsize_t row = r->cursor;
    for (size_t out = 0; out < k;) {
        hsize_t ci = row / d->crows, r0 = row - ci * d->crows;
        size_t n = k - out;
        if (d->crows - r0 < n) n = (size_t)(d->crows - r0);
        bool read = false;
        direct_rows(r, p, ci, r0, n, buf + out * p->rec_size, &read);
        for (size_t t = 0; t < d->n_tiles && !read; t++) {
            bool fallback = false;
            SF_TRY(direct_load(r, p, t, ci, row, &fallback, err));
            if (fallback) return SF_OK;
            size_t c0 = t * d->cwidth;
            size_t w = d->ncols - c0 < d->cwidth ? d->ncols - c0 : d->cwidth;
            size_t pitch = d->cwidth * d->esize;
            const unsigned char *src = d->tile[t] + (size_t)r0 * pitch;
            double *dst = (double *)(void *)(buf + out * p->rec_size) + c0;
            if (w == d->cwidth && w == d->ncols) direct_convert(d->type, src, dst, n * w);
            else
                for (size_t i = 0; i < n; i++)
                    direct_convert(d->type, src + i * pitch, dst + i * d->ncols, w);
        }
        row += n;
        out += n;
    }
    *done = true;
    return SF_OK;
}

/* Whether any part's chunks are filtered (asks HDF5: done once, by the source). */
static bool any_filtered(const hdf5_reader *r)
{
    bool filtered = false;
    for (size_t k = 0; k < r->n_parts && !filtered; k++) {
        hid_t dcpl = H5Dget_create_plist(r->parts[k].dset);
        filtered = dcpl < 0 || H5Pget_nfilters(dcpl) != 0;
        close_id(&dcpl);
    }
    return filtered;
}

/* Second half of opening (whole source or segment): dictionaries, direct-read
 * setup (a segment has its source's: clone_reader), a closed segment's buffers
 * (spares) or fresh ones; the table waits for the first read that needs it. */
static sf_status finish_open(hdf5_reader *r, sf_source *s, sf_error *err)
{
    r->dicts = calloc(s->n_cols ? s->n_cols : 1, sizeof *r->dicts);
    if (!r->dicts) return nomem(r, err);
    for (size_t j = 0; j < s->n_cols; j++)
        if (s->types[j] == SF_COL_CATEGORY) SF_TRY(sf_dict_new(&r->dicts[j], s->opt.max_levels, err));
    hsize_t rows = r->end - r->begin;
    r->cap_rows = s->opt.chunk_rows;
    if (rows < r->cap_rows) r->cap_rows = rows ? (size_t)rows : 1;
    /* r->table: made by the first read that needs one (need_table); rows read
     * straight into blocks never do */
    size_t rec = 0;
    for (size_t k = 0; k < r->n_parts; k++)
        if (r->parts[k].rec_size > rec) rec = r->parts[k].rec_size;
    for (size_t k = 0; k < r->n_parts; k++)
        if (!r->parts[k].setup) SF_TRY(direct_setup(r, &r->parts[k], err));
    if (!r->spares && !(r->spares = spares_new())) return nomem(r, err);
    spares_take(r);
    if (r->buf && r->buf_bytes < r->cap_rows * (rec ? rec : 1)) {
        free(r->buf);
        r->buf = NULL;
    }
    if (!r->buf) {
        r->buf_bytes = r->cap_rows * (rec ? rec : 1);
        if (!(r->buf = malloc(r->buf_bytes))) return nomem(r, err);
    }
    if (!r->filtered) r->filtered = any_filtered(r) ? 1 : -1;
    r->vec_part = calloc(s->n_cols ? s->n_cols : 1, sizeof *r->vec_part);
    r->want_v = calloc(s->n_cols ? s->n_cols : 1, sizeof *r->want_v);
    r->map.at = calloc(s->n_cols ? s->n_cols : 1, sizeof *r->map.at);
    r->map.base = calloc(s->n_cols ? s->n_cols : 1, sizeof *r->map.base);
    r->map.len = calloc(s->n_cols ? s->n_cols : 1, sizeof *r->map.len);
    r->map.where = calloc(s->n_cols ? s->n_cols : 1, sizeof *r->map.where);
    r->map.cols = calloc(s->n_cols ? s->n_cols : 1, sizeof *r->map.cols);
    if (!r->vec_part || !r->want_v || !r->map.at || !r->map.base || !r->map.len || !r->map.where ||
        !r->map.cols)
        return nomem(r, err);
    r->map.ci = DIRECT_NONE;
    for (size_t k = 0; k < r->n_parts; k++) {
        part *p = &r->parts[k];
        size_t c = p->n_fields == 1 ? p->fields[0].cols[0] : 0;
        if (p->direct && p->kind == PART_VECTOR && s->types[c] == SF_COL_FLOAT) r->vec_part[c] = p;
    }
    s->size = (uint64_t)rows * s->n_cols * sizeof(double);
    return SF_OK;
}

/* The file descriptor behind r->fid when HDF5 reads it through the sec2 driver (the
 * default: one POSIX file), and the file address HDF5's addresses count from (the
 * user block's size); r->fd stays -1 for any other driver. HDF5 owns the descriptor:
 * it stays open while r->fid is. */
static void direct_fd(hdf5_reader *r)
{
    hid_t fapl = H5Fget_access_plist(r->fid), fcpl = H5Fget_create_plist(r->fid);
    void *handle = NULL;
    hsize_t ub = 0;
    if (fapl >= 0 && fcpl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 &&
        H5Pget_userblock(fcpl, &ub) >= 0 && H5Fget_vfd_handle(r->fid, fapl, &handle) >= 0 &&
        handle && *(int *)handle >= 0) {
        r->fd = *(int *)handle;
        r->base = ub;
    }
    close_id(&fapl);
    close_id(&fcpl);
}

/* Opens file:dataset into a reader with its schema; no source header yet. */
static sf_status open_reader(hdf5_reader **out, const char *file, const char *dataset,
                             const sf_source_options *opt, sf_error *err)
{
    *out = NULL;
    hdf5_reader *r = calloc(1, sizeof *r);
    if (!r) return sfi_nomem(err);
    r->fid = -1;
    r->fd = -1;
    r->file = strdup(file);
    r->dataset = strdup(dataset && *dataset ? dataset : "/");
    char name[256];
    snprintf(name, sizeof name, "%s:%s", file, r->dataset ? r->dataset : "");
    sfi_where_init(&r->where, name);
    sf_status st;
    if (!r->file || !r->dataset) st = sfi_nomem(err);
    else {
        st = open_file(file, &r->fid, &r->where, err);
        if (st == SF_OK) direct_fd(r);
        if (st == SF_OK) st = build(r, opt->target, err);
    }
    if (st != SF_OK) {
        reader_free(r);
        return st;
    }
    *out = r;
    return SF_OK;
}

static sf_status do_open(sf_source **out, const char *file, const char *dataset,
                         const sf_source_options *opt, sf_error *err)
{
    hdf5_reader *r;
    SF_TRY(open_reader(&r, file, dataset, opt, err));
    const char **names = malloc((r->n_info ? r->n_info : 1) * sizeof *names);
    if (!names) {
        reader_free(r);
        return sfi_nomem(err);
    }
    for (size_t j = 0; j < r->n_info; j++) names[j] = r->info[j].name;
    sf_source *s = NULL;
    sf_status st = sfi_source_alloc(&s, &hdf5_ops, r->where.source, opt, r->n_info, names, err);
    free(names);
    if (st != SF_OK) {
        reader_free(r);
        return st;
    }
    s->impl = r;
    r->src = s;
    for (size_t j = 0; j < s->n_cols; j++) {
        s->types[j] = r->info[j].is_string ? SF_COL_CATEGORY : SF_COL_FLOAT;
        s->is_integer[j] = r->info[j].is_integer;
    }
    r->begin = r->cursor = 0;
    r->end = r->n_rows;
    st = sfi_source_apply_types(s, err);
    if (st == SF_OK) st = finish_open(r, s, err);
    if (st != SF_OK) {
        sf_source_close(s);
        return st;
    }
    *out = s;
    return SF_OK;
}

sf_status sfi_hdf5_open(sf_source **out, const char *file, const char *dataset,
                        const sf_source_options *opt, sf_error *err)
{
    *out = NULL;
    sf_source_options o;
    if (opt) o = *opt;
    else sf_source_options_init(&o);
    if (o.chunk_rows == 0) return sfi_fail(err, SF_ERR_ARG, NULL, "chunk_rows must be positive");
    sf_status st;
    H5E_BEGIN_TRY { st = do_open(out, file, dataset, &o, err); } H5E_END_TRY;
    return st;
}

/* ------------------------------------------------------------------ reading */


/* An enum or bitfield element read in its native integer form, widened. */
static double raw_int(const unsigned char *p, size_t size, bool is_signed)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u = 0;
    switch (size) {
    case 1: memcpy(&u8, p, 1); u = u8; break;
    case 2: memcpy(&u16, p, 2); u = u16; break;
    case 4: memcpy(&u32, p, 4); u = u32; break;
    default: memcpy(&u, p, 8); break;
    }
    if (is_signed && size < 8 && ((u >> (8 * size - 1)) & 1)) u |= ~(uint64_t)0 << (8 * size);
    return is_signed ? (double)(int64_t)u : (double)u;
}

/* Fills column c rows [0, k) from field f of the k records in buf. */
static sf_status scatter(hdf5_reader *r, const part *p, const field *f, size_t e, size_t k,
                         sf_error *err)
{
    sf_source *s = r->src;
    size_t c = f->cols[e];
    sf_column *col = &r->table->cols[c];
    col->is_integer = s->is_integer[c];
    const unsigned char *base = r->buf + f->offset + e * f->elem_size;
    if (f->kind == V_DOUBLE && s->types[c] == SF_COL_FLOAT) {
        /* the common case, as the loop below does it, without its per-value branches */
        double *values = col->values;
        uint8_t *miss = col->missing;
        const size_t stride = p->rec_size;
        for (size_t i = 0; i < k; i++) {
            double v;
            memcpy(&v, base + i * stride, sizeof v);
            bool m = isnan(v);
            miss[i] = m;
            values[i] = m ? NAN : v;
        }
        return SF_OK;
    }
    bool text = f->kind == V_FSTR || f->kind == V_VSTR;
    for (size_t i = 0; i < k; i++) {
        const unsigned char *q = base + i * p->rec_size;
        double v = NAN;
        const char *str = NULL;
        size_t len = 0;
        if (f->kind == V_DOUBLE) memcpy(&v, q, sizeof v);
        else if (f->kind == V_RAWINT) v = raw_int(q, f->elem_size, f->is_signed);
        else if (f->kind == V_VSTR) {
            memcpy(&str, q, sizeof str);
            if (!str) str = "";
            len = strlen(str);
        } else {
            str = (const char *)q;
            const char *z = memchr(str, '\0', f->elem_size);
            len = z ? (size_t)(z - str) : f->elem_size;
            if (f->space_pad)
                while (len && str[len - 1] == ' ') len--;
        }
        /* an empty string is missing, as in CSV (and as our sink writes a missing
         * category); pandas tables also mark missing strings with nan_rep */
        bool missing = text ? (len == 0 || (p->nan_rep && strlen(p->nan_rep) == len &&
                                            memcmp(p->nan_rep, str, len) == 0))
                            : isnan(v);
        col->missing[i] = missing;
        if (s->types[c] == SF_COL_FLOAT) {
            if (text && !missing) {
                /* a string column typed float by opt->types */
                bool bad = sf_parse_double(str, len, &v) == SF_NUM_NONE;
                if (bad) {
                    sf_where w = r->where;
                    w.row = r->cursor + i + 1;
                    w.field = c + 1;
                    sfi_fail(err, SF_ERR_PARSE, &w, "expected a number, got \"%.*s\"",
                             (int)(len > 60 ? 60 : len), str);
                    sfi_error_field(err, s->names[c]);
                    return SF_ERR_PARSE;
                }
                col->missing[i] = missing;
            }
            col->values[i] = missing ? NAN : v;
            continue;
        }
        if (missing) {
            col->codes[i] = -1;
            continue;
        }
        char num[40];
        if (!text) {
            /* integers as integers ("3", as patsy names int levels), else the shortest
             * "%.*g" text that reads back as v (io/number.c; 159 ns, not 4.2 us) */
            len = sfi_format_label(v, num, sizeof num);
            str = num;
        }
        sf_status st = sf_dict_intern(r->dicts[c], str, len, &col->codes[i], err);
        if (st != SF_OK) {
            if (err) {
                err->where = r->where;
                err->where.row = r->cursor + i + 1;
                err->where.field = c + 1;
                sfi_error_field(err, s->names[c]);
            }
            return st;
        }
    }
    return SF_OK;
}

/* Column c of the table holds k values read as doubles: NaN marks them missing
 * (as scatter does). */
static void mark_missing(hdf5_reader *r, size_t c, size_t k)
{
    sf_column *col = &r->table->cols[c];
    col->is_integer = r->src->is_integer[c];
    double *values = col->values;
    uint8_t *miss = col->missing;
    size_t n_miss = 0; /* branch-free, so it vectorises; NaNs made canonical after */
    for (size_t i = 0; i < k; i++) {
        uint8_t m = values[i] != values[i];
        miss[i] = m;
        n_miss += m;
    }
    for (size_t i = 0; n_miss && i < k; i++)
        if (miss[i]) values[i] = NAN;
}

static sf_status read_part(hdf5_reader *r, part *p, size_t k, sf_error *err)
{
    if (p->direct) {
        bool done;
        size_t c = p->fields[0].cols[0];
        sf_column *col = &r->table->cols[c];
        if (p->kind == PART_VECTOR && r->src->types[c] == SF_COL_FLOAT) {
            /* one float column: decoded straight into it, then NaN marked missing (as
             * scatter does), saving a copy through r->buf */
            SF_TRY(direct_read(r, p, (unsigned char *)col->values, k, &done, err));
            if (done) {
                mark_missing(r, c, k);
                return SF_OK;
            }
        } else {
            SF_TRY(direct_read(r, p, r->buf, k, &done, err));
            for (size_t e = 0; done && e < p->fields[0].count; e++)
                SF_TRY(scatter(r, p, &p->fields[0], e, k, err));
            if (done) return SF_OK;
        }
    }
    /* a matrix row is p elements of the file's second dimension; other parts are 1-D */
    bool matrix = p->kind == PART_MATRIX;
    hid_t fs = H5Dget_space(p->dset), ms = -1;
    hsize_t start[2] = {r->cursor, 0}, count[2] = {k, matrix ? p->fields[0].count : 1};
    bool ok = fs >= 0 &&
              H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
              (ms = H5Screate_simple(matrix ? 2 : 1, count, NULL)) >= 0 &&
              H5Dread(p->dset, p->mem_type, ms, fs, H5P_DEFAULT, r->buf) >= 0;
    sf_status st = SF_OK;
    if (!ok) {
        sf_where w = r->where;
        w.row = r->cursor + 1;
        char what[300];
        snprintf(what, sizeof what, "reading \"%s\"", p->path);
        st = fail_corrupt(err, &w, what);
    }
    for (size_t j = 0; ok && st == SF_OK && j < p->n_fields; j++)
        for (size_t e = 0; st == SF_OK && e < p->fields[j].count; e++)
            st = scatter(r, p, &p->fields[j], e, k, err);
    if (ok) {
        bool has_vlen = false;
        for (size_t j = 0; j < p->n_fields; j++) has_vlen |= p->fields[j].kind == V_VSTR;
        if (has_vlen) H5Dvlen_reclaim(p->mem_type, ms, H5P_DEFAULT, r->buf);
    }
    close_id(&ms);
    close_id(&fs);
    return st;
}

static const sf_table *chunk_done(hdf5_reader *r, size_t k);

/* Makes r's table on first use: a segment whose rows go straight into blocks
 * never needs its chunk of columns (8 MB for 50,000 x 21: 0.2-0.5 ms of memset and
 * mapping a segment). */
static sf_status need_table(hdf5_reader *r, sf_error *err)
{
    if (r->table) return SF_OK;
    sf_source *s = r->src;
    SF_TRY(sf_table_new(&r->table, s->n_cols, s->types, (const char *const *)s->names, r->dicts, r->cap_rows,
                        err));
    r->table->segment = r->segment;
    return SF_OK;
}

static sf_status do_next(sf_source *src, const sf_table **out, sf_error *err)
{
    hdf5_reader *r = src->impl;
    if (r->cursor >= r->end) return SF_END;
    SF_TRY(need_table(r, err));
    hsize_t left = r->end - r->cursor;
    size_t k = left < r->cap_rows ? (size_t)left : r->cap_rows;
    for (size_t j = 0; j < r->n_parts; j++) SF_TRY(read_part(r, &r->parts[j], k, err));
    *out = chunk_done(r, k);
    return SF_OK;
}

/* The table of the k rows just read; the reader moves past them. */
static const sf_table *chunk_done(hdf5_reader *r, size_t k)
{
    sf_source *src = r->src;
    sf_table *t = r->table;
    t->n_rows = k;
    t->first_row = r->cursor - r->begin + 1;
    t->segment = r->segment;
    memset(t->line, 0, k * sizeof *t->line);
    r->cursor += k;
    src->bytes_read += (uint64_t)k * src->n_cols * sizeof(double);
    return t;
}

static sf_status hdf5_next(sf_source *src, const sf_table **out, sf_error *err)
{
    sf_status st;
    H5E_BEGIN_TRY { st = do_next(src, out, err); } H5E_END_TRY;
    return st;
}

/* The next_rows op (source_impl.h): when every wanted column is a float 1-D
 * dataset read by direct chunk reads, only those columns are read, each into its
 * table column, and transposed into the block, NaN checked on the way; a chunk
 * with a NaN among them (or a column that needs H5Dread) is completed and returned
 * as the table next() gives. */
static size_t want_col(const sfi_rows_want *want, size_t j);

/* ------------------------------------------------- next_rows from mapped chunks
 *
 * Uncompressed native float64 chunks are read in place: the chunks of one chunk
 * row (rows [ci·crows, (ci+1)·crows)) of every wanted column are mapped at once
 * (one mmap over the span from the first to the last: the page
 * cache's own pages, no copy) and transposed straight from there into the block;
 * the mapping is dropped when the reader moves to the next chunk row, so a reader
 * holds one chunk row of the wanted columns mapped (peak RSS counts mapped
 * pages). Taken only when every wanted column is such a 1-D dataset with the same
 * chunk rows, addressed by the chunk index or lookup (see direct_setup) through the sec2
 * descriptor, every chunk stored whole within the file's size (checked: mapped
 * bytes past the end of a file fault), and the span at most four times the bytes
 * wanted. Anything else reads by pread as before. Only with SF_HDF5_MMAP=1 in the
 * environment: a file truncated in place while mapped would fault the process
 * (SIGBUS), and with merged passes reading in cache-sized parts pread is as fast
 * (scaler 2M x 20: 0.113 / 0.068 s for 1 / 2 threads by pread, 0.117 / 0.073 s
 * mapped; k-means 50,000-row chunks 0.085 vs 0.080 s). */

/* Whether r can map the chunks of want (decided once per wanted columns; want->p
 * <= the source's columns). */
static bool map_usable(hdf5_reader *r, const sfi_rows_want *want, size_t n_want)
{
    struct rowmap *m = &r->map;
    if (m->state != 0 && m->p == want->p && m->target == want->target && m->weight == want->weight &&
        (want->p == 0 || memcmp(m->cols, want->cols, want->p * sizeof *m->cols) == 0))
        return m->state > 0;
    unmap_all(m);
    if (want->p) memcpy(m->cols, want->cols, want->p * sizeof *m->cols);
    m->p = want->p;
    m->target = want->target;
    m->weight = want->weight;
    m->state = -1;
    const char *env = getenv("SF_HDF5_MMAP");
    if (!env || strcmp(env, "1") != 0 || r->fd < 0 || n_want == 0) return false;
    hsize_t crows = 0;
    for (size_t j = 0; j < n_want; j++) {
        const direct *d = r->vec_part[want_col(want, j)]->direct;
        const part *p = r->vec_part[want_col(want, j)];
        if (d->type != DT_F64 || d->shuffle || d->deflate || !(d->lookup || p->index.state > 0) ||
            (j && d->crows != crows))
            return false;
        crows = d->crows;
    }
    m->state = 1;
    return true;
}

static void unmap_all(struct rowmap *m)
{
    for (size_t i = 0; i < m->n_maps; i++) munmap(m->base[i], m->len[i]);
    m->n_maps = 0;
    m->ci = DIRECT_NONE;
}

/* Maps file bytes [lo, hi) (page-aligned down) as the next mapping of m; the
 * address of byte lo, or NULL. */
static const unsigned char *map_span(hdf5_reader *r, hsize_t lo, hsize_t hi)
{
    struct rowmap *m = &r->map;
    long pg = sysconf(_SC_PAGESIZE);
    hsize_t start = lo - lo % (hsize_t)(pg > 0 ? pg : 4096);
    void *base = mmap(NULL, (size_t)(hi - start), PROT_READ, MAP_PRIVATE, r->fd, (off_t)start);
    if (base == MAP_FAILED) return NULL;
    m->base[m->n_maps] = base;
    m->len[m->n_maps++] = (size_t)(hi - start);
    return (const unsigned char *)base + (lo - start);
}

/* Maps chunk row ci of the wanted columns: one mapping when their chunks lie
 * close together (at most four times the bytes wanted apart), else one each;
 * false when a chunk is not a whole stored chunk within the file (its size
 * taken now: mapped bytes past the end of a file would fault). */
static bool map_chunk_row(hdf5_reader *r, const sfi_rows_want *want, size_t n_want, hsize_t ci)
{
    struct rowmap *m = &r->map;
    if (m->ci == ci) return true;
    unmap_all(m);
    struct stat sb;
    if (fstat(r->fd, &sb) != 0 || sb.st_size < 0) return false;
    hsize_t size = (hsize_t)sb.st_size;
    const direct *d0 = r->vec_part[want_col(want, 0)]->direct;
    hsize_t bytes = d0->chunk_bytes, lo = (hsize_t)-1, hi = 0;
    hsize_t *where = m->where;
    for (size_t j = 0; j < n_want; j++) {
        part *p = r->vec_part[want_col(want, j)];
        haddr_t addr = HADDR_UNDEF;
        hsize_t stored = 0;
        unsigned fmask = 0;
        if (!chunk_where(r, p, ci, 0, &addr, &stored, &fmask) || addr == HADDR_UNDEF || stored != bytes || addr > size || r->base > size - addr || bytes > size - addr - r->base)
            return false;
        where[j] = addr + r->base;
        if (where[j] < lo) lo = where[j];
        if (where[j] + bytes > hi) hi = where[j] + bytes;
        p->direct->decoded++;
    }
    if (hi - lo <= 4 * (hsize_t)n_want * bytes) {
        const unsigned char *at = map_span(r, lo, hi);
        if (!at) return false;
        for (size_t j = 0; j < n_want; j++) m->at[j] = at + (where[j] - lo);
    } else {
        for (size_t j = 0; j < n_want; j++)
            if (!(m->at[j] = map_span(r, where[j], where[j] + bytes))) {
                unmap_all(m);
                return false;
            }
    }
    m->ci = ci;
    return true;
}

/* The k rows from r->cursor of the wanted columns from mapped chunks into b:
 * *done = false when they cannot be mapped (b's rows unspecified); *nan when a
 * wanted value is NaN. */
static void rows_mapped(hdf5_reader *r, const sfi_rows_want *want, size_t n_want, size_t k, sf_block *b,
                        bool *done, bool *nan)
{
    *done = *nan = false;
    if (!map_usable(r, want, n_want)) return;
    hsize_t crows = r->vec_part[want_col(want, 0)]->direct->crows, row = r->cursor;
    for (size_t out = 0; out < k;) {
        hsize_t ci = row / crows, r0 = row - ci * crows;
        size_t n = k - out < crows - r0 ? k - out : (size_t)(crows - r0);
        if (!map_chunk_row(r, want, n_want, ci)) return;
        for (size_t j = 0; j < n_want; j++) r->want_v[j] = r->map.at[j] + 8 * r0;
        bool bad = sfi_gather_cols(r->want_v, want->p, n, b->x + out * b->ld, b->ld);
        for (size_t j = want->p; j < n_want; j++) {
            double *dst = (j == want->p && want->target >= 0 ? b->y : b->w) + out;
            memcpy(dst, r->want_v[j], n * sizeof *dst);
            for (size_t i = 0; i < n; i++) bad |= dst[i] != dst[i];
        }
        *nan |= bad;
        row += n;
        out += n;
    }
    *done = true;
}

/* The j-th wanted column: features, then the target, then the weight. */
static size_t want_col(const sfi_rows_want *want, size_t j)
{
    if (j < want->p) return want->cols[j];
    return (size_t)(j == want->p && want->target >= 0 ? want->target : want->weight);
}

static sf_status do_next_rows(sf_source *src, const sfi_rows_want *want, sf_block *b, const sf_table **t_out,
                              sf_error *err)
{
    hdf5_reader *r = src->impl;
    *t_out = NULL;
    if (r->cursor >= r->end) return SF_END;
    size_t n_want = want->p + (want->target >= 0) + (want->weight >= 0);
    bool fits = n_want <= src->n_cols && b->capacity >= r->cap_rows && b->x && (want->target < 0 || b->y) &&
                (want->weight < 0 || b->w);
    for (size_t j = 0; fits && j < n_want; j++) {
        size_t c = want_col(want, j);
        fits = c < src->n_cols && r->vec_part[c];
    }
    if (!fits) return do_next(src, t_out, err);
    hsize_t left = r->end - r->cursor;
    size_t k = left < r->cap_rows ? (size_t)left : r->cap_rows;
    if (want->max_rows && k > want->max_rows) k = want->max_rows;
    if (!r->saw_nan) {
        bool done, nan;
        rows_mapped(r, want, n_want, k, b, &done, &nan);
        if (done && !nan) {
            b->n_rows = k;
            b->first_row = r->cursor - r->begin + 1;
            r->cursor += k;
            src->bytes_read += (uint64_t)k * src->n_cols * sizeof(double);
            return SF_OK;
        }
        /* a NaN: this chunk, and the rest of the reader's, read as below */
        if (done) r->saw_nan = true;
    }
    uint8_t *read = NULL; /* the wanted columns read (all of them, or none: the usual path) */
    SF_TRY(need_table(r, err));
    for (size_t j = 0; j < n_want; j++) {
        size_t c = want_col(want, j);
        double *v = r->table->cols[c].values;
        bool done = false;
        SF_TRY(direct_read(r, r->vec_part[c], (unsigned char *)v, k, &done, err));
        if (!done) return do_next(src, t_out, err);
        r->want_v[j] = v;
    }
    bool nan = sfi_gather_cols(r->want_v, want->p, k, b->x, b->ld);
    for (size_t j = want->p; j < n_want && !nan; j++) {
        const double *v = r->want_v[j];
        bool any = false;
        for (size_t i = 0; i < k; i++) any |= v[i] != v[i];
        nan = any;
    }
    if (nan) {
        /* the usual table: the other columns read, NaN marked missing */
        read = calloc(src->n_cols, 1);
        if (!read) return nomem(r, err);
        for (size_t j = 0; j < n_want; j++) {
            size_t c = want_col(want, j);
            if (!read[c]) mark_missing(r, c, k);
            read[c] = 1;
        }
        sf_status st = SF_OK;
        for (size_t j = 0; j < r->n_parts && st == SF_OK; j++) {
            part *p = &r->parts[j];
            bool need = false;
            for (size_t f = 0; f < p->n_fields; f++)
                for (size_t e = 0; e < p->fields[f].count; e++) need |= !read[p->fields[f].cols[e]];
            if (need) st = read_part(r, p, k, err);
        }
        free(read);
        SF_TRY(st);
        *t_out = chunk_done(r, k);
        return SF_OK;
    }
    if (want->target >= 0) memcpy(b->y, r->want_v[want->p], k * sizeof *b->y);
    if (want->weight >= 0) memcpy(b->w, r->want_v[n_want - 1], k * sizeof *b->w);
    b->n_rows = k;
    b->first_row = r->cursor - r->begin + 1;
    r->cursor += k;
    src->bytes_read += (uint64_t)k * src->n_cols * sizeof(double);
    return SF_OK;
}

static sf_status hdf5_next_rows(sf_source *src, const sfi_rows_want *want, sf_block *b, const sf_table **t_out,
                                sf_error *err)
{
    sf_status st;
    H5E_BEGIN_TRY { st = do_next_rows(src, want, b, t_out, err); } H5E_END_TRY;
    return st;
}

static sf_status hdf5_rewind(sf_source *src, sf_error *err)
{
    (void)err;
    hdf5_reader *r = src->impl;
    r->cursor = r->begin;
    src->bytes_read = 0;
    return SF_OK;
}

/* Segment length: segment_rows rounded to the nearest whole number (at least one)
 * of chunks of the main dataset when its chunks are filtered, so a segment's
 * reader never inflates a chunk that another segment also reads; else of tables
 * (chunk_rows), so segments do not end in a short block (a learner batching rows
 * across blocks copies less). Nearest, not up: 262,144 rows in 50,000-row tables
 * make 250,000-row segments, eight even tasks on 2M rows, where rounding up made
 * seven (six of 300,000 and one of 200,000), so one of two threads read 10% more
 * than the other and the scaler pass scaled 1.63x instead of 1.8x. */
static hsize_t segment_len(const hdf5_reader *r, const sf_source *src)
{
    hsize_t seg = src->opt.segment_rows ? src->opt.segment_rows : SF_SEGMENT_ROWS_DEFAULT;
    hsize_t c = r->filtered > 0 ? r->file_chunk_rows : src->opt.chunk_rows;
    if (c > 0) {
        /* (seg + c / 2) / c without the sum, which wraps for seg near 2^64 */
        hsize_t k = seg / c + (seg % c >= c - c / 2);
        if (k == 0) k = 1;
        if (k > (hsize_t)-1 / c) k = (hsize_t)-1 / c; /* a whole number of them that fits */
        seg = k * c;
    }
    return seg;
}

static sf_status hdf5_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    (void)err;
    hdf5_reader *r = src->impl;
    hsize_t seg = segment_len(r, src);
    hsize_t n = r->n_rows / seg + (r->n_rows % seg != 0); /* no n_rows + seg - 1: seg may be near 2^64 */
    *n_out = n ? (size_t)n : 1; /* an empty dataset is one empty segment */
    return SF_OK;
}

static hid_t share_id(hid_t id)
{
    if (id >= 0) H5Iinc_ref(id);
    return id;
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    *ok = *ok && (d || !s);
    return d;
}

/* A reader of parent's data sharing its file and datasets (their ids counted
 * once more each), so a segment opens with no HDF5 call: no second H5Fopen and
 * schema walk (about 1.2 ms under HDF5's lock a segment on a 21-column file),
 * and it reads the very file the source opened. Its direct chunk state is a
 * copy of the source's (direct_clone: the layout, with decode state of its own)
 * and its buffers are its own (finish_open: a closed segment's, or fresh). NULL
 * when out of memory. */
static hdf5_reader *clone_reader(const hdf5_reader *parent)
{
    hdf5_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    bool ok = true;
    r->fid = share_id(parent->fid);
    r->fd = parent->fd;
    r->base = parent->base;
    r->file = dup_or_null(parent->file, &ok);
    r->dataset = dup_or_null(parent->dataset, &ok);
    r->where = parent->where;
    r->n_rows = parent->n_rows;
    r->file_chunk_rows = parent->file_chunk_rows;
    r->filtered = parent->filtered;
    r->spares = spares_ref(parent->spares);
    r->info = calloc(parent->n_info ? parent->n_info : 1, sizeof *r->info);
    r->parts = calloc(parent->n_parts ? parent->n_parts : 1, sizeof *r->parts);
    ok = ok && r->info && r->parts;
    for (size_t j = 0; ok && j < parent->n_info; j++) {
        r->info[j] = parent->info[j];
        r->info[j].name = dup_or_null(parent->info[j].name, &ok);
        r->n_info = j + 1;
    }
    r->cap_info = r->n_info;
    for (size_t k = 0; ok && k < parent->n_parts; k++) {
        const part *q = &parent->parts[k];
        part *p = &r->parts[k];
        *p = *q;
        p->direct = q->direct ? direct_clone(q->direct) : NULL;
        ok = ok && (p->direct || !q->direct);
        p->fields = NULL;
        p->n_fields = 0;
        p->path = NULL;
        p->nan_rep = NULL;
        p->dset = share_id(q->dset);
        p->mem_type = share_id(q->mem_type);
        r->n_parts = k + 1;
        p->path = dup_or_null(q->path, &ok);
        p->nan_rep = dup_or_null(q->nan_rep, &ok);
        p->fields = calloc(q->n_fields ? q->n_fields : 1, sizeof *p->fields);
        ok = ok && p->fields;
        for (size_t j = 0; ok && j < q->n_fields; j++) {
            field *f = &p->fields[j];
            *f = q->fields[j];
            f->name = NULL;
            f->cols = NULL;
            f->mem_elem = share_id(q->fields[j].mem_elem);
            p->n_fields = j + 1;
            f->name = dup_or_null(q->fields[j].name, &ok);
            f->cols = malloc((f->count ? f->count : 1) * sizeof *f->cols);
            if (f->cols) memcpy(f->cols, q->fields[j].cols, f->count * sizeof *f->cols);
            ok = ok && f->cols;
        }
    }
    if (!ok) {
        reader_free(r);
        return NULL;
    }
    return r;
}

static sf_status do_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    hdf5_reader *parent = src->impl;
    size_t n;
    SF_TRY(hdf5_n_segments(src, &n, err));
    if (i >= n)
        return sfi_fail(err, SF_ERR_ARG, &parent->where, "segment %zu of %zu", i, n);
    hdf5_reader *r = clone_reader(parent);
    if (!r) return sfi_nomem(err);
    sf_source *s = NULL;
    sf_status st = sfi_source_alloc(&s, &hdf5_ops, src->name, &src->opt, src->n_cols,
                                    (const char *const *)src->names, err);
    if (st != SF_OK) {
        reader_free(r);
        return st;
    }
    s->impl = r;
    r->src = s;
    memcpy(s->types, src->types, src->n_cols * sizeof *s->types);
    memcpy(s->is_integer, src->is_integer, src->n_cols * sizeof *s->is_integer);
    hsize_t seg = segment_len(parent, src);
    r->segment = i;
    r->begin = r->cursor = (hsize_t)i * seg;
    r->end = r->begin < r->n_rows && seg < r->n_rows - r->begin ? r->begin + seg : r->n_rows; /* no wrap */
    if (r->begin > r->end) r->begin = r->cursor = r->end;
    st = finish_open(r, s, err);
    if (st != SF_OK) {
        sf_source_close(s);
        return st;
    }
    *out = s;
    return SF_OK;
}

static sf_status hdf5_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    sf_status st;
    H5E_BEGIN_TRY { st = do_open_segment(src, i, out, err); } H5E_END_TRY;
    return st;
}

static const sf_source_ops hdf5_ops = {
    .kind = "hdf5",
    .next = hdf5_next,
    .rewind = hdf5_rewind,
    .n_segments = hdf5_n_segments,
    .open_segment = hdf5_open_segment,
    .close = hdf5_close,
    .next_rows = hdf5_next_rows,
};

/* For the tests: how many chunks src's reader decoded by direct chunk reads (0 when
 * src is not an HDF5 source or none of its datasets qualifies), and how many of those
 * it read with pread(). */
static uint64_t direct_count(const sf_source *src, int what)
{
    if (!src || src->ops != &hdf5_ops) return 0;
    const hdf5_reader *r = src->impl;
    uint64_t n = 0;
    for (size_t k = 0; k < r->n_parts; k++) {
        const direct *d = r->parts[k].direct;
        if (d) n += what == 1 ? d->preads : what == 2 ? d->indexed : d->decoded;
    }
    return n;
}

size_t sfi_hdf5_spare_sets(const sf_source *src)
{
    if (!src || src->ops != &hdf5_ops) return 0;
    spares *sp = ((const hdf5_reader *)src->impl)->spares;
    if (!sp) return 0;
    pthread_mutex_lock(&sp->mu);
    size_t n = sp->n;
    pthread_mutex_unlock(&sp->mu);
    return n;
}

void sfi_hdf5_drop_spares(sf_source *src)
{
    if (!src || src->ops != &hdf5_ops) return;
    spares *sp = ((hdf5_reader *)src->impl)->spares;
    if (!sp) return;
    scratch gone[SPARES_MAX];
    pthread_mutex_lock(&sp->mu);
    size_t n = sp->n;
    memcpy(gone, sp->s, n * sizeof *gone);
    sp->n = 0;
    pthread_mutex_unlock(&sp->mu);
    for (size_t i = 0; i < n; i++) scratch_free(&gone[i]);
}

SFI_FUNC uint64_t sfi_hdf5_direct_chunks(const sf_source *src);
uint64_t sfi_hdf5_direct_chunks(const sf_source *src)
{
    return direct_count(src, 0);
}

SFI_FUNC uint64_t sfi_hdf5_direct_preads(const sf_source *src);
uint64_t sfi_hdf5_direct_preads(const sf_source *src)
{
    return direct_count(src, 1);
}

/* For the tests: chunk lookups src's reader answered from the chunk index read by
 * io/hdf5_index.c (0: none; HDF5's calls found them, or nothing was read). */
SFI_FUNC uint64_t sfi_hdf5_index_chunks(const sf_source *src);
uint64_t sfi_hdf5_index_chunks(const sf_source *src)
{
    return direct_count(src, 2);
}
