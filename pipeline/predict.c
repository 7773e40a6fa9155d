/* predict.c — a fitted pipeline over a whole source into a sink, in input order.
 *
 * A splittable source is predicted segment by segment on the pool's threads, and
 * written in order. A segment's output is a list of pieces (rows x outputs doubles
 * plus a flag a row), each of about PIECE_BYTES whatever the number of outputs:
 * the rows of a chunk are predicted a slice at a time, a slice filling at most what
 * is left of the last piece (a design's rows, and sparse rows, a chunk at a time
 * into a piece of its rows). The worker of the segment due next writes each piece
 * as it fills, and the rest at the end of a chunk; a worker ahead of it keeps its
 * pieces. A worker that finishes a segment before it is due leaves its output
 * behind and takes the next; whichever worker makes a segment due writes every
 * finished one after it. The bytes of the pieces of the segments not due, in
 * progress or finished, are counted, and a worker ahead waits while that is threads
 * x HOLD_BYTES or more, so memory is bounded whatever the size of the file, of a
 * segment or of a row's output (the pool hands segments out in order, so the
 * segment due is always being worked on or finished). Writes run outside the job's
 * lock, one thread at a time (the turn, job->writing): the workers ahead go on
 * parsing and predicting while the due one writes. A piece goes to the sink as one
 * table, converted in the job's one table (the turn keeps it to one thread). A
 * source read once (standard input) is predicted chunk by chunk on the calling
 * thread and each chunk written (and flushed, for streaming jobs) before the next
 * is read.
 *
 * Memory: per worker a source chunk, a slice of input rows (PIECE_BYTES; a formula
 * pipeline's design builds a whole chunk's rows) and the piece being filled;
 * threads x HOLD_BYTES of pieces held; one write table. Before the pieces, a
 * segment's output was one buffer grown by half up to the hold and beyond it (the
 * rows held were counted, not the buffer: one worker's buffer could take the whole
 * hold), written buffers were kept for reuse at their largest, and each chunk's
 * input rows and each write's table were whole chunks (65,536 rows a table), so
 * 20 outputs (a scaler over bench/data/cls2000000.raw.h5) peaked at 37 MiB on 1
 * thread, 82 on 2, 101 on 3 and 129 on 4 (heaptrack on 4 threads: 45 MB of output
 * buffers, 10 of write tables, 10 of input rows; glibc's arenas were not it:
 * MALLOC_ARENA_MAX=2 gave 82 and 117); in pieces 31, 44, 52 and 60.5 MiB, as fast
 * (k-means' 8 distances: 29, 55, 75 and 90 MiB before, 27, 39, 46 and 52.5 now).
 * Pieces, input slices and the write table are reused from segment to segment, not
 * freed and made again: with glibc's moving mmap threshold that churn of
 * multi-megabyte blocks between threads made the peak RSS grow with the number of
 * segments (the 2M-row design convert 55 MiB, 6M rows 72 MiB; reused: flat).
 *
 * A row with a missing feature gets empty output fields and is counted; so does
 * a malformed row the source skipped (SF_ON_ERROR_SKIP; counted apart). When the
 * source stops at a malformed row (SF_ON_ERROR_STOP) the rows before it are
 * written first: a segment that fails hands over what it predicted, is written
 * after the segments before it, and nothing after it is. (A prediction that fails
 * part-way through a chunk leaves the slices before it predicted, and written.)
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/source_impl.h"
#include "pipeline/pipeline_impl.h"
#include "streamfit/sf_pool.h"
#include "streamfit/sf_sink.h"

/* Output the segments not due may hold, per worker, before a worker ahead waits
 * for its turn. With two workers at equal speed the one ahead does not wait while
 * this is a segment's output or more: an HDF5 segment (250,000 rows) of
 * probabilities is ~4.3 MB; a 32 MiB CSV segment's design rows are ~33 MB, so there
 * the worker ahead waited half of the time (0.04 s a segment), and `convert
 * --formula` cuts its CSV into 4 MiB segments (cli/convert.c; ~3.9 MB of design
 * rows each). 4 MiB: `convert --formula` of 2.5M rows on 2 threads, zlib 1, 0.62 s
 * and 47-48 MiB peak (8 MiB: 0.61-0.70 s, 51-52 MiB and growing with the file; 2
 * MiB: 1.05-1.23 s). SF_PREDICT_HOLD_BYTES in the environment sets the total (for
 * the tests: 1 makes every worker ahead wait after each piece). */
