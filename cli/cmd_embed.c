/* `mmrun embed -m DIR --image F... --text S...`: joint image/text
 * embeddings of a CLIP folder, as JSON, .npy or a short listing. */
#include "clip_session.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define OPT(field) offsetof(cli_options, clip.field)

const cli_option cmd_embed_options[] = {
    {.name = "model", .short_name = 'm', .type = CLI_OPT_STRING, .offset = OPT(model), .arg = "DIR",
     .help = "the CLIP model folder (Hugging Face layout)"},
    {.name = "image", .short_name = 'i', .type = CLI_OPT_LIST, .offset = OPT(images), .arg = "FILE",
     .help = "an image to embed (PNG, JPEG, WebP; - is stdin);\nrepeat for more"},
    {.name = "text", .type = CLI_OPT_LIST, .offset = OPT(texts), .arg = "TEXT",
     .help = "a text to embed; repeat for more"},
    {.name = "json", .type = CLI_OPT_FLAG, .offset = OPT(json),
     .help = "print {\"image_embeds\": [[...], ...], \"text_embeds\": ...}"},
    {.name = "npy", .type = CLI_OPT_STRING, .offset = OPT(npy), .arg = "FILE",
     .help = "write one float32 array [images + texts][E] (image\nrows first, in input order) as NumPy .npy"},
    {.name = "raw", .type = CLI_OPT_FLAG, .offset = OPT(raw),
     .help = "the projections as the model gives them (default:\nunit length, as CLIPModel's image_embeds)"},
    {.name = "batch", .type = CLI_OPT_INT, .offset = OPT(batch), .arg = "B",
     .help = "images or texts per tower run (default 16)", .lo = 1, .hi = 1024},
    {0},
};

/* NumPy .npy version 1.0: magic, header length, a dict padded to 64 bytes. */
static bool write_npy(const char *path, const float *x, int64_t rows, int32_t cols)
{
    char header[128];
    int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %d), }",
                     (long long)rows, (int)cols);
    int total = 10 + n + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return false;
    }
    uint16_t hlen = (uint16_t)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fwrite(header, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(x, sizeof *x, (size_t)rows * (size_t)cols, f); /* little-endian hosts (x86, ARM) */
    bool ok = !ferror(f);
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "mmrun: error: %s: write failed\n", path);
        return false;
    }
    return true;
}

static void json_vectors(const float *x, int32_t n, int32_t e)
{
    putchar('[');
    for (int32_t i = 0; i < n; i++) {
        fputs(i ? ",\n  [" : "\n  [", stdout);
        for (int32_t j = 0; j < e; j++) {
            if (j)
                putchar(',');
            json_float(stdout, x[(size_t)i * e + j]);
        }
        putchar(']');
    }
    fputs(n ? "\n ]" : "]", stdout);
}

/* One line per input: its kind, name, norm and first values. */
static void list_vectors(const char *kind, const char *const *names, const float *x, int32_t n, int32_t e)
{
    for (int32_t i = 0; i < n; i++) {
        const float *v = x + (size_t)i * e;
        double norm = 0;
        for (int32_t j = 0; j < e; j++)
            norm += (double)v[j] * v[j];
        printf("%s %d: %s\n  [%d values, norm %.4f]", kind, (int)i + 1, names[i], (int)e, sqrt(norm));
        for (int32_t j = 0; j < e && j < 6; j++)
            printf(" %.5f", (double)v[j]);
        puts(e > 6 ? " ..." : "");
    }
}

int cmd_embed(int argc, char **argv, cli_options *opt)
{
    const cli_list *images = &opt->clip.images, *texts = &opt->clip.texts;
    if (!opt->clip.model)
        return cli_usage_error("embed", "embed needs a model folder (-m DIR)");
    if (images->n == 0 && texts->n == 0)
        return cli_usage_error("embed", "embed needs --image FILE or --text TEXT");
    if (opt->clip.json && opt->clip.npy)
        return cli_usage_error("embed", "--json and --npy are exclusive");
    int32_t batch = opt->clip.batch ? opt->clip.batch : CLIP_DEFAULT_BATCH;

    clip_session s;
    int rc = 0;
    float *out = NULL;
    bool *ok = NULL;
    if (!clip_session_init(&s, opt, opt->clip.model, texts->n > 0, images->n > 0)) {
        rc = 1;
    } else if (!(out = calloc((size_t)(images->n + texts->n) * (size_t)s.n_embd, sizeof *out)) ||
               !(ok = calloc((size_t)images->n + 1, sizeof *ok))) {
        rc = cli_fail("out of memory");
    } else {
        float *img = out, *txt = out + (size_t)images->n * s.n_embd;
        int32_t failed = images->n ? clip_embed_images(&s, images->v, images->n, batch, img, ok) : 0;
        if (failed != 0) /* every input is asked for by name: one missing is an error */
            rc = 1;
        else if (texts->n && !clip_embed_texts(&s, texts->v, texts->n, batch, txt))
            rc = 1;
        if (rc == 0 && !opt->clip.raw)
            mm_embedder_normalize(out, images->n + texts->n, s.n_embd);
        if (rc == 0 && opt->clip.npy) {
            if (!write_npy(opt->clip.npy, out, images->n + texts->n, s.n_embd))
                rc = 1;
            else
                fprintf(stderr, "mmrun: embed: wrote %s: [%d][%d] float32, %d image rows then %d text rows\n",
                        opt->clip.npy, (int)(images->n + texts->n), (int)s.n_embd, (int)images->n, (int)texts->n);
        } else if (rc == 0 && opt->clip.json) {
            fputs("{\"image_embeds\": ", stdout);
            json_vectors(img, images->n, s.n_embd);
            fputs(",\n \"text_embeds\": ", stdout);
            json_vectors(txt, texts->n, s.n_embd);
            fputs("}\n", stdout);
        } else if (rc == 0) {
            list_vectors("image", images->v, img, images->n, s.n_embd);
            list_vectors("text", texts->v, txt, texts->n, s.n_embd);
        }
    }
    free(out);
    free(ok);
    clip_session_free(&s);
    (void)argc;
    (void)argv;
    return rc;
}
