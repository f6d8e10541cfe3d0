/* The embedding index in SQLite: see embed_db.h. */
#include "embed_db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct embed_db {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *put, *del;
};

static const char schema[] =
    "CREATE TABLE mmrun_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE images(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, embedding BLOB NOT NULL);";

static mm_status db_error(embed_db *db, const char *what)
{
    int code = sqlite3_errcode(db->db);
    mm_status s = code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? MM_ERR_FORMAT : MM_ERR_IO;
    return mm_error_set(s, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->db));
}

static mm_status exec(embed_db *db, const char *sql, const char *what)
{
    return sqlite3_exec(db->db, sql, NULL, NULL, NULL) == SQLITE_OK ? MM_OK : db_error(db, what);
}

/* Counts the rows of `sql` ("SELECT count(*) ..."). */
static mm_status count(embed_db *db, const char *sql, int64_t *n, const char *what)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(db, what);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? MM_OK : db_error(db, what);
}

mm_status embed_db_open(const char *path, bool writable, embed_db **out, bool *fresh)
{
    *out = NULL;
    embed_db *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        return mm_error_set(MM_ERR_NOMEM, "%s", path);
    }
    int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    mm_status s = MM_OK;
    int64_t n_tables = 0, n_ours = 0;
    if (sqlite3_open_v2(path, &db->db, flags, NULL) != SQLITE_OK) {
        s = mm_error_set(MM_ERR_IO, "%s: cannot open: %s", path, db->db ? sqlite3_errmsg(db->db) : "out of memory");
    } else {
        sqlite3_busy_timeout(db->db, 10000); /* a search while an index run commits */
        /* The first read is where SQLite looks at the file. */
        s = count(db, "SELECT count(*) FROM sqlite_master", &n_tables, "reading the schema");
        if (s == MM_OK)
            s = count(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('mmrun_meta','images')",
                      &n_ours, "reading the schema");
        if (s != MM_OK)
            s = mm_error_set(MM_ERR_FORMAT, "%s is not an mmrun index (%s)", path, sqlite3_errmsg(db->db));
        else if (n_ours != 2 && n_tables > 0)
            s = mm_error_set(MM_ERR_FORMAT, "%s is an SQLite database but not an mmrun index (no mmrun_meta and "
                             "images tables); give another --db", path);
        else if (n_ours != 2 && !writable) /* search on an empty file */
            s = mm_error_set(MM_ERR_FORMAT, "%s is an empty database, not an mmrun index (make one with mmrun index)",
                             path);
    }
    /* tables but no model yet: a first run that stopped before embedding */
    int64_t n_model = 0;
    if (s == MM_OK && n_ours == 2)
        s = count(db, "SELECT count(*) FROM mmrun_meta WHERE key='model_id'", &n_model, "reading the model");
    *fresh = s == MM_OK && n_model == 0;
    if (s == MM_OK && writable) {
        /* WAL: a commit is one append, readers go on during a run, and a
         * killed process loses only the transaction it had open. */
        s = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "switching to WAL");
        if (s == MM_OK && n_ours != 2)
            s = exec(db, schema, "creating the tables");
    }
    if (s == MM_OK && writable &&
        (sqlite3_prepare_v2(db->db,
                            "INSERT INTO images(path, size, mtime_ns, embedding) VALUES(?1, ?2, ?3, ?4) "
                            "ON CONFLICT(path) DO UPDATE SET size=?2, mtime_ns=?3, embedding=?4",
                            -1, &db->put, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db->db, "DELETE FROM images WHERE path=?1", -1, &db->del, NULL) != SQLITE_OK))
        s = db_error(db, "preparing statements");
    if (s != MM_OK) {
        embed_db_close(db);
        return s;
    }
    *out = db;
    return MM_OK;
}

void embed_db_close(embed_db *db)
{
    if (!db)
        return;
    sqlite3_finalize(db->put);
    sqlite3_finalize(db->del);
    sqlite3_close(db->db);
    free(db->path);
    free(db);
}