#define HOLD_BYTES ((size_t)4 << 20)
/* Bytes of one output piece (and of one slice of input rows predicted at a time),
 * at least a row's. SF_PREDICT_PIECE_BYTES in the environment sets it (for the
 * tests: a few rows a piece and a slice, so chunks split). */
#define PIECE_BYTES ((size_t)512 << 10)
/* Rows of one piece, at most. */
#define WRITE_ROWS ((size_t)65536)
/* predict_table's seg for a source read once: each piece is written as it fills. */
#define STREAM ((size_t)-1)

void sf_predict_options_init(sf_predict_options *o)
{
    memset(o, 0, sizeof *o);
}

/* Rows of output, in a list. */
typedef struct piece {
    struct piece *next;
    double *v;          /* cap x q */
    double *y;          /* design rows: cap responses */
    uint8_t *missing;   /* cap */
    size_t n, cap;
} piece;

/* Output of one segment (or one chunk): its pieces in row order. */
typedef struct outbuf {
    piece *head, *tail;
    size_t bytes;       /* the pieces' capacity in bytes */
    size_t counted;     /* bytes of it counted in job->held */
    bool done;
    bool failed;        /* the segment stopped at an error: the last one written */
} outbuf;

/* A worker's input rows, kept across segments. */
typedef struct scratch {
    double *x;          /* x_cap x p */
    size_t x_cap;
    size_t *rows;       /* design pipelines: the table row of each built row */
    size_t rows_cap;
} scratch;

typedef struct predict_job {
    const sf_pipeline *pl;
    const sf_design *design;    /* sf_design_convert: write its rows as /X and /y */
    uint64_t dropped;
    sf_output what;
    size_t q;
    bool with_y;            /* design rows with their responses */
    size_t piece_rows;      /* rows of a piece (PIECE_BYTES), and of a table written */
    size_t slice_rows;      /* input rows predicted at a time (PIECE_BYTES) */
    const size_t *cols;     /* source column of each feature */
    sf_source *src;
    sf_sink *sink;
    char **names;           /* q output names */
    sf_dict *labels;        /* categorical target: class labels in class order */
    sf_table *wt;           /* the table pieces are written through (the turn's) */
    outbuf *out;            /* per segment */
    piece *spare;           /* written pieces kept for reuse */
    scratch *scr;           /* per worker */
    size_t n_seg, next;     /* next segment to write */
    pthread_mutex_t mu;
    pthread_cond_t due;     /* next moved, or a segment failed */
    size_t failed_seg;      /* the first segment that failed (n_seg: none yet): the
                               segments after it stop, the ones before go on, so
                               every row before the first error is written */
    size_t hold;            /* output the segments not due may hold in all: workers x
                               HOLD_BYTES, or the environment's */
    size_t held;            /* what they hold (in progress or finished) */
    bool writing;           /* a thread writes to the sink, outside mu */
    uint64_t rows, unpredictable, malformed;
    sf_error write_err;
    sf_status write_st;
} predict_job;

/* Bytes of one row of output. */
static size_t row_bytes(const predict_job *job)
{
    return (job->q ? job->q : 1) * sizeof(double) + 1 + (job->with_y ? sizeof(double) : 0);
}

/* Sizes pieces and slices for the job's outputs and p input columns. */
static void size_pieces(predict_job *job, size_t p)
{
    const char *env = getenv("SF_PREDICT_PIECE_BYTES");
    size_t bytes = env && atol(env) > 0 ? (size_t)atol(env) : PIECE_BYTES;
    size_t r = bytes / row_bytes(job);
    job->piece_rows = r < 1 ? 1 : r > WRITE_ROWS ? WRITE_ROWS : r;
    r = bytes / ((p ? p : 1) * sizeof(double));
    job->slice_rows = r < 1 ? 1 : r;
}

static void piece_free(piece *pc)
{
    if (!pc) return;
    free(pc->v);
    free(pc->y);
    free(pc->missing);
    free(pc);
}

static void pieces_free(piece *pc)
{
    while (pc) {
        piece *next = pc->next;
        piece_free(pc);
        pc = next;
    }
}

/* An empty piece with room for rows rows (piece_rows at least): a spare one, grown
 * when it is smaller, or a new one; NULL when out of memory. */
