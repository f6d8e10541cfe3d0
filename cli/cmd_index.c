/* `mmrun index -m DIR FOLDER --db FILE`: embeds every image under FOLDER
 * into an SQLite index, in batches, one transaction per batch, so that an
 * interrupted run keeps what it finished and the next one resumes. Only new
 * and changed files (size or mtime) are embedded; rows of files gone from
 * FOLDER are dropped; unreadable files are skipped and listed. */
#include "clip_session.h"
#include "embed_db.h"
#include "image_batches.h"
#include "image_walk.h"
#include "timing.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define OPT(field) offsetof(cli_options, clip.field)

const cli_option cmd_index_options[] = {
    {.name = "db", .type = CLI_OPT_STRING, .offset = OPT(db), .arg = "FILE",
     .help = "the index file (SQLite; created if missing)"},
    {.name = "model", .short_name = 'm', .type = CLI_OPT_STRING, .offset = OPT(model), .arg = "DIR",
     .help = "the CLIP model folder; optional once the index has\none (it records the model it was made with)"},
    {.name = "batch", .type = CLI_OPT_INT, .offset = OPT(batch), .arg = "B",
     .help = "images per tower run and per transaction (default 16)", .lo = 1, .hi = 1024},
    {0},
};

/* ---- the command ------------------------------------------------------------- */

/* Model folder and id to use: -m, else the one the index records. Returns
 * the exit code (0: go on). */
static int pick_model(const cli_options *opt, embed_db *db, bool fresh, char *dir, size_t dir_size, char *id,
                       size_t id_size, embed_db_meta *meta)
{
    const char *m = opt->clip.model;
    if (!fresh && embed_db_get_meta(db, meta) != MM_OK)
        return cli_fail("index");
    if (!m && fresh)
        return cli_usage_error("index", "a new index needs a model folder (-m DIR)");
    if (!realpath(m ? m : meta->model_dir, dir)) {
        fprintf(stderr, "mmrun: error: model folder %s: %s\n", m ? m : meta->model_dir, strerror(errno));
        return 1;
    }
    (void)dir_size;
    if (!clip_model_id(dir, id, id_size)) {
        fprintf(stderr, "mmrun: error: %s: cannot read config.json and the weights' sizes\n", dir);
        return 1;
    }
    if (!fresh && strcmp(id, meta->model_id) != 0) {
        fprintf(stderr,
                "mmrun: error: %s was made with another model (%s, id %s); %s has id %s: index into another --db, "
                "or delete this one to start over\n",
                opt->clip.db, meta->model_dir, meta->model_id, dir, id);
        return 1;
    }
    return 0;
}

