/* csv_source.c — CSV files and standard input as chunk sources, on libcsv.
 *
 * RFC 4180 with libcsv in strict mode: quoted fields may hold delimiters, quotes
 * and newlines; CRLF, LF or CR line ends; a UTF-8 BOM is skipped. libcsv reports
 * no positions, so the reader feeds it one physical line at a time and counts
 * lines itself: every error names the line (and, for one-line records, the byte
 * column of the field). Spaces around unquoted fields are kept (Decision 10).
 * Most lines never reach libcsv: between records, a line that is simple (no
 * quotes but around whole fields, no escaped quote, no line end inside quotes,
 * the schema's field count) is split by io/csv_scan.h and its fields go to the
 * same on_field / on_record handlers libcsv's callbacks call (feed_simple).
 *
 * Types are inferred from the first chunk, whose fields are kept as text until the
 * types are known (so standard input needs no rewind): compactly, each field as a
 * varint length and its bytes (no per-field offsets: ~21 MB for 50,000 rows of 20
 * doubles, was 29 MB), dropped as soon as the source is cut into segments (the
 * segments read the data themselves; the source, if read later, parses its first
 * chunk again). Segments are byte ranges
 * that start at record boundaries (a newline is a record end only outside quotes:
 * RFC 4180 escapes a quote as ""), planned lazily by io/csv_plan.c: no scan of
 * the whole file precedes a pass; each segment's opener scans its own block.
 *
 * The reader takes its bytes from a small input (in_open/in_read/in_seek): a plain
 * descriptor, or for "*.gz" a gzip stream that zlib inflates as it is read (no
 * temporary file; concatenated members are read on). A gzip file is one segment
 * and rewinds by inflating again from the start; byte counts are then compressed
 * bytes (gzoffset), so progress compares with the file size. A truncated or
 * corrupt stream is SF_ERR_PARSE naming the file.
 *
 * Without a header row (has_header false) the columns are named x0, x1, …: the
 * first record fixes their number and is also the first data row.
 *
 * Malformed rows (a wrong number of fields, a field of a float column that is not
 * a number): under SF_ON_ERROR_STOP the rows read before one are returned first
 * (a short chunk; during open the types come from them) and the error on the next
 * call; under SF_ON_ERROR_SKIP the row becomes a row with every field missing,
 * flagged in table->bad and counted (sfi_source_bad_row), and reading goes on: the
 * record's end is known (libcsv tokenizes on past it). Not resumable, even when
 * skipping: malformed quoting (a quote inside an unquoted field, text after a
 * closing quote) and an unterminated quote at the end, since where the record ends
 * depends on the broken quoting, and a categorical column over max_levels.
 *
 * Standard input may be gzip data: its first two bytes are sniffed (1f 8b) and it
 * is then inflated with zlib's inflate as it arrives (gzread would wait to fill
 * its buffer, which would stall a streaming job); concatenated members are read on.
 */
#define _GNU_SOURCE
#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/csv_plan.h"
#include "io/csv_scan.h"
#include "io/number_impl.h"
#include "io/source_impl.h"
#include "streamfit/sf_number.h"

enum { READ_SIZE = 1 << 20 };
/* libcsv's parser state before any byte of a record (ROW_NOT_BEGUN in libcsv.c). */
enum { LIBCSV_ROW_NOT_BEGUN = 0 };

typedef enum { MODE_HEADER, MODE_INFER, MODE_DATA } read_mode;

typedef struct csv_reader {
    sf_source *src;           /* back pointer: schema, options, counters */
    int fd;
    gzFile gz;                /* gzip input (".gz"; owns fd), else NULL */
    /* standard input: sniffed for gzip; raw bytes read ahead, and the inflater */
    bool sniffed, zin, z_in_eof, z_member_end;
    z_stream z;
    unsigned char *zbuf;
    size_t zbuf_len, zbuf_at;     /* plain bytes read while sniffing, not yet served */
    bool is_stdin, owns_fd;
    uint64_t start, end;      /* byte range [start, end); end = UINT64_MAX: to EOF */
    uint64_t start_line;      /* physical line number at start */
    uint64_t pos;             /* file offset of buf[0] */
    char *buf;
    size_t buf_len, buf_cap, buf_at;
    bool eof, finished;
    struct csv_parser parser;
    bool parser_ready;
    read_mode mode;
    uint64_t line;            /* line of the piece being fed */
    uint64_t rec_line;        /* line where the current record began */
    const char *piece;        /* the piece being fed (one physical line) */
    size_t piece_len;
    size_t field;             /* 0-based field index in the current record */
    uint64_t records;         /* data records completed (within this reader) */
    bool whole;               /* reading the whole source: rows are global */
    bool top;                 /* opened by sfi_csv_open (not a segment) */
    /* header */
    char **hdr;
    size_t *hdr_len;          /* field lengths (a field may hold NUL bytes) */
    size_t hdr_n, hdr_cap;
    /* inference: first chunk as text, each field a varint length + bytes; a
     * record's fields in order (none for a bad record) */
    unsigned char *txt;
    size_t txt_len, txt_cap;
    size_t txt_rec;           /* txt_len where the current record began */
    uint64_t *txt_line;
    uint8_t *txt_bad;         /* per record: malformed (SKIP) */
    size_t txt_rows;
    bool *col_num, *col_int, *col_seen;
    /* data */
    sf_table *table;
    sf_dict **dicts;
    bool *chunk_int;
    uint8_t *bad;             /* SKIP: chunk_rows flags lent as table->bad */
    bool skip;                /* opt.on_error == SF_ON_ERROR_SKIP */
    bool rec_bad;             /* SKIP: the current record is malformed ... */
    sf_error rec_err;         /* ... for its first problem */
    /* fast path (io/csv_scan.h): field bounds of the line being split */
    bool fast;
    size_t *ends;             /* 2 per column: start, end */
    size_t ends_cap;
    sf_status st;             /* error raised inside a libcsv callback */
    sf_error err;
    sf_status pending;        /* an error held back until the rows before it are out */
    sf_error pending_err;
    /* segments: planned on the first count (a plain file), none for gzip */
    sfi_csv_plan *plan;
    bool planned;
    uint64_t data_offset, data_line;
} csv_reader;

static const sf_source_ops csv_ops;

/* pandas' default na_values (pandas/_libs/parsers.pyx, STR_NA_VALUES). Every
 * category field is checked: a switch on the first byte lets ordinary labels
 * out before any comparison (the cases are the tokens' first bytes). */