static piece *piece_get(predict_job *job, size_t rows)
{
    pthread_mutex_lock(&job->mu);
    piece *pc = job->spare;
    if (pc) job->spare = pc->next;
    pthread_mutex_unlock(&job->mu);
    if (!pc && !(pc = calloc(1, sizeof *pc))) return NULL;
    pc->next = NULL;
    pc->n = 0;
    size_t cap = rows > job->piece_rows ? rows : job->piece_rows, q = job->q ? job->q : 1;
    if (pc->cap >= cap) return pc;
    double *v = realloc(pc->v, cap * q * sizeof *v);
    if (v) pc->v = v;
    uint8_t *m = realloc(pc->missing, cap);
    if (m) pc->missing = m;
    double *y = job->with_y ? realloc(pc->y, cap * sizeof *y) : NULL;
    if (y) pc->y = y;
    if (!v || !m || (job->with_y && !y)) {
        piece_free(pc);
        return NULL;
    }
    pc->cap = cap;
    return pc;
}

/* The piece o's next `need` rows go to: its last while that has room for them, else
 * a new one appended. */
static sf_status room_for(predict_job *job, outbuf *o, size_t need, piece **out, sf_error *err)
{
    piece *pc = o->tail;
    if (!pc || pc->cap - pc->n < need) {
        if (!(pc = piece_get(job, need))) return sfi_nomem(err);
        if (o->tail) o->tail->next = pc;
        else o->head = pc;
        o->tail = pc;
        o->bytes += pc->cap * row_bytes(job);
    }
    *out = pc;
    return SF_OK;
}

/* Gives o's pieces to the spares (o is emptied); called with mu held. */
static void keep_pieces(predict_job *job, outbuf *o)
{
    if (o->tail) {
        o->tail->next = job->spare;
        job->spare = o->head;
    }
    o->head = o->tail = NULL;
    o->bytes = 0;
}

/* The CSR rows of t (a sparse source), predicted into pc (room for them). */
static sf_status predict_csr_table(predict_job *job, const sf_table *t, piece *pc, sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    size_t q = job->q;
    sfi_plan pn = {.sparse = true, .p = pl->n_features, .target = 0, .weight = -1, .chunk_rows = t->n_rows};
    sf_block *b = NULL;
    uint64_t none = 0;
    sf_status st = sfi_plan_block(&pn, pn.p, &b, err);
    if (st == SF_OK) st = sfi_sparse_rows(&pn, t, false, b, NULL, &none, sf_source_name(job->src), err);
    if (st == SF_OK) st = sfi_predict_csr(pl, (sfi_output)job->what, b->csr, b->n_rows, pc->v + pc->n * q, q, err);
    sf_block_free(b);
    if (st != SF_OK) return st;
    memset(pc->missing + pc->n, 0, t->n_rows);
    pc->n += t->n_rows;
    return SF_OK;
}

/* Malformed rows among rows [i0, i0 + n) of t that miss marks (miss[0] is row i0's). */
static uint64_t count_bad(const sf_table *t, size_t i0, size_t n, const uint8_t *miss)
{
    uint64_t k = 0;
    for (size_t i = 0; t->bad && i < n; i++) k += t->bad[i0 + i] && miss[i];
    return k;
}

/* Room in s for rows input rows of p columns. */
static sf_status scratch_reserve(scratch *s, size_t rows, size_t p, bool with_rows, sf_error *err)
{
    if (s->x_cap < rows) {
        double *nx = realloc(s->x, rows * (p ? p : 1) * sizeof *nx);
        if (!nx) return sfi_nomem(err);
        s->x = nx;
        s->x_cap = rows;
    }
    if (with_rows && s->rows_cap < rows) {
        size_t *nr = realloc(s->rows, rows * sizeof *nr);
        if (!nr) return sfi_nomem(err);
        s->rows = nr;
        s->rows_cap = rows;
    }
    return SF_OK;
}

static sf_status piece_full(predict_job *job, size_t seg, outbuf *o, sf_error *err);

/* The design's rows of t, and its responses, appended to o (one piece). */
static sf_status design_table(predict_job *job, const sf_table *t, outbuf *o, uint64_t *unpredictable,
                              sf_error *err)
{
    piece *pc = NULL;
    SF_TRY(room_for(job, o, t->n_rows, &pc, err));
    size_t n = 0;
    sf_status st = sf_design_build(job->design, t, pc->v + pc->n * job->q, job->q,
                                   job->with_y ? pc->y + pc->n : NULL, &n, unpredictable, err);
    if (st != SF_OK && err && !err->where.source[0])
        sfi_strlcpy(err->where.source, sf_source_name(job->src), sizeof err->where.source);
    pc->n += st == SF_OK ? n : 0;
    /* a malformed row (every field missing) is among the dropped rows here */
    return st;
}

/* Predicts the rows of t and appends them to o, a slice at a time; hands each
 * piece that fills over (piece_full) before the next. s is the worker's scratch. */
