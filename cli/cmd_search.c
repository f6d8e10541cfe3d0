/* `mmrun search --db FILE "text"` or `--image Q.png`: the k images of an
 * index closest to the query (cosine), scored on the backend block by
 * block. */
#include "clip_session.h"
#include "embed_db.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define OPT(field) offsetof(cli_options, clip.field)
#define MAX_K 10000

const cli_option cmd_search_options[] = {
    {.name = "db", .type = CLI_OPT_STRING, .offset = OPT(db), .arg = "FILE", .help = "the index (mmrun index)"},
    {.name = "image", .short_name = 'i', .type = CLI_OPT_LIST, .offset = OPT(images), .arg = "FILE",
     .help = "search by an image instead of a text"},
    {.name = "k", .short_name = 'k', .type = CLI_OPT_INT, .offset = OPT(k), .arg = "N",
     .help = "results (default 10)", .lo = 1, .hi = MAX_K},
    {.name = "model", .short_name = 'm', .type = CLI_OPT_STRING, .offset = OPT(model), .arg = "DIR",
     .help = "the model folder, if it moved (default: the one the\nindex records; it must be the same model)"},
    {.name = "json", .type = CLI_OPT_FLAG, .offset = OPT(json),
     .help = "print {\"query\": ..., \"results\": [{\"path\", \"score\"}]}"},
    {.name = "block", .type = CLI_OPT_INT, .offset = OPT(block), .arg = "N",
     .help = "vectors scored per backend run (default: 32 MiB\nworth, 16384 of 512 values)", .lo = 1,
     .hi = 1 << 30},
    {0},
};

int cmd_search(int argc, char **argv, cli_options *opt)
{
    const char *text = argc > 1 ? argv[1] : NULL;
    const cli_list *img = &opt->clip.images;
    if (!opt->clip.db)
        return cli_usage_error("search", "search needs --db FILE");
    if (!text == (img->n == 0) || img->n > 1)
        return cli_usage_error("search", "search needs one query: a TEXT or one --image FILE");
    int32_t k = opt->clip.k ? opt->clip.k : 10;

    embed_db *db = NULL;
    embed_db_meta meta;
    bool fresh;
    clip_session s = {0};
    char dir[PATH_MAX], id[64];
    float *query = NULL;
    embed_db_hit *hits = calloc((size_t)k, sizeof *hits);
    int32_t n_hits = 0;
    int rc = 0;
    if (!hits) {
        rc = cli_fail("out of memory");
    } else if (embed_db_open(opt->clip.db, false, &db, &fresh) != MM_OK || embed_db_get_meta(db, &meta) != MM_OK) {
        rc = cli_fail("search");
    } else if (!realpath(opt->clip.model ? opt->clip.model : meta.model_dir, dir)) {
        fprintf(stderr, "mmrun: error: model folder %s: %s%s\n", opt->clip.model ? opt->clip.model : meta.model_dir,
                strerror(errno), opt->clip.model ? "" : " (the one the index was made with; give -m DIR)");
        rc = 1;
    } else if (!clip_model_id(dir, id, sizeof id)) {
        fprintf(stderr, "mmrun: error: %s: cannot read config.json and the weights' sizes\n", dir);
        rc = 1;
    } else if (strcmp(id, meta.model_id) != 0) {
        fprintf(stderr, "mmrun: error: %s was made with another model (%s, id %s); %s has id %s\n", opt->clip.db,
                meta.model_dir, meta.model_id, dir, id);
        rc = 1;
    } else if (!clip_session_init(&s, opt, dir, text != NULL, text == NULL)) {
        rc = 1;
    } else if (s.n_embd != meta.n_embd) {
        fprintf(stderr, "mmrun: error: %s holds %d-value embeddings, the model gives %d\n", opt->clip.db,
                (int)meta.n_embd, (int)s.n_embd);
        rc = 1;
    } else if (!(query = malloc((size_t)s.n_embd * sizeof *query))) {
        rc = cli_fail("out of memory");
    } else if (text ? !clip_embed_texts(&s, &text, 1, 1, query)
                    : clip_embed_images(&s, img->v, 1, 1, query, &(bool){false}) != 0) {
        rc = 1;
    } else {
        mm_embedder_normalize(query, 1, s.n_embd);
        if (embed_db_search(db, mm_runtime_backend(s.rt), query, s.n_embd, k, opt->clip.block, hits, &n_hits) != MM_OK)
            rc = cli_fail("search");
    }
    if (rc == 0 && opt->clip.json) {
        fputs("{\"query\": ", stdout);
        json_string(stdout, text ? text : img->v[0]);
        fprintf(stdout, ", \"kind\": \"%s\", \"results\": [", text ? "text" : "image");
        for (int32_t i = 0; i < n_hits; i++) {
            fputs(i ? ",\n  {\"path\": " : "\n  {\"path\": ", stdout);
            json_string(stdout, hits[i].path);
            fputs(", \"score\": ", stdout);
            json_float(stdout, hits[i].score);
            putchar('}');
        }
        fputs(n_hits ? "\n ]}\n" : "]}\n", stdout);
    } else if (rc == 0) {
        for (int32_t i = 0; i < n_hits; i++)
            printf("%.4f  %s\n", (double)hits[i].score, hits[i].path);
        if (n_hits == 0)
            fprintf(stderr, "mmrun: search: %s is empty\n", opt->clip.db);
    }
    if (hits)
        embed_db_hits_free(hits, n_hits);
    free(hits);
    free(query);
    clip_session_free(&s);
    embed_db_close(db);
    return rc;
}
