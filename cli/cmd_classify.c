/* `mmrun classify -m DIR IMAGE... --labels "a dog,a cat"`: CLIP zero-shot
 * classification, softmax over logit_scale * cosine(image, label text). */
#include "clip_session.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define OPT(field) offsetof(cli_options, clip.field)
#define MAX_LABELS 100000

const cli_option cmd_classify_options[] = {
    {.name = "model", .short_name = 'm', .type = CLI_OPT_STRING, .offset = OPT(model), .arg = "DIR",
     .help = "the CLIP model folder (Hugging Face layout)"},
    {.name = "labels", .short_name = 'l', .type = CLI_OPT_STRING, .offset = OPT(labels), .arg = "L1,L2,..",
     .help = "the candidate labels, comma-separated (\"a photo of\na dog,a photo of a cat\")"},
    {.name = "labels-file", .type = CLI_OPT_STRING, .offset = OPT(labels_file), .arg = "FILE",
     .help = "the labels, one per line (blank lines skipped)"},
    {.name = "top", .type = CLI_OPT_INT, .offset = OPT(top), .arg = "N",
     .help = "labels shown per image (default 5)", .lo = 1, .hi = MAX_LABELS},
    {.name = "json", .type = CLI_OPT_FLAG, .offset = OPT(json),
     .help = "print JSON: the labels, and per image every\nprobability in label order and the top N"},
    {.name = "batch", .type = CLI_OPT_INT, .offset = OPT(batch), .arg = "B",
     .help = "images or labels per tower run (default 16)", .lo = 1, .hi = 1024},
    {0},
};

typedef struct labels {
    char **v;
    int32_t n;
} labels;

/* Appends s[0..len) trimmed of spaces, unless empty. */
static bool add_label(labels *l, const char *s, size_t len)
{
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (!len)
        return true;
    if (l->n >= MAX_LABELS) {
        fprintf(stderr, "mmrun: error: more than %d labels\n", MAX_LABELS);
        return false;
    }
    char **grown = realloc(l->v, ((size_t)l->n + 1) * sizeof *grown);
    if (!grown || !(grown[l->n] = strndup(s, len))) {
        if (grown)
            l->v = grown;
        fputs("mmrun: error: out of memory\n", stderr);
        return false;
    }
    l->v = grown;
    l->n++;
    return true;
}

static bool split_labels(labels *l, const char *text, char sep)
{
    for (const char *p = text;;) {
        const char *end = strchr(p, sep);
        if (!add_label(l, p, end ? (size_t)(end - p) : strlen(p)))
            return false;
        if (!end)
            return true;
        p = end + 1;
    }
}

static bool read_labels(labels *l, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mmrun: error: %s: %s\n", path, strerror(errno));
        return false;
    }
    char *text = NULL;
    size_t cap = 0, n = 0, got;
    char buf[4096];
    bool ok = true;
    while (ok && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (n + got + 1 > cap) {
            cap = (n + got + 1) * 2;
            char *grown = realloc(text, cap);
            ok = grown != NULL;
            text = ok ? grown : text;
        }
        if (ok)
            memcpy(text + n, buf, got), n += got;
    }
    ok = ok && !ferror(f);
    fclose(f);
    if (ok && text && memchr(text, '\0', n)) {
        fprintf(stderr, "mmrun: error: %s: not a text file (NUL byte)\n", path);
        ok = false;
    } else if (ok && text) {
        text[n] = '\0';
        ok = split_labels(l, text, '\n'); /* "\r\n" ends are trimmed as spaces */
    } else if (!ok) {
        fprintf(stderr, "mmrun: error: %s: cannot read\n", path);
    }
    free(text);
    return ok;
}

/* Order of label indices by probability, highest first. */
static const float *sort_probs;
static int by_prob(const void *a, const void *b)
{
    float x = sort_probs[*(const int32_t *)a], y = sort_probs[*(const int32_t *)b];
    return x > y ? -1 : x < y ? 1 : *(const int32_t *)a - *(const int32_t *)b;
}