static sf_status predict_table(predict_job *job, size_t seg, const sf_table *t, scratch *s, outbuf *o,
                               uint64_t *unpredictable, uint64_t *malformed, sf_error *err)
{
    if (job->design) return design_table(job, t, o, unpredictable, err);
    piece *pc = NULL;
    if (t->csr) {
        SF_TRY(room_for(job, o, t->n_rows, &pc, err));
        return predict_csr_table(job, t, pc, err);
    }
    const sf_design *pd = job->pl->design;
    size_t p = job->pl->n_features, q = job->q;
    size_t built = 0, r = 0; /* a design pipeline's rows built, and the next one */
    uint64_t dropped = 0, bad = 0;
    if (pd) {
        /* the design builds the rows it can (a whole chunk); the others stay empty */
        SF_TRY(scratch_reserve(s, t->n_rows, p, true, err));
        sf_status st = sf_design_build_rows(pd, t, s->x, p, NULL, s->rows, &built, &dropped, err);
        if (st != SF_OK) {
            if (err && !err->where.source[0])
                sfi_strlcpy(err->where.source, sf_source_name(job->src), sizeof err->where.source);
            return st;
        }
    } else {
        SF_TRY(scratch_reserve(s, t->n_rows < job->slice_rows ? t->n_rows : job->slice_rows, p, false, err));
    }
    /* the common chunk: no bad row, nothing missing in the model's columns */
    bool complete = !pd && !(t->bad && memchr(t->bad, 1, t->n_rows));
    for (size_t j = 0; j < p && complete; j++) complete = !memchr(t->cols[job->cols[j]].missing, 1, t->n_rows);
    for (size_t i0 = 0; i0 < t->n_rows;) {
        SF_TRY(room_for(job, o, 1, &pc, err));
        size_t n = t->n_rows - i0, k = 0;
        if (n > pc->cap - pc->n) n = pc->cap - pc->n;
        if (!pd && n > job->slice_rows) n = job->slice_rows;
        uint8_t *miss = pc->missing + pc->n;
        const double *x = s->x;
        if (pd) {
            size_t r0 = r;
            x = s->x + r0 * p;
            for (size_t i = 0; i < n; i++) {
                miss[i] = !(r < built && s->rows[r] == i0 + i);
                r += !miss[i];
            }
            k = r - r0;
            bad += count_bad(t, i0, n, miss);
        } else if (complete) {
            const void *v[64];
            for (size_t j0 = 0; j0 < p; j0 += 64) {
                size_t m = p - j0 < 64 ? p - j0 : 64;
                for (size_t j = 0; j < m; j++) v[j] = t->cols[job->cols[j0 + j]].values + i0;
                (void)sfi_gather_cols(v, m, n, s->x + j0, p);
            }
            memset(miss, 0, n);
            k = n;
        } else {
            for (size_t i = 0; i < n; i++) {
                size_t row = i0 + i;
                bool m = t->bad && t->bad[row];
                if (m) (*malformed)++;
                for (size_t j = 0; j < p && !m; j++) m = t->cols[job->cols[j]].missing[row];
                miss[i] = m;
                if (m) {
                    *unpredictable += !(t->bad && t->bad[row]);
                    continue;
                }
                for (size_t j = 0; j < p; j++) s->x[k * p + j] = t->cols[job->cols[j]].values[row];
                k++;
            }
        }
        /* predict the complete rows, then spread them back over their places */
        double *dst = pc->v + pc->n * q;
        SF_TRY(sf_pipeline_predict_as(job->pl, job->what, x, k, p, p, dst, q, err));
        for (size_t i = n; i-- > 0;) {
            if (miss[i]) {
                for (size_t m = 0; m < q; m++) dst[i * q + m] = NAN;
                continue;
            }
            k--;
            if (k != i) memmove(dst + i * q, dst + k * q, q * sizeof *dst);
        }
        pc->n += n;
        i0 += n;
        if (pc->n == pc->cap && i0 < t->n_rows) SF_TRY(piece_full(job, seg, o, err));
    }
    if (pd) {
        *malformed += bad;
        *unpredictable += dropped - (bad < dropped ? bad : dropped);
    }
    return SF_OK;
}

/* Writes pc's rows to the sink: a design's as /X and /y, else as tables (a
 * category column for class labels) through job->wt; the caller holds the turn. */