static bool is_na_token(const char *s, size_t n)
{
    static const char *const na[] = {"",      "#N/A",  "#N/A N/A", "#NA",     "-1.#IND", "-1.#QNAN",
                                     "-NaN",  "-nan",  "1.#IND",   "1.#QNAN", "<NA>",    "N/A",
                                     "NA",    "NULL",  "NaN",      "None",    "n/a",     "nan",
                                     "null"};
    if (n == 0) return true;
    if (n > 8) return false;
    switch (s[0]) {
    case '#': case '-': case '1': case '<': case 'N': case 'n': break;
    default: return false;
    }
    for (size_t i = 0; i < sizeof na / sizeof na[0]; i++)
        if (strlen(na[i]) == n && memcmp(na[i], s, n) == 0) return true;
    return false;
}

/* Byte column (1-based) where field k starts in a one-line record, or 0. */
static uint64_t field_column(const char *line, size_t len, size_t k, char delim)
{
    size_t f = 0;
    bool quoted = false;
    for (size_t i = 0; i < len; i++) {
        if (f == k) return i + 1;
        char c = line[i];
        if (c == '"') quoted = !quoted;
        else if (c == delim && !quoted) f++;
    }
    return f == k ? len + 1 : 0;
}

static void where_here(csv_reader *r, sf_where *w, size_t field)
{
    sfi_where_init(w, r->src->name);
    w->line = r->rec_line;
    w->row = r->whole ? r->records + 1 : 0;
    w->field = field + 1;
    if (r->rec_line == r->line && r->piece)
        w->column = field_column(r->piece, r->piece_len, field, r->src->opt.delimiter);
}

/* Fills e with an error about field `field` of the current record, showing
 * (up to 80 bytes of) its text s[0..n) through fmt's two %s. */
static void field_error(csv_reader *r, sf_error *e, sf_status st, size_t field, const char *fmt,
                        const char *s, size_t n)
{
    sf_where w;
    where_here(r, &w, field);
    char shown[96];
    size_t k = n < 80 ? n : 80;
    memcpy(shown, s, k);
    shown[k] = '\0';
    sfi_fail(e, st, &w, fmt, shown, n > 80 ? "..." : "");
    if (field < r->src->n_cols) sfi_error_field(e, r->src->names[field]);
}

/* Records an error from inside a callback; later callbacks become no-ops. */
static void cb_fail(csv_reader *r, sf_status st, size_t field, const char *fmt, const char *s,
                    size_t n)
{
    if (SF_IS_ERROR(r->st)) return;
    r->st = st;
    field_error(r, &r->err, st, field, fmt, s, n);
}

/* Under STOP the error stops the reader (r->st, r->err); under SKIP the first
 * problem of the record is kept in r->rec_err and the record becomes a bad row
 * when it ends. Returns where to write the error, or NULL when there is nothing
 * more to say about this record. */
static sf_error *problem(csv_reader *r, sf_status st)
{
    if (r->skip) {
        if (r->rec_bad) return NULL;
        r->rec_bad = true;
        return &r->rec_err;
    }
    if (SF_IS_ERROR(r->st)) return NULL;
    r->st = st;
    return &r->err;
}

/* Field j of the current record is not a number but its column is float. */
static void bad_field(csv_reader *r, size_t j, const char *s, size_t n)
{
    sf_error *e = problem(r, SF_ERR_PARSE);
    if (e) field_error(r, e, SF_ERR_PARSE, j, "expected a number, got \"%s%s\"", s, n);
}

/* Row `row` of the chunk becomes a malformed row: every field missing, flagged,
 * and counted with the record's first problem. */
static void blank_row(csv_reader *r, size_t row)
{
    for (size_t j = 0; j < r->src->n_cols; j++) {
        sf_column *c = &r->table->cols[j];
        if (c->type == SF_COL_FLOAT) c->values[row] = NAN;
        else c->codes[row] = -1;
        c->missing[row] = 1;
    }
    r->bad[row] = 1;
    r->table->bad = r->bad;
    sfi_source_bad_row(r->src, &r->rec_err);
    r->rec_bad = false;
}

static sf_status store_field(csv_reader *r, size_t row, size_t j, const char *s, size_t n)
{
    sf_column *c = &r->table->cols[j];
    if (c->type == SF_COL_FLOAT) {
        double v;
        sf_numkind k = sf_parse_double(s, n, &v);
        if (k != SF_NUM_NONE) {
            c->values[row] = v;
            c->missing[row] = isnan(v);
            if (k == SF_NUM_FLOAT) r->chunk_int[j] = false;
        } else if (is_na_token(s, n)) {
            /* as pandas: a missing value makes an integer column float64 */
            c->values[row] = NAN;
            c->missing[row] = 1;
            r->chunk_int[j] = false;
        } else {
            bad_field(r, j, s, n);
            return r->skip ? SF_OK : SF_ERR_PARSE;
        }
    } else {
        if (is_na_token(s, n)) {
            c->codes[row] = -1;
            c->missing[row] = 1;
        } else {
            int32_t code;
            sf_error e;
            if (SF_IS_ERROR(sf_dict_intern(r->dicts[j], s, n, &code, &e))) {
                cb_fail(r, e.status, j, "%s%s: too many distinct values", s, n);
                snprintf(r->err.message, sizeof r->err.message, "%s", e.message);
                return e.status;
            }
            c->codes[row] = code;
            c->missing[row] = 0;
        }
    }
    return SF_OK;
}

static sf_status txt_reserve(csv_reader *r, size_t n)
{
    if (r->txt_len + n <= r->txt_cap) return SF_OK;
    size_t cap = r->txt_cap ? r->txt_cap : 1 << 16;
    while (cap < r->txt_len + n) cap += cap / 2; /* x1.5: less slack at the end */
    unsigned char *t = realloc(r->txt, cap);
    if (!t) return SF_ERR_NOMEM;
    r->txt = t;
    r->txt_cap = cap;
    return SF_OK;
}

