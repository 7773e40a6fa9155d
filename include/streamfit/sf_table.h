/* sf_table.h — the data model: table chunks, category dictionaries, blocks.
 *
 * A table chunk is what a source yields: up to chunk_rows rows of typed columns
 * (float64, or categorical codes into a per-column dictionary) with a missing mask.
 * A block is what the design stage makes of it: a dense row-major n x p matrix of
 * doubles (GSL-compatible: data, rows, cols, ld), a target y and optional weights.
 * A sparse source (svmlight) gives chunks and blocks whose features are CSR rows
 * (sf_csr) beside the dense columns; dense data never has one.
 */
#ifndef SF_TABLE_H
#define SF_TABLE_H

#include <stdbool.h>
#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Column types. */
typedef enum sf_coltype {
    SF_COL_FLOAT = 0,    /**< float64; NaN where missing */
    SF_COL_CATEGORY = 1  /**< int32 codes into a dictionary; -1 where missing */
} sf_coltype;

/** Returns "float" or "category"; a static string. */
SF_API const char *sf_coltype_name(sf_coltype t);

/* ---- category dictionary: interned labels, codes in order of first appearance ---- */

typedef struct sf_dict sf_dict;

/** Creates an empty dictionary holding at most max_levels labels (0 = 10000).
 *  Caller frees with sf_dict_free(). */
SF_API sf_status sf_dict_new(sf_dict **out, size_t max_levels, sf_error *err);

/** Frees a dictionary; NULL is a no-op. */
SF_API void sf_dict_free(sf_dict *d);

/** Returns the code of label s[0..n), adding it if new. Fails with SF_ERR_ARG
 *  when a new label would exceed max_levels; the dictionary is then unchanged. */
SF_API sf_status sf_dict_intern(sf_dict *d, const char *s, size_t n, int32_t *code_out,
                                sf_error *err);

/** Looks up s[0..n); returns its code or -1 when absent. */
SF_API int32_t sf_dict_find(const sf_dict *d, const char *s, size_t n);

/** Number of labels. */
SF_API size_t sf_dict_size(const sf_dict *d);

/** Label of code (0 <= code < size), NUL-terminated; its length in *len_out if
 *  not NULL. Borrowed; valid until the next sf_dict_intern() or sf_dict_free(). */
SF_API const char *sf_dict_label(const sf_dict *d, size_t code, size_t *len_out);

/* ---- sparse rows ---- */

/** Rows in CSR form (scipy's csr_matrix): row i holds the values
 *  data[indptr[i] .. indptr[i+1]) in the columns indices[...] (each < n_cols,
 *  increasing within a row). Explicit zeros are kept, as sklearn keeps them.
 *  indptr has rows + 1 entries; in a table or block indptr[0] is 0. */
typedef struct sf_csr {
    size_t n_cols;          /**< number of features */
    size_t *indptr;         /**< rows + 1 offsets into indices and data */
    uint32_t *indices;      /**< column of each stored value */
    double *data;           /**< stored values */
    size_t nnz_capacity;    /**< entries allocated in indices and data */
} sf_csr;

/** Makes room for nnz stored entries in c (indices and data; indptr untouched).
 *  On failure c is unchanged. */
SF_API sf_status sf_csr_reserve(sf_csr *c, size_t nnz, sf_error *err);

/* ---- table chunk ---- */

/** One column of a table chunk. */
typedef struct sf_column {
    sf_coltype type;
    bool is_integer;        /**< float column whose non-missing texts were all integers */
    double *values;         /**< SF_COL_FLOAT: n_rows values, NaN where missing */
    int32_t *codes;         /**< SF_COL_CATEGORY: n_rows codes, -1 where missing */
    uint8_t *missing;       /**< n_rows flags, 1 = missing */
    const sf_dict *dict;    /**< SF_COL_CATEGORY: borrowed; valid until its source closes */
} sf_column;

/** A table chunk. Chunks from a source are borrowed: valid until the next
 *  sf_source_next(), sf_source_rewind() or sf_source_close() on that source. */