int cmd_classify(int argc, char **argv, cli_options *opt)
{
    if (!opt->clip.model)
        return cli_usage_error("classify", "classify needs a model folder (-m DIR)");
    if (!opt->clip.labels == !opt->clip.labels_file)
        return cli_usage_error("classify", "classify needs --labels L1,L2,.. or --labels-file FILE (one of them)");
    labels l = {0};
    bool ok = opt->clip.labels ? split_labels(&l, opt->clip.labels, ',') : read_labels(&l, opt->clip.labels_file);
    if (ok && l.n == 0) {
        fputs("mmrun: error: no labels given (all empty)\n", stderr);
        ok = false;
    }
    int32_t n_img = argc - 1, top = opt->clip.top ? opt->clip.top : 5;
    int32_t batch = opt->clip.batch ? opt->clip.batch : CLIP_DEFAULT_BATCH;
    const char *const *paths = (const char *const *)argv + 1;
    if (top > l.n)
        top = l.n;

    clip_session s = {0};
    float *img = NULL, *txt = NULL, *probs = NULL;
    bool *read = NULL;
    int32_t *order = NULL, failed = 0;
    int rc = ok ? 0 : 1;
    if (rc == 0 && !clip_session_init(&s, opt, opt->clip.model, true, true))
        rc = 1;
    if (rc == 0 && (!(img = calloc((size_t)n_img * s.n_embd, sizeof *img)) ||
                    !(txt = calloc((size_t)l.n * s.n_embd, sizeof *txt)) ||
                    !(probs = calloc((size_t)n_img * l.n, sizeof *probs)) || !(read = calloc((size_t)n_img, 1)) ||
                    !(order = calloc((size_t)l.n, sizeof *order))))
        rc = cli_fail("out of memory");
    if (rc == 0 && !clip_embed_texts(&s, (const char *const *)l.v, l.n, batch, txt))
        rc = 1;
    if (rc == 0 && (failed = clip_embed_images(&s, paths, n_img, batch, img, read)) < 0)
        rc = 1;
    if (rc == 0 && mm_embedder_logits(s.emb, img, n_img, txt, l.n, probs) != MM_OK)
        rc = cli_fail("logits");
    if (rc == 0) {
        for (int32_t i = 0; i < n_img; i++) { /* softmax over the labels, in double */
            float *p = probs + (size_t)i * l.n;
            double mx = -INFINITY, sum = 0;
            for (int32_t t = 0; t < l.n; t++)
                mx = p[t] > mx ? p[t] : mx;
            for (int32_t t = 0; t < l.n; t++)
                sum += exp((double)p[t] - mx);
            for (int32_t t = 0; t < l.n; t++)
                p[t] = (float)(exp((double)p[t] - mx) / sum);
        }
        if (opt->clip.json) {
            fputs("{\"labels\": [", stdout);
            for (int32_t t = 0; t < l.n; t++) {
                fputs(t ? ", " : "", stdout);
                json_string(stdout, l.v[t]);
            }
            fputs("],\n \"results\": [", stdout);
        }
        for (int32_t i = 0; i < n_img; i++) {
            const float *p = probs + (size_t)i * l.n;
            if (opt->clip.json) {
                fputs(i ? ",\n  {\"image\": " : "\n  {\"image\": ", stdout);
                json_string(stdout, paths[i]);
                if (!read[i]) {
                    fputs(", \"error\": \"cannot read the image\"}", stdout);
                    continue;
                }
            } else if (read[i]) {
                printf("%s\n", paths[i]);
            } else {
                continue; /* reported on stderr */
            }
            for (int32_t t = 0; t < l.n; t++)
                order[t] = t;
            sort_probs = p;
            qsort(order, (size_t)l.n, sizeof *order, by_prob);
            if (opt->clip.json) {
                fputs(", \"probs\": [", stdout);
                for (int32_t t = 0; t < l.n; t++) {
                    fputs(t ? ", " : "", stdout);
                    json_float(stdout, p[t]);
                }
                fputs("], \"top\": [", stdout);
            }
            for (int32_t r = 0; r < top; r++) {
                int32_t t = order[r];
                if (opt->clip.json) {
                    fputs(r ? ", {\"label\": " : "{\"label\": ", stdout);
                    json_string(stdout, l.v[t]);
                    fputs(", \"prob\": ", stdout);
                    json_float(stdout, p[t]);
                    putchar('}');
                } else {
                    printf("  %6.2f%%  %s\n", 100.0 * p[t], l.v[t]);
                }
            }
            if (opt->clip.json)
                fputs("]}", stdout);
        }
        if (opt->clip.json)
            fputs("\n ]}\n", stdout);
        if (failed > 0) {
            fprintf(stderr, "mmrun: error: %d of %d images could not be read (above)\n", (int)failed, (int)n_img);
            rc = 1;
        }
    }
    for (int32_t t = 0; t < l.n; t++)
        free(l.v[t]);
    free(l.v);
    free(img);
    free(txt);
    free(probs);
    free(read);
    free(order);
    clip_session_free(&s);
    return rc;
}