static sf_status write_piece(predict_job *job, const piece *pc, sf_error *err)
{
    if (pc->n == 0) return SF_OK;
    size_t q = job->q;
    if (job->design) {
        SF_TRY(sf_sink_write_matrix(job->sink, "X", pc->v, pc->n, q, q, (const char *const *)job->names, err));
        if (!job->with_y) return SF_OK;
        return sf_sink_write_matrix(job->sink, "y", pc->y, pc->n, 0, 0, NULL, err);
    }
    if (!job->wt) {
        sf_coltype *types = malloc(q * sizeof *types);
        if (!types) return sfi_nomem(err);
        for (size_t m = 0; m < q; m++) types[m] = job->labels ? SF_COL_CATEGORY : SF_COL_FLOAT;
        sf_dict *dicts[1] = {job->labels};
        sf_status st = sf_table_new(&job->wt, q, types, (const char *const *)job->names,
                                    job->labels ? dicts : NULL, job->piece_rows, err);
        free(types);
        SF_TRY(st);
    }
    sf_table *t = job->wt;
    for (size_t i0 = 0; i0 < pc->n; i0 += t->capacity) {
        size_t n = pc->n - i0 < t->capacity ? pc->n - i0 : t->capacity;
        for (size_t i = 0; i < n; i++)
            for (size_t m = 0; m < q; m++) {
                sf_column *c = &t->cols[m];
                double v = pc->v[(i0 + i) * q + m];
                c->missing[i] = pc->missing[i0 + i] || isnan(v);
                if (job->labels) c->codes[i] = c->missing[i] ? -1 : (int32_t)v;
                else c->values[i] = v;
            }
        t->n_rows = n;
        SF_TRY(sf_sink_write_table(job->sink, t, err));
    }
    return SF_OK;
}

/* Writes o's pieces in order; the caller holds the turn. */
static sf_status write_out(predict_job *job, const outbuf *o, sf_error *err)
{
    for (const piece *pc = o->head; pc; pc = pc->next) SF_TRY(write_piece(job, pc, err));
    return SF_OK;
}

/* Counts o's pieces in job->held; called with mu held. */
static void count_held(predict_job *job, outbuf *o)
{
    job->held = job->held - o->counted + o->bytes;
    o->counted = o->bytes;
}

/* Writes o to the sink with mu released (the caller holds the turn: job->writing),
 * then takes its pieces off the books, to the spares; called with mu held, returns
 * with it held. */
static void write_unlocked(predict_job *job, outbuf *o)
{
    pthread_mutex_unlock(&job->mu);
    sf_error werr;
    sf_error_clear(&werr);
    sf_status ws = write_out(job, o, &werr);
    pthread_mutex_lock(&job->mu);
    if (ws != SF_OK && job->write_st == SF_OK) {
        job->write_st = ws;
        job->write_err = werr;
    }
    job->held -= o->counted;
    o->counted = 0;
    keep_pieces(job, o);
}

/* Writes every finished segment that is due, in order; called with mu held. A
 * failed segment's rows are the last written. The writes run outside mu, so the
 * workers ahead go on meanwhile; one thread at a time writes (job->writing), and
 * one that finds another writing leaves it to that one, which looks again for a
 * finished segment due before it gives up the turn. */
static void write_due(predict_job *job)
{
    if (job->writing) return;
    job->writing = true;
    while (job->write_st == SF_OK && job->next < job->n_seg && job->out[job->next].done) {
        outbuf *o = &job->out[job->next];
        bool failed = o->failed;
        write_unlocked(job, o);
        job->next = failed ? job->n_seg : job->next + 1;
        pthread_cond_broadcast(&job->due);
    }
    job->writing = false;
}

/* After each chunk of segment seg, and each piece that fills: writes o when seg is
 * due (o is emptied; the write runs outside mu), else counts o in job->held and
 * waits while the segments not due hold job->hold bytes or more in all. */
static sf_status hand_over(predict_job *job, size_t seg, outbuf *o, sf_error *err)
{
    pthread_mutex_lock(&job->mu);
    count_held(job, o);
    while (job->next != seg && seg < job->failed_seg && job->write_st == SF_OK && job->held >= job->hold)
        pthread_cond_wait(&job->due, &job->mu);
    sf_status st = SF_OK;
    if (seg > job->failed_seg) st = sfi_fail(err, SF_ERR_STATE, NULL, "an earlier segment failed");
    else if (job->write_st == SF_OK && job->next == seg && !job->writing && o->head) {
        /* seg is due: every segment before it is written, and no other thread
         * writes until seg is finished */
        job->writing = true;
        write_unlocked(job, o);
        job->writing = false;
        pthread_cond_broadcast(&job->due); /* held went down */
    }
    if (st == SF_OK && job->write_st != SF_OK) {
        st = job->write_st;
        if (err) *err = job->write_err;
    }
    pthread_mutex_unlock(&job->mu);
    return st;
}