typedef struct sf_table {
    size_t n_rows;
    size_t n_cols;
    size_t capacity;            /**< rows allocated per column */
    sf_column *cols;            /**< n_cols columns */
    const char *const *names;   /**< n_cols names; borrowed from the producer */
    uint64_t first_row;         /**< 1-based record number of row 0 within its segment */
    uint64_t *line;             /**< n_rows physical start lines (0 = unknown) */
    size_t segment;             /**< segment the rows came from (0 for whole sources) */
    sf_csr *csr;                /**< sparse features beside the columns, or NULL (dense) */
    const uint64_t *row;        /**< n_rows record numbers, or NULL: row i is record
                                     first_row + i. Set where rows are not consecutive
                                     (a filtered source, sf_source_filter) */
    uint8_t *bad;               /**< n_rows flags, 1 = a malformed row skipped under
                                     SF_ON_ERROR_SKIP (every field missing); NULL
                                     when the chunk has none. Owned by the producer */
} sf_table;

/** The 1-based record number of row i of t within its segment (for messages). */
static inline uint64_t sf_table_row(const sf_table *t, size_t i)
{
    return t->row ? t->row[i] : t->first_row + i;
}

/** Allocates a table of n_cols columns with room for capacity rows. types gives
 *  each column's type; names and dicts (for category columns, may be NULL) are
 *  borrowed and must outlive the table. Caller frees with sf_table_free(). */
SF_API sf_status sf_table_new(sf_table **out, size_t n_cols, const sf_coltype *types,
                              const char *const *names, sf_dict *const *dicts,
                              size_t capacity, sf_error *err);

/** Frees a table made by sf_table_new() (and its CSR part); NULL is a no-op. */
SF_API void sf_table_free(sf_table *t);

/** Gives t a CSR part of n_cols features with room for t->capacity rows and
 *  nnz_capacity entries (grown with sf_csr_reserve); freed with the table.
 *  SF_ERR_STATE if t has one already. */
SF_API sf_status sf_table_add_csr(sf_table *t, size_t n_cols, size_t nnz_capacity, sf_error *err);

/* ---- block ---- */

/** A block of rows ready for transformers and estimators: dense x, or (csr not
 *  NULL) CSR rows with x NULL and n_cols = csr->n_cols. */
typedef struct sf_block {
    size_t n_rows, n_cols, ld;  /**< x is n_rows x n_cols, row stride ld >= n_cols */
    size_t capacity;            /**< rows allocated */
    double *x;                  /**< row-major features */
    double *y;                  /**< n_rows targets, or NULL */
    double *w;                  /**< n_rows sample weights, or NULL (all 1) */
    uint64_t first_row;         /**< record number of row 0 */
    sf_csr *csr;                /**< CSR rows instead of x, or NULL */
} sf_block;

/** Allocates a block of capacity rows and n_cols columns, with y and w when asked.
 *  Caller frees with sf_block_free(). */
SF_API sf_status sf_block_new(sf_block **out, size_t capacity, size_t n_cols, bool has_y,
                              bool has_w, sf_error *err);

/** Allocates a sparse block: capacity rows of CSR features (n_cols of them, room
 *  for nnz_capacity entries, grown on demand), y and w when asked; x is NULL.
 *  Caller frees with sf_block_free(). */
SF_API sf_status sf_block_new_csr(sf_block **out, size_t capacity, size_t n_cols, size_t nnz_capacity,
                                  bool has_y, bool has_w, sf_error *err);

/** Copies src's rows (x or CSR, y, w when both have them, first_row) into dst,
 *  which must have the same kind, n_cols, and capacity >= src->n_rows; a CSR
 *  part grows as needed. On failure dst's rows are unchanged. */
SF_API sf_status sf_block_copy(sf_block *dst, const sf_block *src, sf_error *err);

/** Frees a block (and its CSR part); NULL is a no-op. */
SF_API void sf_block_free(sf_block *b);

#ifdef __cplusplus
}
#endif
#endif