static bool meta_value(embed_db *db, const char *key, char *out, size_t size)
{
    sqlite3_stmt *st;
    bool ok = false;
    if (sqlite3_prepare_v2(db->db, "SELECT value FROM mmrun_meta WHERE key=?1", -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
        ok = true;
    }
    sqlite3_finalize(st);
    return ok;
}

mm_status embed_db_get_meta(embed_db *db, embed_db_meta *out)
{
    char format[64], n[32];
    *out = (embed_db_meta){0};
    if (!meta_value(db, "format", format, sizeof format) || !meta_value(db, "model_id", out->model_id, sizeof out->model_id) ||
        !meta_value(db, "model_dir", out->model_dir, sizeof out->model_dir) || !meta_value(db, "n_embd", n, sizeof n))
        return mm_error_set(MM_ERR_FORMAT, "%s: the index has no model recorded (mmrun_meta is incomplete)", db->path);
    if (strcmp(format, EMBED_DB_FORMAT) != 0)
        return mm_error_set(MM_ERR_FORMAT, "%s: index format '%s', this mmrun reads '%s'", db->path, format,
                            EMBED_DB_FORMAT);
    out->n_embd = atoi(n);
    if (out->n_embd < 1)
        return mm_error_set(MM_ERR_FORMAT, "%s: n_embd '%s' in mmrun_meta", db->path, n);
    return MM_OK;
}

mm_status embed_db_set_meta(embed_db *db, const embed_db_meta *m)
{
    char n[32];
    snprintf(n, sizeof n, "%d", (int)m->n_embd);
    const char *kv[4][2] = {{"format", EMBED_DB_FORMAT}, {"model_id", m->model_id}, {"model_dir", m->model_dir},
                            {"n_embd", n}};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->db, "INSERT OR REPLACE INTO mmrun_meta(key, value) VALUES(?1, ?2)", -1, &st, NULL) !=
        SQLITE_OK)
        return db_error(db, "writing the model");
    mm_status s = embed_db_begin(db);
    for (int i = 0; s == MM_OK && i < 4; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, kv[i][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, kv[i][1], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            s = db_error(db, "writing the model");
    }
    sqlite3_finalize(st);
    if (s == MM_OK)
        return embed_db_commit(db);
    embed_db_rollback(db);
    return s;
}

mm_status embed_db_count(embed_db *db, int64_t *n)
{
    return count(db, "SELECT count(*) FROM images", n, "counting rows");
}

mm_status embed_db_files(embed_db *db, const char *prefix, embed_db_file **out, int64_t *n)
{
    *out = NULL;
    *n = 0;
    /* paths in [prefix, prefix with its last byte + 1): the rows under it */
    size_t len = strlen(prefix);
    char *upper = strdup(prefix);
    if (!upper || len == 0)
        return free(upper), mm_error_set(MM_ERR_INVALID, "empty prefix");
    upper[len - 1]++;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT path, size, mtime_ns FROM images WHERE path >= ?1 AND path < ?2 ORDER BY path",
                           -1, &st, NULL) != SQLITE_OK) {
        free(upper);
        return db_error(db, "reading the rows");
    }
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, upper, -1, SQLITE_STATIC);
    embed_db_file *f = NULL;
    int64_t cap = 0;
    int rc;
    mm_status s = MM_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            embed_db_file *grown = realloc(f, (size_t)cap * sizeof *f);
            if (!grown) {
                s = mm_error_set(MM_ERR_NOMEM, "%s: %lld rows", db->path, (long long)*n);
                break;
            }
            f = grown;
        }
        const char *p = (const char *)sqlite3_column_text(st, 0);
        if (!(f[*n].path = strdup(p ? p : ""))) {
            s = mm_error_set(MM_ERR_NOMEM, "%s", db->path);
            break;
        }
        f[*n].size = sqlite3_column_int64(st, 1);
        f[*n].mtime_ns = sqlite3_column_int64(st, 2);
        (*n)++;
    }
    if (s == MM_OK && rc != SQLITE_DONE)
        s = db_error(db, "reading the rows");
    sqlite3_finalize(st);
    free(upper);
    if (s != MM_OK) {
        embed_db_files_free(f, *n);
        *n = 0;
        return s;
    }
    *out = f;
    return MM_OK;
}