int cmd_index(int argc, char **argv, cli_options *opt)
{
    if (!opt->clip.db)
        return cli_usage_error("index", "index needs --db FILE");
    int32_t batch = opt->clip.batch ? opt->clip.batch : CLIP_DEFAULT_BATCH;
    char root[PATH_MAX], model_dir[PATH_MAX], model_id[64];
    struct stat st;
    if (!realpath(argv[1], root) || stat(root, &st) != 0) {
        fprintf(stderr, "mmrun: error: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "mmrun: error: %s is not a folder\n", argv[1]);
        return 1;
    }

    image_walk w = {0};
    if (!image_walk_folder(&w, root)) {
        fputs("mmrun: error: out of memory listing the folder\n", stderr);
        image_walk_free(&w);
        return 1;
    }

    int rc = 0;
    embed_db *db = NULL;
    embed_db_file *old = NULL;
    int64_t n_old = 0, n_removed = 0, n_same = 0, n_todo = 0, n_done = 0;
    embed_db_meta meta;
    bool fresh = false;
    const char **todo = NULL;
    int64_t *todo_entry = NULL;
    clip_session s = {0};
    char prefix[PATH_MAX + 1];
    snprintf(prefix, sizeof prefix, "%s/", strcmp(root, "/") == 0 ? "" : root);

    if (!opt->clip.model && access(opt->clip.db, F_OK) != 0) {
        rc = cli_usage_error("index", "a new index needs a model folder (-m DIR)");
    } else if (w.n == 0) {
        /* an unmounted or mistyped folder must not empty the index */
        fprintf(stderr, "mmrun: error: no images (.png .jpg .jpeg .webp) under %s; the index is unchanged\n",
                argv[1]);
        rc = 1;
    } else if (embed_db_open(opt->clip.db, true, &db, &fresh) != MM_OK) {
        rc = cli_fail("index");
    } else if ((rc = pick_model(opt, db, fresh, model_dir, sizeof model_dir, model_id, sizeof model_id, &meta)) != 0) {
        /* printed */
    } else if (embed_db_files(db, prefix, &old, &n_old) != MM_OK) {
        rc = cli_fail("index");
    } else if (!(todo = malloc((size_t)w.n * sizeof *todo)) || !(todo_entry = malloc((size_t)w.n * sizeof *todo_entry))) {
        rc = cli_fail("out of memory");
    }

    /* Both lists are sorted by path: one merge says what is new, changed,
     * unchanged and gone. */
    if (rc == 0) {
        int64_t i = 0, j = 0;
        bool may_drop = w.unreadable_dirs == 0; /* rows under an unreadable folder stay */
        mm_status ds = embed_db_begin(db);
        while (ds == MM_OK && (i < w.n || j < n_old)) {
            int c = i == w.n ? 1 : j == n_old ? -1 : strcmp(w.v[i].path, old[j].path);
            if (c < 0) {
                todo_entry[n_todo] = i;
                todo[n_todo++] = w.v[i++].path;
            } else if (c > 0) {
                if (may_drop) {
                    ds = embed_db_delete(db, old[j].path);
                    n_removed++;
                }
                j++;
            } else {
                if (w.v[i].size == old[j].size && w.v[i].mtime_ns == old[j].mtime_ns) {
                    n_same++;
                } else {
                    todo_entry[n_todo] = i;
                    todo[n_todo++] = w.v[i].path;
                }
                i++, j++;
            }
        }
        if (ds == MM_OK)
            ds = embed_db_commit(db);
        else
            embed_db_rollback(db);
        if (ds != MM_OK)
            rc = cli_fail("index");
        if (!may_drop)
            fprintf(stderr, "mmrun: warning: %lld folders could not be read: no rows were dropped\n",
                    (long long)w.unreadable_dirs);
    }

    /* Embed what is new or changed, batch by batch. */
    int64_t n_failed = 0;
    char **failed_paths = NULL;
    if (rc == 0 && n_todo > 0) {
        if (n_todo > INT32_MAX) {
            fprintf(stderr, "mmrun: error: %lld images in one run\n", (long long)n_todo);
            rc = 1;
        } else if (!clip_session_init(&s, opt, model_dir, false, true)) {
            rc = 1;
        } else if (fresh) {
            meta = (embed_db_meta){.n_embd = s.n_embd};
            snprintf(meta.model_id, sizeof meta.model_id, "%s", model_id);
            snprintf(meta.model_dir, sizeof meta.model_dir, "%s", model_dir);
            if (embed_db_set_meta(db, &meta) != MM_OK)
                rc = cli_fail("index");
        } else if (meta.n_embd != s.n_embd) {
            fprintf(stderr, "mmrun: error: %s holds %d-value embeddings, the model gives %d\n", opt->clip.db,
                    (int)meta.n_embd, (int)s.n_embd);
            rc = 1;
        }
    }
    if (rc == 0 && n_todo > 0) {
        img_batches *q = NULL;
        float *rows = malloc((size_t)batch * (size_t)s.n_embd * sizeof *rows);
        failed_paths = calloc((size_t)n_todo, sizeof *failed_paths);
        if (!rows || !failed_paths || img_batches_start(s.pp, todo, (int32_t)n_todo, batch, s.width, s.height, 0, &q) != MM_OK)
            rc = cli_fail("index");
        progress p = progress_start("index", "images", n_todo);
        img_batch *b;
        while (rc == 0 && (b = img_batches_next(q))) {
            if (b->n_ok > 0 && mm_embedder_image(s.emb, b->pixels, b->n_ok, rows) != MM_OK) {
                rc = cli_fail("image tower");
                break;
            }
            mm_embedder_normalize(rows, b->n_ok, s.n_embd);
            mm_status ds = embed_db_begin(db);
            for (int32_t r = 0; ds == MM_OK && r < b->n_ok; r++) {
                const file_entry *f = &w.v[todo_entry[b->item[r]]];
                ds = embed_db_put(db, f->path, f->size, f->mtime_ns, rows + (size_t)r * s.n_embd, s.n_embd);
            }
            for (int32_t j = 0; ds == MM_OK && j < b->n; j++) {
                if (!b->error[j])
                    continue;
                /* a file that changed into something unreadable no longer has
                 * the embedding its row holds */
                const char *fp = todo[b->first + j];
                ds = embed_db_delete(db, fp);
                progress_clear(&p);
                fprintf(stderr, "mmrun: warning: %s: %s (skipped)\n", fp, b->error[j]);
                failed_paths[n_failed++] = (char *)fp;
            }
            if (ds == MM_OK)
                ds = embed_db_commit(db);
            else
                embed_db_rollback(db);
            if (ds != MM_OK) {
                rc = cli_fail("index");
                break;
            }
            n_done += b->n_ok;
            p.done += b->n;
            img_batches_release(q, b);
            progress_show(&p, false);
        }
        if (rc == 0)
            progress_show(&p, true);
        img_batches_free(q);
        free(rows);
    }

    if (rc == 0) {
        int64_t total = 0;
        embed_db_count(db, &total);
        printf("indexed %s: %lld images: %lld embedded, %lld unchanged, %lld removed, %lld unreadable; %s holds %lld\n",
               root, (long long)w.n, (long long)n_done, (long long)n_same, (long long)n_removed, (long long)n_failed,
               opt->clip.db, (long long)total);
        if (n_failed > 0) {
            fprintf(stderr, "mmrun: warning: %lld files could not be read and are not in the index:\n",
                    (long long)n_failed);
            for (int64_t i = 0; i < n_failed; i++)
                fprintf(stderr, "  %s\n", failed_paths[i]);
        }
    }
    free(failed_paths);
    free(todo);
    free(todo_entry);
    embed_db_files_free(old, n_old);
    clip_session_free(&s);
    embed_db_close(db);
    image_walk_free(&w);
    return rc;
}