/* Appends v as a varint (7 bits a byte, low first); room for 10 bytes reserved. */
static void txt_varint(csv_reader *r, size_t v)
{
    do {
        r->txt[r->txt_len++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static size_t txt_read_varint(const csv_reader *r, size_t *at)
{
    size_t v = 0;
    unsigned shift = 0;
    unsigned char b;
    do {
        b = r->txt[(*at)++];
        v |= (size_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    return v;
}

static sf_status txt_push(csv_reader *r, const char *s, size_t n)
{
    SF_TRY(txt_reserve(r, n + 10));
    txt_varint(r, n);
    memcpy(r->txt + r->txt_len, s, n);
    r->txt_len += n;
    return SF_OK;
}

/* The field at *at of the kept text; moves *at past it. */
static const char *txt_field(const csv_reader *r, size_t *at, size_t *n)
{
    *n = txt_read_varint(r, at);
    const char *s = (const char *)r->txt + *at;
    *at += *n;
    return s;
}

/* Keeps field j of a first-chunk record as text. */
static void infer_field(csv_reader *r, const char *text, size_t n)
{
    if (txt_push(r, text, n) != SF_OK) r->st = sfi_nomem(&r->err);
}

/* A first-chunk record has ended: a good one narrows the column types; a bad
 * one (SKIP: its number of fields was wrong, the only fault found before the
 * types are known) keeps its flag and, as its text, that number, so the replay
 * counts it in data order with the faults it finds itself. */
static void infer_record(csv_reader *r, bool bad, size_t nf)
{
    if (bad) {
        r->txt_len = r->txt_rec;
        if (txt_reserve(r, 10) != SF_OK) r->st = sfi_nomem(&r->err);
        else txt_varint(r, nf);
    }
    for (size_t at = r->txt_rec, j = 0; !bad && j < r->src->n_cols; j++) {
        size_t n;
        const char *text = txt_field(r, &at, &n);
        double v;
        sf_numkind k = sf_parse_double(text, n, &v);
        if (k == SF_NUM_INT) r->col_seen[j] = true;
        else if (k == SF_NUM_FLOAT) r->col_int[j] = false; /* incl. "nan": float64 in pandas */
        else if (is_na_token(text, n)) r->col_int[j] = false;
        else r->col_num[j] = r->col_int[j] = false;
    }
    r->txt_bad[r->txt_rows] = bad;
    r->txt_line[r->txt_rows++] = r->rec_line;
    r->txt_rec = r->txt_len;
}

static void on_field(void *s, size_t n, void *ctx)
{
    csv_reader *r = ctx;
    const char *text = s ? s : "";
    if (SF_IS_ERROR(r->st)) return;
    size_t j = r->field++;
    if (r->mode == MODE_HEADER) {
        if (r->hdr_n == r->hdr_cap) {
            size_t cap = r->hdr_cap ? r->hdr_cap * 2 : 16;
            char **h = realloc(r->hdr, cap * sizeof *h);
            if (h) r->hdr = h;
            size_t *hl = h ? realloc(r->hdr_len, cap * sizeof *hl) : NULL;
            if (!hl) {
                r->st = sfi_nomem(&r->err);
                return;
            }
            r->hdr_len = hl;
            r->hdr_cap = cap;
        }
        char *f = malloc(n + 1);
        if (!f) {
            r->st = sfi_nomem(&r->err);
            return;
        }
        memcpy(f, text, n);
        f[n] = '\0';
        r->hdr[r->hdr_n] = f;
        r->hdr_len[r->hdr_n++] = n;
        return;
    }
    if (j >= r->src->n_cols) {
        /* under SKIP the record's end says how many fields it had */
        if (j == r->src->n_cols && !r->skip) {
            sf_where w;
            where_here(r, &w, j);
            r->st = sfi_fail(&r->err, SF_ERR_PARSE, &w, "expected %zu fields, got more",
                             r->src->n_cols);
        }
        return;
    }
    if (r->rec_bad) return;
    if (r->mode == MODE_INFER) {
        infer_field(r, text, n);
        return;
    }
    store_field(r, r->table->n_rows, j, text, n);
}

static void on_record(int c, void *ctx)
{
    (void)c;
    csv_reader *r = ctx;
    if (SF_IS_ERROR(r->st)) return;
    size_t nf = r->field;
    r->field = 0;
    if (r->mode == MODE_HEADER) {
        r->mode = MODE_INFER;
        return;
    }
    if (nf != r->src->n_cols) {
        /* too many fields under STOP failed at the first extra one */
        sf_error *e = problem(r, SF_ERR_PARSE);
        if (e) {
            sf_where w;
            where_here(r, &w, nf);
            w.field = 0;
            w.column = 0;
            sfi_fail(e, SF_ERR_PARSE, &w, "expected %zu fields, got %zu", r->src->n_cols, nf);
        }
        if (SF_IS_ERROR(r->st)) return;
    }
    bool bad = r->rec_bad;
    if (r->mode == MODE_INFER) {
        r->rec_bad = false;
        infer_record(r, bad, nf);
    } else {
        if (bad) blank_row(r, r->table->n_rows);
        r->table->line[r->table->n_rows++] = r->rec_line;
    }
    r->records++;
}

static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

static sf_status parser_init(csv_reader *r, sf_error *err)
{
    if (r->parser_ready) csv_free(&r->parser);
    r->parser_ready = false;
    if (csv_init(&r->parser, CSV_STRICT | CSV_STRICT_FINI) != 0) return sfi_nomem(err);
    csv_set_delim(&r->parser, (unsigned char)r->src->opt.delimiter);
    csv_set_space_func(&r->parser, no_space);
    r->parser_ready = true;
    char d = r->src->opt.delimiter;
    r->fast = sfi_csv_fast_path() && d != '"' && d != '\r' && d != '\n';
    r->field = 0;
    return SF_OK;
}

static sf_status in_error(csv_reader *r, sf_status st, sf_error *err, const char *what,
                          const char *why)
{
    sf_where w;
    sfi_where_init(&w, r->src->name);
    return sfi_fail(err, st, &w, "%s: %s", what, why);
}

/* zlib's last error without its "<fd:N>: " prefix (we name the file ourselves). */
static const char *gz_message(gzFile gz, int *zerr)
{
    const char *msg = gzerror(gz, zerr);
    const char *cut = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
    return cut ? cut + 2 : msg;
}

/* One read(2): what is there now (a pipe), at most want bytes; 0 at the end. */
static sf_status raw_read(csv_reader *r, void *dst, size_t want, size_t *got, sf_error *err)
{
    ssize_t n;
    do n = read(r->fd, dst, want);
    while (n < 0 && errno == EINTR);
    if (n < 0) return in_error(r, SF_ERR_IO, err, "read failed", strerror(errno));
    *got = (size_t)n;
    return SF_OK;
}

enum { ZBUF_SIZE = 1 << 16 };

/* Standard input, plain or gzip (sniffed on the first call: 1f 8b). Returns
 * what one read(2) brings, inflated, so a streaming job is never kept waiting
 * for a full buffer. Data after a gzip member that is not another member is
 * ignored, as gzip and zlib's gzread do. */
static sf_status stdin_read(csv_reader *r, char *dst, size_t want, size_t *got, sf_error *err)
{
    *got = 0;
    if (!r->sniffed) {
        r->sniffed = true;
        if (!(r->zbuf = malloc(ZBUF_SIZE))) return sfi_nomem(err);
        while (r->zbuf_len < 2) { /* a pipe may bring one byte at a time */
            size_t n = 0;
            SF_TRY(raw_read(r, r->zbuf + r->zbuf_len, ZBUF_SIZE - r->zbuf_len, &n, err));
            if (n == 0) break;
            r->zbuf_len += n;
        }
        if (r->zbuf_len >= 2 && r->zbuf[0] == 0x1f && r->zbuf[1] == 0x8b) {
            memset(&r->z, 0, sizeof r->z);
            if (inflateInit2(&r->z, 15 + 16) != Z_OK) return sfi_nomem(err); /* gzip only */
            r->zin = true;
            r->z.next_in = r->zbuf;
            r->z.avail_in = (uInt)r->zbuf_len;
            r->zbuf_len = 0;
        }
    }
    if (!r->zin) {
        if (r->zbuf_at < r->zbuf_len) { /* the bytes read while sniffing */
            size_t n = r->zbuf_len - r->zbuf_at < want ? r->zbuf_len - r->zbuf_at : want;
            memcpy(dst, r->zbuf + r->zbuf_at, n);
            r->zbuf_at += n;
            *got = n;
            return SF_OK;
        }
        return raw_read(r, dst, want, got, err);
    }
    if (want > UINT_MAX) want = UINT_MAX;
    for (;;) {
        if (r->z.avail_in == 0 && !r->z_in_eof) {
            size_t n = 0;
            SF_TRY(raw_read(r, r->zbuf, ZBUF_SIZE, &n, err));
            r->z_in_eof = n == 0;
            r->z.next_in = r->zbuf;
            r->z.avail_in = (uInt)n;
        }
        if (r->z_member_end) {
            if (r->z.avail_in == 0 && r->z_in_eof) return SF_OK; /* the end */
            if (r->z.avail_in == 0) continue;
            if (r->z.next_in[0] != 0x1f) { /* trailing garbage */
                r->z.avail_in = 0;
                r->z_in_eof = true;
                return SF_OK;
            }
            if (inflateReset(&r->z) != Z_OK) return sfi_nomem(err);
            r->z_member_end = false;
        }
        r->z.next_out = (Bytef *)dst;
        r->z.avail_out = (uInt)want;
        int rc = inflate(&r->z, Z_NO_FLUSH);
        *got = want - r->z.avail_out;
        if (rc == Z_STREAM_END) r->z_member_end = true;
        else if (rc == Z_MEM_ERROR) return sfi_nomem(err);
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return in_error(r, SF_ERR_PARSE, err, "corrupt gzip data", r->z.msg ? r->z.msg : "bad stream");
        else if (*got == 0 && r->z.avail_in == 0 && r->z_in_eof)
            return in_error(r, SF_ERR_PARSE, err, "truncated gzip data", "the input ends inside a member");
        if (*got > 0) return SF_OK;
    }
}

/* Reads up to want bytes into dst; *got = 0 at the end of the input. */
static sf_status in_read(csv_reader *r, char *dst, size_t want, size_t *got, sf_error *err)
{
    *got = 0;
    if (r->is_stdin) return stdin_read(r, dst, want, got, err);
    if (!r->gz) return raw_read(r, dst, want, got, err);
    if (want > INT_MAX / 2) want = INT_MAX / 2;
    int n = gzread(r->gz, dst, (unsigned)want);
    int zerr = Z_OK;
    const char *msg = gz_message(r->gz, &zerr);
    if (n < 0 && zerr == Z_ERRNO)
        return in_error(r, SF_ERR_IO, err, "read failed", strerror(errno));
    if (n < 0) return in_error(r, SF_ERR_PARSE, err, "corrupt gzip data", msg);
    /* zlib reports a stream cut short as Z_BUF_ERROR once no byte is left */
    if (n == 0 && zerr == Z_BUF_ERROR)
        return in_error(r, SF_ERR_PARSE, err, "truncated gzip file", msg);
    if (n > 0 && gzdirect(r->gz))
        return in_error(r, SF_ERR_PARSE, err, "not gzip data",
                        "the name ends in .gz but the file is not compressed");
    *got = (size_t)n;
    return SF_OK;
}

/* Moves the input to byte offset (of the uncompressed text). zlib emulates a
 * gzip seek by inflating again from the start up to offset. */
static sf_status in_seek(csv_reader *r, uint64_t offset, sf_error *err)
{
    if (r->gz) {
        if (offset > (uint64_t)LONG_MAX || gzseek(r->gz, (z_off_t)offset, SEEK_SET) < 0) {
            int zerr = Z_OK;
            const char *msg = gz_message(r->gz, &zerr);
            return in_error(r, zerr == Z_ERRNO ? SF_ERR_IO : SF_ERR_PARSE, err, "cannot seek",
                            zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        return SF_OK;
    }
    if (lseek(r->fd, (off_t)offset, SEEK_SET) < 0)
        return in_error(r, SF_ERR_IO, err, "cannot seek", strerror(errno));
    return SF_OK;
}

static sf_status read_more(csv_reader *r, sf_error *err)
{
    /* keep the unconsumed tail (a partial line) at the front */
    if (r->buf_at > 0) {
        memmove(r->buf, r->buf + r->buf_at, r->buf_len - r->buf_at);
        r->pos += r->buf_at;
        r->buf_len -= r->buf_at;
        r->buf_at = 0;
    }
    size_t read_size = sfi_csv_read_size();
    if (r->buf_cap - r->buf_len < read_size / 2) {
        size_t cap = r->buf_cap ? r->buf_cap * 2 : read_size;
        char *b = realloc(r->buf, cap);
        if (!b) return sfi_nomem(err);
        r->buf = b;
        r->buf_cap = cap;
    }
    size_t want = r->buf_cap - r->buf_len;
    if (r->end != UINT64_MAX) {
        uint64_t left = r->end - (r->pos + r->buf_len);
        if (left < want) want = (size_t)left;
    }
    if (want == 0) {
        r->eof = true;
        return SF_OK;
    }
    size_t got;
    SF_TRY(in_read(r, r->buf + r->buf_len, want, &got, err));
    if (got == 0) r->eof = true;
    r->buf_len += got;
    if (r->gz) r->src->bytes_read = (uint64_t)gzoffset(r->gz);
    else r->src->bytes_read += (uint64_t)got;
    return SF_OK;
}

static sf_status parse_failure(csv_reader *r, sf_error *err, bool at_end)
{
    sf_where w;
    sfi_where_init(&w, r->src->name);
    w.line = at_end ? r->rec_line : r->line;
    w.row = r->whole ? r->records + 1 : 0;
    int e = csv_error(&r->parser);
    if (e == CSV_ENOMEM || e == CSV_ETOOBIG) return sfi_nomem(err);
    if (at_end) return sfi_fail(err, SF_ERR_PARSE, &w, "unterminated quoted field");
    return sfi_fail(err, SF_ERR_PARSE, &w, "malformed quoting (a quote inside an unquoted "
                                           "field, or text after a closing quote)");
}

/* The fast path: when the parser is between records and the next line is
 * simple (io/csv_scan.h) with the schema's field count, splits it and calls
 * on_field / on_record as libcsv would. Returns false (nothing done) otherwise.
 * flatten: the handlers are inlined here (libcsv calls the same code out of line). */
static __attribute__((flatten)) bool feed_simple(csv_reader *r, char *p, size_t avail)
{
    size_t nc = r->src->n_cols;
    if (r->ends_cap < 2 * nc) {
        size_t *e = realloc(r->ends, 2 * nc * sizeof *e);
        if (!e) return false; /* libcsv needs no such array */
        r->ends = e;
        r->ends_cap = 2 * nc;
    }
    size_t nf = 0;
    size_t len = sfi_csv_split_simple(p, avail, r->src->opt.delimiter, r->ends, nc, &nf);
    if (len == 0 || nf != nc) return false;
    r->rec_line = r->line;
    r->piece = p;
    r->piece_len = len;
    if (r->mode == MODE_DATA) {
        /* a number in a float column is stored here (the parser called without
         * the PLT); anything else (a missing value, a label, an error) takes
         * on_field's way */
        const size_t row = r->table->n_rows;
        for (size_t k = 0; k < nf; k++) {
            const char *s = p + r->ends[2 * k];
            const size_t n = r->ends[2 * k + 1] - r->ends[2 * k];
            sf_column *c = &r->table->cols[k];
            double v;
            sf_numkind kind;
            if (c->type == SF_COL_FLOAT && n > 0 && !r->rec_bad &&
                (kind = sfi_parse_double(s, n, &v)) != SF_NUM_NONE) {
                c->values[row] = v;
                c->missing[row] = isnan(v);
                if (kind == SF_NUM_FLOAT) r->chunk_int[k] = false;
                continue;
            }
            r->field = k;
            on_field(p + r->ends[2 * k], n, r);
        }
        r->field = nf;
    } else {
        for (size_t k = 0; k < nf; k++)
            on_field(p + r->ends[2 * k], r->ends[2 * k + 1] - r->ends[2 * k], r);
    }
    on_record('\n', r);
    if (SF_IS_ERROR(r->st)) return true;
    r->buf_at += len;
    r->line++;
    return true;
}

/* Feeds the next physical line to libcsv (or to feed_simple). Returns SF_OK after
 * one piece, SF_END at the end of input (after csv_fini), or an error. */
static sf_status feed_piece(csv_reader *r, sf_error *err)
{
    for (;;) {
        const char *p = r->buf ? r->buf + r->buf_at : NULL; /* no buffer before the first read */
        size_t avail = r->buf_len - r->buf_at;
        if (r->fast && avail && r->mode != MODE_HEADER &&
            r->parser.pstate == LIBCSV_ROW_NOT_BEGUN && feed_simple(r, r->buf + r->buf_at, avail)) {
            if (SF_IS_ERROR(r->st)) goto callback_error;
            return SF_OK;
        }
        const char *nl = avail ? memchr(p, '\n', avail) : NULL;
        size_t len = nl ? (size_t)(nl - p) + 1 : 0;
        if (!nl && r->eof) len = avail;
        if (len == 0 && !r->eof) {
            SF_TRY(read_more(r, err));
            continue;
        }
        if (len == 0) {
            /* end of input: flush a last record without a line end */
            r->piece = NULL;
            if (csv_fini(&r->parser, on_field, on_record, r) != 0) {
                if (SF_IS_ERROR(r->st)) goto callback_error;
                return parse_failure(r, err, true);
            }
            if (SF_IS_ERROR(r->st)) goto callback_error;
            r->finished = true;
            return SF_END;
        }
        /* a bare CR also ends a record: feed up to it so one piece holds <= 1 record */
        const char *cr = memchr(p, '\r', len);
        bool bare_cr = cr && (size_t)(cr - p) + 1 < len && cr[1] != '\n';
        if (bare_cr) len = (size_t)(cr - p) + 1;
        if (r->parser.pstate == LIBCSV_ROW_NOT_BEGUN) r->rec_line = r->line;
        r->piece = p;
        r->piece_len = len;
        size_t used = csv_parse(&r->parser, p, len, on_field, on_record, r);
        if (SF_IS_ERROR(r->st)) goto callback_error;
        if (used != len) return parse_failure(r, err, false);
        r->buf_at += len;
        if (p[len - 1] == '\n' || bare_cr) r->line++;
        return SF_OK;
    }
callback_error:
    if (err) *err = r->err;
    return r->st;
}

/* Standard input only: true when no complete line is buffered, the parser is
 * between records and nothing more can be read right now. A chunk then ends
 * early, so a streaming job answers each row as soon as it is complete. */
static bool would_block(const csv_reader *r)
{
    if (!r->is_stdin || r->eof || r->parser.pstate != LIBCSV_ROW_NOT_BEGUN) return false;
    size_t avail = r->buf_len - r->buf_at;
    if (avail && memchr(r->buf + r->buf_at, '\n', avail)) return false;
    /* bytes already read: plain ones from the sniff, or compressed ones (inflate
     * takes all its input while it has room, so input left means output left) */
    if (r->zbuf_at < r->zbuf_len || (r->zin && r->z.avail_in > 0)) return false;
    struct pollfd pf = {.fd = r->fd, .events = POLLIN};
    return poll(&pf, 1, 0) == 0;
}

static void reader_free(void *impl)
{
    csv_reader *r = impl;
    if (!r) return;
    if (r->gz) gzclose_r(r->gz);
    else if (r->owns_fd && r->fd >= 0) close(r->fd);
    if (r->parser_ready) csv_free(&r->parser);
    free(r->buf);
    for (size_t i = 0; i < r->hdr_n; i++) free(r->hdr[i]);
    free(r->hdr);
    free(r->hdr_len);
    free(r->txt);
    free(r->txt_line);
    free(r->txt_bad);
    free(r->bad);
    free(r->zbuf);
    if (r->zin) inflateEnd(&r->z);
    free(r->col_num);
    free(r->col_int);
    free(r->col_seen);
    sf_table_free(r->table);
    if (r->dicts && r->src)
        for (size_t j = 0; j < r->src->n_cols; j++) sf_dict_free(r->dicts[j]);
    free(r->dicts);
    free(r->chunk_int);
    sfi_csv_plan_free(r->plan);
    free(r->ends);
    free(r);
}

/* Allocates the chunk table and the dictionaries once the schema is fixed. */
static sf_status make_table(csv_reader *r, sf_error *err)
{
    sf_source *s = r->src;
    r->dicts = calloc(s->n_cols, sizeof *r->dicts);
    r->chunk_int = calloc(s->n_cols, sizeof *r->chunk_int);
    if (!r->dicts || !r->chunk_int) return sfi_nomem(err);
    for (size_t j = 0; j < s->n_cols; j++)
        if (s->types[j] == SF_COL_CATEGORY) SF_TRY(sf_dict_new(&r->dicts[j], s->opt.max_levels, err));
    r->skip = s->opt.on_error == SF_ON_ERROR_SKIP;
    if (r->skip && !(r->bad = malloc(s->opt.chunk_rows))) return sfi_nomem(err);
    return sf_table_new(&r->table, s->n_cols, s->types, (const char *const *)s->names,
                        r->dicts, s->opt.chunk_rows, err);
}

static void begin_chunk(csv_reader *r)
{
    r->table->n_rows = 0;
    r->table->bad = NULL;
    if (r->bad) memset(r->bad, 0, r->table->capacity);
    r->table->first_row = r->records + 1;
    for (size_t j = 0; j < r->src->n_cols; j++) r->chunk_int[j] = true;
}

static void end_chunk(csv_reader *r)
{
    for (size_t j = 0; j < r->src->n_cols; j++)
        r->table->cols[j].is_integer =
            r->table->cols[j].type == SF_COL_FLOAT && r->chunk_int[j];
}

static void drop_text(csv_reader *r)
{
    free(r->txt);
    r->txt = NULL;
    r->txt_len = r->txt_cap = r->txt_rec = 0;
    r->txt_rows = 0;
}

/* Holds err back: the rows before it go out first, the error on the next call. */
static void hold_error(csv_reader *r, sf_status st, const sf_error *err)
{
    r->pending = st;
    r->pending_err = *err;
    r->finished = true;
}

/* Converts the first chunk, kept as text during inference, into the table. A
 * field that does not fit an enforced type (opt->types) makes a bad row (SKIP) or
 * ends the chunk before its row (STOP: the error is held back). */
static sf_status replay_first_chunk(csv_reader *r, sf_error *err)
{
    size_t nc = r->src->n_cols;
    uint64_t saved_records = r->records, saved_line = r->rec_line;
    r->records = 0;
    r->st = SF_OK;
    begin_chunk(r);
    size_t at = 0, i = 0;
    for (; i < r->txt_rows; i++) {
        r->rec_line = r->txt_line[i];
        r->piece = NULL;
        r->table->line[i] = r->txt_line[i];
        if (r->txt_bad[i]) {
            /* a record with the wrong number of fields, kept as that number */
            size_t nf = txt_read_varint(r, &at);
            sf_where w;
            where_here(r, &w, 0);
            w.field = 0;
            sfi_fail(&r->rec_err, SF_ERR_PARSE, &w, "expected %zu fields, got %zu", nc, nf);
            blank_row(r, i);
            r->records++;
            continue;
        }
        for (size_t j = 0; j < nc && !SF_IS_ERROR(r->st); j++) {
            size_t n;
            const char *s = txt_field(r, &at, &n);
            store_field(r, i, j, s, n);
        }
        if (SF_IS_ERROR(r->st)) break;
        if (r->rec_bad) blank_row(r, i);
        r->records++;
    }
    r->table->n_rows = i;
    r->records = saved_records;
    r->rec_line = saved_line;
    end_chunk(r);
    drop_text(r);
    if (SF_IS_ERROR(r->st)) {
        /* a later error held back during inference comes after this one */
        sf_status st = r->st;
        r->st = SF_OK;
        if (i == 0) {
            r->finished = true;
            r->pending = SF_OK;
            if (err) *err = r->err;
            return st;
        }
        hold_error(r, st, &r->err);
    }
    return SF_OK;
}

static sf_status csv_next(sf_source *src, const sf_table **out, sf_error *err)
{
    csv_reader *r = src->impl;
    if (r->txt_rows > 0) {
        /* the first chunk of the whole source was parsed during open */
        SF_TRY(replay_first_chunk(r, err));
        *out = r->table;
        return SF_OK;
    }
    if (r->pending != SF_OK) {
        sf_status st = r->pending;
        r->pending = SF_OK;
        if (err) *err = r->pending_err;
        return st;
    }
    if (r->finished) return SF_END;
    begin_chunk(r);
    sf_error e;
    while (r->table->n_rows < r->table->capacity) {
        if (r->table->n_rows > 0 && would_block(r)) break;
        sf_status st = feed_piece(r, &e);
        if (st == SF_END) break;
        if (SF_IS_ERROR(st)) {
            if (r->table->n_rows == 0) {
                if (err) *err = e;
                return st;
            }
            hold_error(r, st, &e); /* the rows before it first */
            break;
        }
    }
    if (r->table->n_rows == 0) return SF_END;
    end_chunk(r);
    *out = r->table;
    return SF_OK;
}

static sf_status seek_to(csv_reader *r, uint64_t offset, uint64_t line, sf_error *err)
{
    SF_TRY(in_seek(r, offset, err));
    r->pos = offset;
    r->buf_len = r->buf_at = 0;
    r->eof = r->finished = false;
    r->line = r->rec_line = line;
    r->records = 0;
    r->st = SF_OK;
    r->mode = MODE_DATA;
    r->rec_bad = false;
    r->pending = SF_OK;
    drop_text(r);
    return parser_init(r, err);
}

static sf_status csv_rewind(sf_source *src, sf_error *err)
{
    csv_reader *r = src->impl;
    if (r->is_stdin) {
        sf_where w;
        sfi_where_init(&w, src->name);
        return sfi_fail(err, SF_ERR_UNSUPPORTED, &w, "standard input cannot be rewound");
    }
    sf_status st = seek_to(r, r->start, r->start_line, err);
    /* a whole file's header was read once and counts (bytes_read ends at the
     * file size); a segment counts from its start; gzip counts compressed bytes */
    if (st == SF_OK) src->bytes_read = r->top && !r->gz ? r->start : 0;
    return st;
}

/* Plans the segments of a plain file (io/csv_plan.c): a few reads where the
 * cuts fall; the blocks between them are scanned as the segments are opened. */
static sf_status plan_segments(csv_reader *r, sf_error *err)
{
    struct stat sb;
    bool stat_ok = fstat(r->fd, &sb) == 0; /* sb is unset when it fails */
    if (!stat_ok || !S_ISREG(sb.st_mode)) {
        sf_where w;
        sfi_where_init(&w, r->src->name);
        return sfi_fail(err, SF_ERR_IO, &w, "cannot cut into segments: %s",
                        stat_ok ? "not a regular file" : strerror(errno));
    }
    return sfi_csv_plan_new(&r->plan, r->fd, r->src->name, r->data_offset, r->data_line,
                            (uint64_t)sb.st_size, r->src->opt.segment_bytes, err);
}

static sf_status csv_n_segments(sf_source *src, size_t *n_out, sf_error *err)
{
    csv_reader *r = src->impl;
    if (r->is_stdin) {
        *n_out = 1;
        return SF_OK;
    }
    /* a gzip stream cannot be entered in the middle: one segment, to the end */
    if (!r->planned && !r->gz) SF_TRY(plan_segments(r, err));
    r->planned = true;
    size_t n = r->gz ? 1 : sfi_csv_plan_count(r->plan);
    if (r->txt_rows > 0 && n > 1) {
        /* segments will read the data: the first chunk's text (tens of MB at large
         * chunk sizes) is not kept meanwhile; reading src itself parses it again */
        SF_TRY(seek_to(r, r->start, r->start_line, err));
        if (!r->gz) src->bytes_read = r->start;
    }
    *n_out = n;
    return SF_OK;
}

static sf_status open_fd(const char *path, int *fd_out, uint64_t *size_out, sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sfi_fail(err, SF_ERR_IO, &w, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        close(fd);
        return sfi_fail(err, SF_ERR_IO, &w, "cannot read: %s",
                        S_ISDIR(sb.st_mode) ? "is a directory" : strerror(errno));
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    *fd_out = fd;
    *size_out = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    return SF_OK;
}

static bool is_gz_name(const char *path)
{
    size_t n = strlen(path);
    return n > 3 && strcmp(path + n - 3, ".gz") == 0;
}

/* Opens path as r's input: gzip when gzip is set (the reader then owns the
 * descriptor through r->gz). */
static sf_status in_open(csv_reader *r, const char *path, bool gzip, uint64_t *size_out,
                         sf_error *err)
{
    SF_TRY(open_fd(path, &r->fd, size_out, err));
    r->owns_fd = true;
    if (!gzip) return SF_OK;
    r->gz = gzdopen(r->fd, "rb");
    if (!r->gz) {
        close(r->fd);
        r->fd = -1;
        return sfi_nomem(err);
    }
    gzbuffer(r->gz, 1 << 17);
    return SF_OK;
}

/* Opens the byte range of a segment of the CSV file path with like's schema
 * and options (like is the parent, or a multi-file source holding this file). */
static sf_status open_range(sf_source **out, const sf_source *like, const char *path,
                            const sfi_csv_range *range, size_t segment, sf_error *err)
{
    sf_source *s = NULL;
    SF_TRY(sfi_source_alloc(&s, &csv_ops, path, &like->opt, like->n_cols,
                            (const char *const *)like->names, err));
    memcpy(s->types, like->types, like->n_cols * sizeof *s->types);
    memcpy(s->is_integer, like->is_integer, like->n_cols * sizeof *s->is_integer);
    csv_reader *r = calloc(1, sizeof *r);
    if (!r) {
        sfi_source_free_header(s);
        return sfi_nomem(err);
    }
    s->impl = r;
    r->src = s;
    r->fd = -1;
    uint64_t size = 0;
    sf_status st = in_open(r, path, is_gz_name(path), &size, err);
    if (st != SF_OK) goto fail;
    r->start = range->start;
    r->end = range->end;
    r->start_line = range->line;
    r->whole = range->whole;
    s->size = r->gz ? size : r->end - r->start;
    st = make_table(r, err);
    if (st != SF_OK) goto fail;
    r->table->segment = segment;
    st = seek_to(r, r->start, r->start_line, err);
    if (st != SF_OK) goto fail;
    *out = s;
    return SF_OK;
fail:
    sf_source_close(s);
    return st;
}

bool sfi_source_is_csv(const sf_source *src) { return src && src->ops == &csv_ops; }

sf_status sfi_csv_range_of(sf_source *src, size_t i, sfi_csv_range *out, sf_error *err)
{
    csv_reader *parent = src->impl;
    size_t n = 0;
    /* counted already when segments are opened from several threads */
    if (!parent->planned) SF_TRY(csv_n_segments(src, &n, err));
    if (parent->is_stdin)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "standard input cannot be split");
    n = parent->gz ? 1 : sfi_csv_plan_count(parent->plan);
    if (i >= n) return sfi_fail(err, SF_ERR_ARG, NULL, "segment %zu of %zu", i, n);
    if (parent->gz) {
        *out = (sfi_csv_range){parent->data_offset, UINT64_MAX, parent->data_line, true};
        return SF_OK;
    }
    *out = (sfi_csv_range){0, 0, 0, n == 1};
    return sfi_csv_plan_range(parent->plan, i, &out->start, &out->end, &out->line, err);
}

void sfi_csv_data_range(const sf_source *src, sfi_csv_range *out)
{
    const csv_reader *r = src->impl;
    *out = (sfi_csv_range){r->data_offset, r->gz ? UINT64_MAX : src->size, r->data_line, true};
}

sf_status sfi_csv_open_range(sf_source **out, const sf_source *like, const char *path,
                             const sfi_csv_range *range, size_t segment, sf_error *err)
{
    return open_range(out, like, path, range, segment, err);
}

static sf_status csv_open_segment(sf_source *src, size_t i, sf_source **out, sf_error *err)
{
    sfi_csv_range range = {0};
    SF_TRY(sfi_csv_range_of(src, i, &range, err));
    return open_range(out, src, src->name, &range, i, err);
}

static void csv_close(void *impl) { reader_free(impl); }

static const sf_source_ops csv_ops = {
    .kind = "csv",
    .next = csv_next,
    .rewind = csv_rewind,
    .n_segments = csv_n_segments,
    .open_segment = csv_open_segment,
    .close = csv_close,
};

/* Reads the header and the first chunk (as text) and fixes the column types. */
static sf_status read_head(csv_reader *r, const sf_source_options *opt, const char *name,
                           sf_error *err)
{
    sf_where w;
    sfi_where_init(&w, name);
    SF_TRY(read_more(r, err));
    /* UTF-8 byte order mark */
    if (r->buf_len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->buf_at = 3;
    uint64_t first_offset = r->buf_at;
    r->mode = MODE_HEADER;
    r->line = r->rec_line = 1;
    while (r->mode == MODE_HEADER) {
        sf_status st = feed_piece(r, err);
        if (SF_IS_ERROR(st)) return st;
        if (st == SF_END) break;
    }
    if (r->hdr_n == 0)
        return sfi_fail(err, SF_ERR_PARSE, &w, opt->has_header ? "empty file: no header row"
                                                               : "empty file: no rows");
    if (r->mode == MODE_HEADER) r->mode = MODE_INFER; /* header without a line end */
    r->data_offset = r->pos + r->buf_at;
    r->data_line = r->line;
    if (!opt->has_header) {
        /* the record just read is data: segments and rewinds start before it */
        r->data_offset = first_offset;
        r->data_line = 1;
        return SF_OK;
    }
    for (size_t j = 0; j < r->hdr_n; j++) {
        for (size_t k = 0; k < j; k++)
            if (strcmp(r->hdr[j], r->hdr[k]) == 0) {
                w.line = 1;
                w.field = j + 1;
                return sfi_fail(err, SF_ERR_PARSE, &w, "duplicate column name \"%s\"", r->hdr[j]);
            }
    }
    return SF_OK;
}

sf_status sfi_csv_open(sf_source **out, const char *path, const sf_source_options *opt,
                       const sf_source *like, sf_error *err)
{
    *out = NULL;
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    csv_reader *r = calloc(1, sizeof *r);
    if (!r) return sfi_nomem(err);
    /* a provisional header so the reader can report errors before the schema exists */
    sf_source tmp;
    memset(&tmp, 0, sizeof tmp);
    sfi_strlcpy(tmp.name, name, sizeof tmp.name);
    tmp.opt = *opt;
    r->src = &tmp;
    r->fd = -1;
    r->end = UINT64_MAX;
    r->whole = r->top = true;
    r->is_stdin = is_stdin;
    r->skip = opt->on_error == SF_ON_ERROR_SKIP;
    sf_status st;
    uint64_t size = 0;
    sf_source *s = NULL;
    if (is_stdin) r->fd = STDIN_FILENO;
    else {
        st = in_open(r, path, is_gz_name(path), &size, err);
        if (st != SF_OK) goto fail;
    }
    st = parser_init(r, err);
    if (st != SF_OK) goto fail;
    st = read_head(r, opt, name, err);
    if (st != SF_OK) goto fail;

    st = sfi_source_alloc(&s, &csv_ops, name, opt, r->hdr_n, (const char *const *)r->hdr, err);
    if (st != SF_OK) goto fail;
    for (size_t j = 0; !opt->has_header && j < r->hdr_n; j++) {
        char *x;
        if (asprintf(&x, "x%zu", j) < 0) {
            sf_source_close(s); /* impl not attached yet: frees the header only */
            s = NULL;
            st = sfi_nomem(err);
            goto fail;
        }
        free(s->names[j]);
        s->names[j] = x;
    }
    s->impl = r;
    s->size = size;
    s->bytes_read = tmp.bytes_read;
    s->bad = tmp.bad; /* none yet: bad rows are met while inferring, below */
    r->src = s;
    r->start = r->data_offset;
    r->start_line = r->data_line;
    if (like) {
        /* a later file of a multi-file source: the first file's types, enforced
         * (no inference, so errors in the first rows also name their column);
         * a header alone is a file without rows */
        st = sfi_source_check_columns(like, s, false, err);
        if (st != SF_OK) goto fail;
        memcpy(s->types, like->types, s->n_cols * sizeof *s->types);
        memcpy(s->is_integer, like->is_integer, s->n_cols * sizeof *s->is_integer);
        r->mode = MODE_DATA;
        st = make_table(r, err);
        if (st == SF_OK && !opt->has_header) {
            /* the record that gave the column count is data: read it again */
            st = seek_to(r, r->start, r->start_line, err);
            if (!r->gz) s->bytes_read = r->start;
        }
        if (st != SF_OK) goto fail;
        *out = s;
        return SF_OK;
    }
    r->col_num = malloc(s->n_cols * sizeof *r->col_num);
    r->col_int = malloc(s->n_cols * sizeof *r->col_int);
    r->col_seen = calloc(s->n_cols, sizeof *r->col_seen);
    r->txt_line = malloc(opt->chunk_rows * sizeof *r->txt_line);
    r->txt_bad = malloc(opt->chunk_rows);
    if (!r->col_num || !r->col_int || !r->col_seen || !r->txt_line || !r->txt_bad) {
        st = sfi_nomem(err);
        goto fail;
    }
    for (size_t j = 0; j < s->n_cols; j++) r->col_num[j] = r->col_int[j] = true;
    if (!opt->has_header) {
        /* the first record, read to count the columns, is the first data row */
        for (size_t j = 0; j < r->hdr_n; j++) infer_field(r, r->hdr[j], r->hdr_len[j]);
        if (SF_IS_ERROR(r->st)) {
            st = r->st;
            if (err) *err = r->err;
            goto fail;
        }
        infer_record(r, false, r->hdr_n); /* at r->rec_line: empty lines may come first */
        r->records++;
    }
    /* parse the first chunk as text */
    while (r->txt_rows < opt->chunk_rows) {
        if (r->txt_rows > 0 && would_block(r)) break; /* types from the rows so far */
        sf_error e;
        st = feed_piece(r, &e);
        if (st == SF_END) break;
        if (st != SF_OK && r->txt_rows == 0) {
            if (err) *err = e;
            goto fail;
        }
        if (st != SF_OK) {
            /* STOP: types from the rows before the error, which comes after them */
            r->st = SF_OK;
            hold_error(r, st, &e);
            st = SF_OK;
            break;
        }
    }
    if (r->txt_rows == 0) {
        sf_where w;
        sfi_where_init(&w, name);
        w.line = r->data_line;
        st = sfi_fail(err, SF_ERR_PARSE, &w, "no data rows after the header");
        goto fail;
    }
    for (size_t j = 0; j < s->n_cols; j++) {
        s->types[j] = r->col_num[j] ? SF_COL_FLOAT : SF_COL_CATEGORY;
        s->is_integer[j] = r->col_num[j] && r->col_int[j] && r->col_seen[j];
    }
    st = sfi_source_apply_types(s, err);
    if (st != SF_OK) goto fail;
    r->mode = MODE_DATA;
    st = make_table(r, err);
    if (st != SF_OK) goto fail;
    *out = s;
    return SF_OK;
fail:
    if (s) sf_source_close(s);
    else reader_free(r);
    return st;
}