void embed_db_files_free(embed_db_file *f, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free(f[i].path);
    free(f);
}

mm_status embed_db_begin(embed_db *db) { return exec(db, "BEGIN IMMEDIATE", "starting a transaction"); }
mm_status embed_db_commit(embed_db *db) { return exec(db, "COMMIT", "committing"); }
void embed_db_rollback(embed_db *db) { sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL); }

mm_status embed_db_put(embed_db *db, const char *path, int64_t size, int64_t mtime_ns, const float *v, int32_t n)
{
    sqlite3_reset(db->put);
    sqlite3_bind_text(db->put, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(db->put, 2, size);
    sqlite3_bind_int64(db->put, 3, mtime_ns);
    sqlite3_bind_blob(db->put, 4, v, n * (int)sizeof *v, SQLITE_STATIC);
    return sqlite3_step(db->put) == SQLITE_DONE ? MM_OK : db_error(db, path);
}

mm_status embed_db_delete(embed_db *db, const char *path)
{
    sqlite3_reset(db->del);
    sqlite3_bind_text(db->del, 1, path, -1, SQLITE_STATIC);
    return sqlite3_step(db->del) == SQLITE_DONE ? MM_OK : db_error(db, path);
}

/* ---- search -------------------------------------------------------------- */

/* The graph scoring one block of `rows` vectors: top-k indices and scores. */
typedef struct block_graph {
    mm_graph *g;
    mm_tensor *block, *idx, *val;
    int64_t rows;
    int32_t k;
} block_graph;

static mm_status block_graph_build(block_graph *bg, int64_t rows, int32_t n_embd, int32_t k, const float *query)
{
    bg->rows = rows;
    bg->k = (int64_t)k < rows ? k : (int32_t)rows;
    if (!(bg->g = mm_graph_init()))
        return MM_ERR_NOMEM; /* error set */
    bg->block = mm_graph_input(bg->g, MM_DTYPE_F32, 2, (int64_t[]){n_embd, rows}, NULL);
    mm_tensor *q = mm_graph_input(bg->g, MM_DTYPE_F32, 2, (int64_t[]){n_embd, 1}, query);
    mm_tensor *scores = mm_matmul(bg->g, bg->block, q); /* {rows, 1} */
    bg->idx = mm_top_k(bg->g, scores, bg->k);           /* {k, 1}    */
    /* the k scores picked out on the backend, so only 2k values come back */
    bg->val = mm_get_rows(bg->g, mm_reshape(bg->g, scores, 2, (int64_t[]){1, rows}), bg->idx);
    mm_graph_output(bg->g, bg->idx);
    mm_graph_output(bg->g, bg->val);
    return mm_graph_status(bg->g);
}

/* Inserts (score, id) into the running top-k list (best first). */
static void keep_best(float *score, int64_t *id, int32_t *n, int32_t k, float s, int64_t i)
{
    if (*n == k && !(s > score[k - 1]))
        return;
    int32_t at = *n < k ? (*n)++ : k - 1;
    while (at > 0 && s > score[at - 1]) {
        score[at] = score[at - 1];
        id[at] = id[at - 1];
        at--;
    }
    score[at] = s;
    id[at] = i;
}

static mm_status score_block(mm_backend *b, block_graph *bg, const float *block, const int64_t *ids, float *best,
                             int64_t *best_id, int32_t *n_best, int32_t k)
{
    int32_t *pick = malloc((size_t)bg->k * sizeof *pick);
    float *val = malloc((size_t)bg->k * sizeof *val);
    mm_status s = pick && val ? MM_OK : mm_error_set(MM_ERR_NOMEM, "search");
    if (s == MM_OK) {
        mm_tensor_set_data(bg->block, block);
        s = mm_backend_compute(b, bg->g);
    }
    if (s == MM_OK && (s = mm_tensor_read(bg->idx, pick, (size_t)bg->k * sizeof *pick)) == MM_OK &&
        (s = mm_tensor_read(bg->val, val, (size_t)bg->k * sizeof *val)) == MM_OK)
        for (int32_t j = 0; j < bg->k; j++)
            if (pick[j] >= 0 && pick[j] < bg->rows)
                keep_best(best, best_id, n_best, k, val[j], ids[pick[j]]);
    free(pick);
    free(val);
    return s;
}

mm_status embed_db_search(embed_db *db, mm_backend *b, const float *query, int32_t n_embd, int32_t k,
                          int64_t block_rows, embed_db_hit *hits, int32_t *n_hits)
{
    *n_hits = 0;
    if (k < 1 || n_embd < 1)
        return mm_error_set(MM_ERR_INVALID, "search: k %d, n_embd %d", (int)k, (int)n_embd);
    if (block_rows <= 0)
        block_rows = ((int64_t)32 << 20) / ((int64_t)n_embd * 4);
    if (block_rows < 1)
        block_rows = 1;
    int64_t total;
    mm_status s = embed_db_count(db, &total);
    if (s != MM_OK)
        return s;
    if (total == 0)
        return MM_OK;
    if (block_rows > total)
        block_rows = total;
    float *block = malloc((size_t)block_rows * (size_t)n_embd * sizeof *block);
    int64_t *ids = malloc((size_t)block_rows * sizeof *ids);
    float *best = malloc((size_t)k * sizeof *best);
    int64_t *best_id = malloc((size_t)k * sizeof *best_id);
    block_graph full = {0}, tail = {0};
    sqlite3_stmt *st = NULL;
    if (!block || !ids || !best || !best_id)
        s = mm_error_set(MM_ERR_NOMEM, "search: a block of %lld vectors", (long long)block_rows);
    if (s == MM_OK && sqlite3_prepare_v2(db->db, "SELECT id, embedding FROM images", -1, &st, NULL) != SQLITE_OK)
        s = db_error(db, "reading the vectors");
    int64_t in_block = 0, bad = 0;
    int32_t n_best = 0;
    int rc = SQLITE_DONE;
    while (s == MM_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const void *blob = sqlite3_column_blob(st, 1);
            if (sqlite3_column_bytes(st, 1) != n_embd * (int)sizeof(float) || !blob) {
                bad++;
                continue;
            }
            memcpy(block + (size_t)in_block * n_embd, blob, (size_t)n_embd * sizeof *block);
            ids[in_block++] = sqlite3_column_int64(st, 0);
        } else if (rc != SQLITE_DONE) {
            s = db_error(db, "reading the vectors");
            break;
        }
        if (in_block == block_rows || (rc == SQLITE_DONE && in_block > 0)) {
            block_graph *bg = in_block == block_rows ? &full : &tail;
            if (bg->rows != in_block) { /* the tail's size is known only at the end */
                mm_graph_free(bg->g);
                *bg = (block_graph){0};
                s = block_graph_build(bg, in_block, n_embd, k, query);
            }
            if (s == MM_OK)
                s = score_block(b, bg, block, ids, best, best_id, &n_best, k);
            in_block = 0;
        }
        if (rc == SQLITE_DONE)
            break;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (s == MM_OK && bad > 0)
        mm_log(MM_LOG_WARN, "%s: %lld rows with a wrong embedding size skipped", db->path, (long long)bad);
    if (s == MM_OK && sqlite3_prepare_v2(db->db, "SELECT path FROM images WHERE id=?1", -1, &st, NULL) != SQLITE_OK)
        s = db_error(db, "reading paths");
    for (int32_t i = 0; s == MM_OK && i < n_best; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, best_id[i]);
        const char *p = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        hits[i].score = best[i];
        if (!(hits[i].path = strdup(p ? p : "?"))) {
            s = mm_error_set(MM_ERR_NOMEM, "search");
            break;
        }
        *n_hits = i + 1;
    }
    sqlite3_finalize(st);
    mm_graph_free(full.g);
    mm_graph_free(tail.g);
    free(block);
    free(ids);
    free(best);
    free(best_id);
    if (s != MM_OK) {
        embed_db_hits_free(hits, *n_hits);
        *n_hits = 0;
    }
    return s;
}

void embed_db_hits_free(embed_db_hit *hits, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        free(hits[i].path);
        hits[i].path = NULL;
    }
}