/* o's last piece is full: a stream writes o, a segment hands it over. */
static sf_status piece_full(predict_job *job, size_t seg, outbuf *o, sf_error *err)
{
    if (seg != STREAM) return hand_over(job, seg, o, err);
    sf_status st = write_out(job, o, err);
    pthread_mutex_lock(&job->mu);
    keep_pieces(job, o);
    pthread_mutex_unlock(&job->mu);
    return st;
}

static sf_status predict_segment(void *ctx, size_t seg, size_t worker, sf_error *err)
{
    predict_job *job = ctx;
    sf_source *src = NULL;
    /* a segment that cannot be opened still ends as failed below, so the later
     * segments waiting for their turn are released */
    sf_status st = sf_source_open_segment(job->src, seg, &src, err);
    outbuf o = {0};
    uint64_t rows = 0, unpredictable = 0, malformed = 0;
    const sf_table *t;
    while (st == SF_OK && (st = sf_source_next(src, &t, err)) == SF_OK) {
        rows += t->n_rows;
        if ((st = predict_table(job, seg, t, &job->scr[worker], &o, &unpredictable, &malformed, err)) != SF_OK)
            break;
        if ((st = hand_over(job, seg, &o, err)) != SF_OK) break;
    }
    sf_source_close(src);
    /* an error: the rows before it are written all the same when the segment is
     * due, and the segments after it stop (failed_seg) */
    pthread_mutex_lock(&job->mu);
    count_held(job, &o);
    o.done = true;
    o.failed = st != SF_END;
    if (o.failed && seg < job->failed_seg) {
        job->failed_seg = seg;
        pthread_cond_broadcast(&job->due); /* the later segments waiting for a turn stop */
    }
    job->out[seg] = o;
    job->rows += rows;
    job->unpredictable += unpredictable;
    job->malformed += malformed;
    write_due(job);
    if (st == SF_END) {
        st = job->write_st;
        if (st != SF_OK && err) *err = job->write_err;
    }
    pthread_mutex_unlock(&job->mu);
    return st;
}

static sf_status predict_stream(predict_job *job, sf_error *err)
{
    outbuf o = {0};
    scratch s = {0};
    const sf_table *t;
    sf_status st;
    while ((st = sf_source_next(job->src, &t, err)) == SF_OK) {
        job->rows += t->n_rows;
        st = predict_table(job, STREAM, t, &s, &o, &job->unpredictable, &job->malformed, err);
        if (st == SF_OK) st = piece_full(job, STREAM, &o, err);
        if (st == SF_OK) st = sf_sink_flush(job->sink, err);
        if (st != SF_OK) break;
    }
    pieces_free(o.head);
    free(s.x);
    free(s.rows);
    return st == SF_END ? SF_OK : st;
}

/* Output names: the target or "prediction", proba_<class>, decision[_<class>],
 * distance_<j>, or prediction/se/lower/upper; a transformer keeps the feature
 * names while the width is unchanged. */
static sf_status output_names(predict_job *job, sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    const sfi_stage_ops *last = pl->ops[pl->n_stages - 1];
    size_t q = job->q;
    job->names = calloc(q, sizeof *job->names);
    if (!job->names) return sfi_nomem(err);
    static const char *const interval[4] = {"prediction", "se", "lower", "upper"};
    for (size_t m = 0; m < q; m++) {
        char cls[64] = "";
        if (pl->n_classes > m) {
            if (pl->class_labels) snprintf(cls, sizeof cls, "%s", pl->class_labels[m]);
            else snprintf(cls, sizeof cls, "%.17g", pl->classes[m]);
        }
        int r = 0;
        switch (job->what) {
        case SF_OUTPUT_PREDICT:
            if (!last->estimator && q == pl->n_features) r = asprintf(&job->names[m], "%s", pl->features[m]);
            else if (!last->estimator) r = asprintf(&job->names[m], "x%zu", m);
            else if (last->unsupervised) r = asprintf(&job->names[m], "cluster");
            else r = asprintf(&job->names[m], "%s", *pl->target && q == 1 ? pl->target : "prediction");
            break;
        case SF_OUTPUT_PROBA: r = asprintf(&job->names[m], "proba_%s", cls); break;
        case SF_OUTPUT_DECISION:
            r = q == 1 ? asprintf(&job->names[m], "decision") : asprintf(&job->names[m], "decision_%s", cls);
            break;
        case SF_OUTPUT_TRANSFORM: r = asprintf(&job->names[m], "distance_%zu", m); break;
        case SF_OUTPUT_INTERVAL: r = asprintf(&job->names[m], "%s", m < 4 ? interval[m] : "x"); break;
        }
        if (r < 0) {
            job->names[m] = NULL;
            return sfi_nomem(err);
        }
    }
    return SF_OK;
}

