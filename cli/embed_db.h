/* The embedding index of `mmrun index` and `mmrun search`: an SQLite file
 * (WAL journal) holding, per image, its absolute path, size, mtime and
 * unit-length embedding (little-endian F32 blob), plus the model it was made
 * with (mmrun_meta: format, model_id, model_dir, n_embd).
 *
 * Errors are set with mm_error_set (the caller prints them). */
#ifndef MM_CLI_EMBED_DB_H
#define MM_CLI_EMBED_DB_H

#include "mm/tensor.h"

#include <stdint.h>

#define EMBED_DB_FORMAT "mmrun-index 1"

typedef struct embed_db embed_db;

typedef struct embed_db_meta {
    char model_id[64];
    char model_dir[4096];
    int32_t n_embd;
} embed_db_meta;

/* Opens `path`. writable: creates the file if needed and switches it to WAL;
 * otherwise it must exist and is opened read-only. A file that is not
 * SQLite, or an SQLite file without mmrun's tables that is not empty, is
 * refused (MM_ERR_FORMAT) and left untouched. *fresh says the index has no
 * model yet (new or empty file). */
mm_status embed_db_open(const char *path, bool writable, embed_db **out, bool *fresh);
void embed_db_close(embed_db *db);
mm_status embed_db_get_meta(embed_db *db, embed_db_meta *out);
mm_status embed_db_set_meta(embed_db *db, const embed_db_meta *m);
/* Rows in the whole index. */
mm_status embed_db_count(embed_db *db, int64_t *n);

/* A stored file under a folder. */
typedef struct embed_db_file {
    char *path;
    int64_t size, mtime_ns;
} embed_db_file;

/* The rows whose path starts with prefix (which ends in '/'), sorted by path
 * (strcmp order); free with embed_db_files_free. */
mm_status embed_db_files(embed_db *db, const char *prefix, embed_db_file **out, int64_t *n);
void embed_db_files_free(embed_db_file *f, int64_t n);

/* Writes: one transaction each (begin .. commit), so a killed run keeps
 * every committed batch. put replaces the path's row. */
mm_status embed_db_begin(embed_db *db);
mm_status embed_db_put(embed_db *db, const char *path, int64_t size, int64_t mtime_ns, const float *v, int32_t n);
mm_status embed_db_delete(embed_db *db, const char *path);
mm_status embed_db_commit(embed_db *db);
void embed_db_rollback(embed_db *db);

/* Top-k search: the k rows of largest dot product with query [n_embd]
 * (cosine, the vectors being unit length), best first. The stored vectors
 * are read in blocks of block_rows (0: 32 MiB worth) and each block's
 * scores and top-k are computed on backend b, so only one block is in
 * memory; the host merges the blocks' candidates. paths are malloc'd. */
typedef struct embed_db_hit {
    char *path;
    float score;
} embed_db_hit;
mm_status embed_db_search(embed_db *db, mm_backend *b, const float *query, int32_t n_embd, int32_t k,
                          int64_t block_rows, embed_db_hit *hits, int32_t *n_hits);
void embed_db_hits_free(embed_db_hit *hits, int32_t n);

#endif
