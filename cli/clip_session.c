/* Shared by the CLIP commands: see clip_session.h. */
#include "clip_session.h"
#include "image_batches.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOKENIZE_FLAGS (MM_TOKENIZE_SPECIAL | MM_TOKENIZE_ADD_SPECIAL) /* CLIPProcessor's */

bool clip_session_init(clip_session *s, const cli_options *opt, const char *dir, bool with_texts, bool with_images)
{
    *s = (clip_session){0};
    mm_shape shape;
    if (mm_runtime_init(&opt->rt, &s->rt) != MM_OK)
        return cli_fail("cannot start the runtime"), false;
    if (mm_model_load(dir, &s->model) != MM_OK)
        return cli_fail(dir), false;
    if (mm_embedder_init(s->rt, s->model, &s->emb) != MM_OK)
        return cli_fail(dir), false;
    s->n_embd = mm_embedder_n_embd(s->emb);
    if (with_texts && mm_tokenizer_load(dir, &s->tok) != MM_OK)
        return cli_fail("tokenizer"), false;
    if (with_images) {
        if (mm_image_proc_init(dir, &s->pp) != MM_OK)
            return cli_fail("image processor"), false;
        if (mm_embedder_image_shape(s->emb, 1, &shape) != MM_OK)
            return cli_fail("image tower"), false;
        s->width = (int32_t)shape.ne[0];
        s->height = (int32_t)shape.ne[1];
    }
    return true;
}

void clip_session_free(clip_session *s)
{
    mm_image_proc_free(s->pp);
    mm_tokenizer_free(s->tok);
    mm_embedder_free(s->emb);
    mm_model_free(s->model);
    mm_runtime_free(s->rt);
    *s = (clip_session){0};
}

bool clip_embed_texts(clip_session *s, const char *const *texts, int32_t n, int32_t batch, float *out)
{
    int32_t n_ctx = mm_embedder_n_ctx(s->emb);
    for (int32_t i = 0; i < n; i++) {
        int32_t len = 0;
        if (mm_tokenizer_encode(s->tok, texts[i], TOKENIZE_FLAGS, NULL, 0, &len) != MM_OK) {
            fprintf(stderr, "mmrun: error: text %d: %s\n", (int)i + 1, mm_error_message());
            return false;
        }
        if (len > n_ctx)
            fprintf(stderr,
                    "mmrun: warning: text %d has %d tokens and the model reads %d: truncated to its first %d "
                    "(as transformers' truncation=True)\n",
                    (int)i + 1, (int)len, (int)n_ctx, (int)n_ctx);
    }
    int32_t *ids = malloc((size_t)batch * (size_t)n_ctx * sizeof *ids);
    int32_t *mask = malloc((size_t)batch * (size_t)n_ctx * sizeof *mask);
    int32_t *lens = malloc((size_t)batch * sizeof *lens);
    bool ok = ids && mask && lens;
    if (!ok)
        fputs("mmrun: error: out of memory\n", stderr);
    for (int32_t first = 0; ok && first < n; first += batch) {
        int32_t nb = n - first < batch ? n - first : batch, row = 0;
        if (mm_tokenizer_encode_batch(s->tok, texts + first, nb, n_ctx, TOKENIZE_FLAGS, ids, mask, &row) != MM_OK) {
            ok = !cli_fail("tokenizer");
            break;
        }
        for (int32_t b = 0; b < nb; b++) {
            lens[b] = 0;
            for (int32_t t = 0; t < row; t++)
                lens[b] += mask[(size_t)b * row + t];
        }
        if (mm_embedder_text(s->emb, ids, row, nb, lens, out + (size_t)first * s->n_embd) != MM_OK)
            ok = !cli_fail("text tower");
    }
    free(ids);
    free(mask);
    free(lens);
    return ok;
}

int32_t clip_embed_images(clip_session *s, const char *const *paths, int32_t n, int32_t batch, float *out,
                          bool *ok)
{
    img_batches *q = NULL;
    if (img_batches_start(s->pp, paths, n, batch, s->width, s->height, 0, &q) != MM_OK)
        return cli_fail("image batches"), -1;
    int32_t failed = 0;
    img_batch *b;
    float *rows = malloc((size_t)batch * (size_t)s->n_embd * sizeof *rows);
    if (!rows) {
        img_batches_free(q);
        fputs("mmrun: error: out of memory\n", stderr);
        return -1;
    }
    while ((b = img_batches_next(q))) {
        for (int32_t j = 0; j < b->n; j++) {
            int32_t i = b->first + j;
            ok[i] = !b->error[j];
            memset(out + (size_t)i * s->n_embd, 0, (size_t)s->n_embd * sizeof *out);
            if (b->error[j]) {
                fprintf(stderr, "mmrun: error: %s: %s\n", paths[i], b->error[j]);
                failed++;
            }
        }
        if (b->n_ok > 0 && mm_embedder_image(s->emb, b->pixels, b->n_ok, rows) != MM_OK) {
            failed = -1;
            cli_fail("image tower");
            break;
        }
        for (int32_t r = 0; r < b->n_ok; r++)
            memcpy(out + (size_t)b->item[r] * s->n_embd, rows + (size_t)r * s->n_embd, (size_t)s->n_embd * sizeof *out);
        img_batches_release(q, b);
    }
    free(rows);
    img_batches_free(q);
    return failed;
}

void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void json_float(FILE *f, float v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", (double)v);
    else
        fputs("null", f);
}

static void fnv1a(uint64_t *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        *h ^= p[i];
        *h *= 1099511628211ull;
    }
}

/* Hashes the file's bytes (or the word "absent"); false when unreadable. */
static bool hash_file(uint64_t *h, const char *dir, const char *name, bool required)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    fnv1a(h, name, strlen(name) + 1);
    if (!f) {
        fnv1a(h, "absent", 6);
        return !required;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fnv1a(h, buf, n);
    fclose(f);
    return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

bool clip_model_id(const char *dir, char *out, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    if (!hash_file(&h, dir, "config.json", true))
        return false;
    hash_file(&h, dir, "preprocessor_config.json", false);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    bool ok = true;
    while (ok && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors") != 0)
            continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        ok = grown && (grown[n] = strdup(e->d_name));
        if (grown)
            names = grown;
        n += ok;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int64_t sz = stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
        fnv1a(&h, names[i], strlen(names[i]) + 1);
        fnv1a(&h, &sz, sizeof sz);
        free(names[i]);
    }
    free(names);
    snprintf(out, size, "fnv1a64:%016" PRIx64, h);
    return ok;
}