static sf_status find_columns(predict_job *job, size_t *cols, sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    sf_where w;
    sfi_where_init(&w, sf_source_name(job->src));
    for (size_t j = 0; j < pl->n_features; j++) {
        long c = sf_source_column_index(job->src, pl->features[j]);
        if (c < 0) return sfi_fail(err, SF_ERR_ARG, &w, "the model needs a column \"%s\"", pl->features[j]);
        if (sf_source_column_type(job->src, (size_t)c) != SF_COL_FLOAT)
            return sfi_fail(err, SF_ERR_ARG, &w, "the model needs column \"%s\" to be numeric", pl->features[j]);
        cols[j] = (size_t)c;
    }
    return SF_OK;
}

static sf_status make_labels(predict_job *job, sf_error *err)
{
    const sf_pipeline *pl = job->pl;
    if (!pl || !pl->class_labels || job->what != SF_OUTPUT_PREDICT) return SF_OK;
    SF_TRY(sf_dict_new(&job->labels, pl->n_classes + 1, err));
    for (size_t i = 0; i < pl->n_classes; i++) {
        int32_t code;
        SF_TRY(sf_dict_intern(job->labels, pl->class_labels[i], strlen(pl->class_labels[i]), &code, err));
    }
    return SF_OK;
}

/* Runs job over its source: in order on the pool's workers, or chunk by chunk. */
static sf_status run_job(predict_job *job, size_t threads, sf_error *err)
{
    size_t n_seg = 1;
    SF_TRY(sf_source_n_segments(job->src, &n_seg, err));
    pthread_mutex_init(&job->mu, NULL);
    pthread_cond_init(&job->due, NULL);
    sf_status st = SF_OK;
    if (n_seg <= 1) {
        st = predict_stream(job, err);
    } else {
        sf_pool *pool = NULL;
        job->n_seg = n_seg;
        job->failed_seg = n_seg;
        const char *hold = getenv("SF_PREDICT_HOLD_BYTES");
        job->out = calloc(n_seg, sizeof *job->out);
        st = job->out ? sf_pool_new(&pool, threads, err) : sfi_nomem(err);
        size_t n_workers = pool ? sf_pool_size(pool) : 0;
        job->hold = hold && atol(hold) > 0 ? (size_t)atol(hold) : (n_workers ? n_workers : 1) * HOLD_BYTES;
        if (st == SF_OK && !(job->scr = calloc(n_workers ? n_workers : 1, sizeof *job->scr))) st = sfi_nomem(err);
        if (st == SF_OK) st = sf_pool_run(pool, n_seg, predict_segment, job, err);
        for (size_t g = 0; job->out && g < n_seg; g++) pieces_free(job->out[g].head);
        for (size_t w = 0; job->scr && w < n_workers; w++) {
            free(job->scr[w].x);
            free(job->scr[w].rows);
        }
        free(job->scr);
        free(job->out);
        job->scr = NULL;
        job->out = NULL;
        sf_pool_free(pool);
    }
    pieces_free(job->spare);
    job->spare = NULL;
    sf_table_free(job->wt);
    job->wt = NULL;
    pthread_mutex_destroy(&job->mu);
    pthread_cond_destroy(&job->due);
    return st;
}

sf_status sf_design_convert(const sf_design *d, sf_source *src, sf_sink *sink, size_t threads, uint64_t *rows_out,
                            uint64_t *dropped, sf_error *err)
{
    if (!d || !src || !sink) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_design_convert: NULL argument");
    if (!sf_design_is_finished(d)) return sfi_fail(err, SF_ERR_STATE, NULL, "finish the design first");
    predict_job job = {.design = d, .src = src, .sink = sink, .q = sf_design_n_columns(d)};
    job.names = calloc(job.q ? job.q : 1, sizeof *job.names);
    if (!job.names) return sfi_nomem(err);
    for (size_t j = 0; j < job.q; j++) job.names[j] = (char *)sf_design_column_name(d, j);
    job.with_y = sf_design_has_response(d);
    size_pieces(&job, 0);
    sf_status st = run_job(&job, threads, err);
    free(job.names);
    if (rows_out) *rows_out = job.rows;
    if (dropped) *dropped = job.unpredictable;
    return st;
}

sf_status sf_pipeline_predict(const sf_pipeline *pl, sf_source *src, sf_sink *sink, const sf_predict_options *opt,
                              sf_predict_stats *stats, sf_error *err)
{
    if (!pl || !src || !sink) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_predict: NULL argument");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    sf_predict_options o;
    if (opt) o = *opt;
    else sf_predict_options_init(&o);
    predict_job job = {.pl = pl, .what = o.what, .src = src, .sink = sink};
    job.q = sf_pipeline_n_outputs_as(pl, o.what);
    if (job.q == 0)
        return sfi_fail(err, SF_ERR_UNSUPPORTED, NULL, "%s does not give that output",
                        pl->ops[pl->n_stages - 1]->kind);
    size_t *cols = calloc(pl->n_features, sizeof *cols);
    if (!cols) return sfi_nomem(err);
    job.cols = cols;
    size_pieces(&job, pl->n_features);
    sf_status st = SF_OK;
    /* sparse (svmlight) data for a model fitted on it, and only then */
    sf_where w;
    sfi_where_init(&w, sf_source_name(src));
    bool sparse = sf_source_n_sparse_features(src) > 0;
    if (sparse != pl->sparse)
        st = sfi_fail(err, SF_ERR_ARG, &w, pl->sparse ? "this model was fitted on sparse (svmlight) data"
                                                      : "this model was fitted on columns, not on sparse (svmlight) data");
    if (st == SF_OK && sparse && !pl->ops[pl->n_stages - 1]->output_csr)
        st = sfi_fail(err, SF_ERR_UNSUPPORTED, &w, "predict on sparse data needs an estimator last");
    if (st == SF_OK && !pl->design && !sparse) st = find_columns(&job, cols, err);
    if (st == SF_OK) st = output_names(&job, err);
    if (st == SF_OK) st = make_labels(&job, err);
    if (st == SF_OK) st = run_job(&job, o.threads, err);
    if (stats) {
        stats->rows = job.rows;
        stats->unpredictable = job.unpredictable;
        stats->malformed = job.malformed;
    }
    for (size_t m = 0; job.names && m < job.q; m++) free(job.names[m]);
    free(job.names);
    sf_dict_free(job.labels);
    free(cols);
    return st;
}

/* Appends "?name=type" to s (capacity cap, length *k); a name holding the
 * syntax's ',' or '=' cannot be named and is left to inference. */
static void add_type(char *s, size_t cap, size_t *k, const char *name, const char *type)
{
    if (strpbrk(name, ",=")) return;
    *k += (size_t)snprintf(s + *k, cap - *k, "%s?%s=%s", *k ? "," : "", name, type);
}

sf_status sf_pipeline_input_types(const sf_pipeline *pl, bool with_target, char **out, sf_error *err)
{
    if (!out) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_input_types: NULL out");
    *out = NULL;
    if (!pl) return sfi_fail(err, SF_ERR_ARG, NULL, "sf_pipeline_input_types: NULL pipeline");
    if (!pl->fitted) return sfi_fail(err, SF_ERR_STATE, NULL, "pipeline is not fitted");
    if (pl->sparse) { /* svmlight rows: no named columns to type */
        *out = calloc(1, 1);
        return *out ? SF_OK : sfi_nomem(err);
    }
    const sf_design *d = pl->design;
    size_t cap = 16 + strlen(pl->target) + 16;
    for (size_t j = 0; !d && j < pl->n_features; j++) cap += strlen(pl->features[j]) + 16;
    for (size_t j = 0; d && j < sf_design_n_inputs(d); j++) cap += strlen(sf_design_input(d, j, NULL, NULL)) + 16;
    char *s = malloc(cap);
    if (!s) return sfi_nomem(err);
    size_t k = 0;
    s[0] = '\0';
    if (d) {
        /* the columns the design was bound to, as they were; without the target,
         * not a column only the response reads (predict input may lack it or
         * hold anything there) */
        static const char *const type_name[] = {"float", "int", "category"};
        for (size_t j = 0; j < sf_design_n_inputs(d); j++) {
            sf_design_input_type type;
            bool response_only;
            const char *name = sf_design_input(d, j, &type, &response_only);
            if (!with_target && response_only) continue;
            add_type(s, cap, &k, name, type_name[type]);
        }
    } else {
        for (size_t j = 0; j < pl->n_features; j++) add_type(s, cap, &k, pl->features[j], "float");
        if (with_target && *pl->target) add_type(s, cap, &k, pl->target, pl->class_labels ? "category" : "float");
    }
    *out = s;
    return SF_OK;
}
