/* `mmrun caption -m MODEL_DIR IMAGE...`: a caption per image with a
 * vision-encoder-decoder folder (nlpconnect/vit-gpt2-image-captioning and
 * the like). Images (files, or every image under a folder) are decoded
 * ahead on worker threads and captioned in batches, all images of a batch
 * decoded together; an unreadable image is reported and the others are
 * captioned. */
#include "cli.h"
#include "image_batches.h"
#include "image_walk.h"
#include "mm/caption.h"
#include "timing.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OPT(field) offsetof(cli_options, caption.field)

const cli_option cmd_caption_options[] = {
    {.name = "model", .short_name = 'm', .type = CLI_OPT_STRING, .offset = OPT(model), .arg = "DIR",
     .help = "the vision-encoder-decoder folder (required)"},
    {.name = "beams", .type = CLI_OPT_INT, .offset = OPT(beams), .arg = "N",
     .help = "beam search width (default: the model's num_beams)", .lo = 1, .hi = 16},
    {.name = "max-tokens", .type = CLI_OPT_INT, .offset = OPT(max_tokens), .arg = "N",
     .help = "longest caption in tokens (default: the model's)", .lo = 1, .hi = 1024},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .offset = OPT(temperature), .arg = "T",
     .help = "sample at this temperature (default 0: no sampling)", .lo = 0, .hi = 100},
    {.name = "top-k", .type = CLI_OPT_INT, .offset = OPT(top_k), .arg = "K",
     .help = "sample among the K likeliest tokens (default 50)", .lo = 1, .hi = 1 << 20},
    {.name = "top-p", .type = CLI_OPT_FLOAT, .offset = OPT(top_p), .arg = "P",
     .help = "sample among the likeliest tokens that make up P\n(default 1: all)", .lo = 1e-6, .hi = 1},
    {.name = "seed", .type = CLI_OPT_INT, .offset = OPT(seed), .arg = "N",
     .help = "seed of the sampler: the same seed, the same captions", .lo = 0, .hi = 2147483647},
    {.name = "batch", .type = CLI_OPT_INT, .offset = OPT(batch), .arg = "B",
     .help = "images captioned together (default 8)", .lo = 1, .hi = 256},
    {.name = "json", .type = CLI_OPT_FLAG, .offset = OPT(json),
     .help = "print a JSON list in input order: image, caption,\ntokens (generated ids), ms"},
    {0},
};

/* The inputs: files as given, folders expanded to their images. */
static bool collect(int argc, char **argv, char ***paths, int32_t *n, image_walk *w, bool *any_folder)
{
    *n = 0;
    *paths = NULL;
    int32_t cap = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            int64_t before = w->n;
            if (!image_walk_folder(w, argv[i]))
                return false;
            *any_folder = true;
            if (w->n == before)
                fprintf(stderr, "mmrun: warning: %s: no images (.png .jpg .jpeg .webp) in it\n", argv[i]);
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(*paths, (size_t)cap * sizeof *grown);
            if (!grown)
                return false;
            *paths = grown;
        }
        (*paths)[(*n)++] = argv[i];
    }
    /* folders' images after the files, in path order */
    char **grown = realloc(*paths, ((size_t)*n + (size_t)w->n + 1) * sizeof *grown);
    if (!grown)
        return false;
    *paths = grown;
    for (int64_t i = 0; i < w->n; i++)
        (*paths)[(*n)++] = w->v[i].path;
    return true;
}

static void print_result(json_object *list, const char *path, const mm_caption *c, double ms)
{
    if (!list) {
        printf("%s: %s\n", path, c->text);
        return;
    }
    json_object *o = json_object_new_object(), *toks = json_object_new_array();
    for (int32_t i = 0; i < c->n_tokens; i++)
        json_object_array_add(toks, json_object_new_int(c->tokens[i]));
    json_object_object_add(o, "image", json_object_new_string(path));
    json_object_object_add(o, "caption", json_object_new_string(c->text));
    json_object_object_add(o, "tokens", toks);
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f", ms);
    json_object_object_add(o, "ms", json_object_new_double_s(ms, buf));
    json_object_array_add(list, o);
}

int cmd_caption(int argc, char **argv, cli_options *opt)
{
    const char *dir = opt->caption.model;
    if (!dir)
        return cli_usage_error("caption", "caption needs a model folder (-m DIR)");
    if (opt->caption.temperature > 0 && opt->caption.beams > 1)
        return cli_usage_error("caption", "--temperature samples one sequence: it cannot go with --beams %d",
                               opt->caption.beams);
    image_walk w = {0};
    char **paths = NULL;
    int32_t n = 0;
    bool any_folder = false;
    if (!collect(argc, argv, &paths, &n, &w, &any_folder)) {
        fputs("mmrun: error: out of memory listing the images\n", stderr);
        image_walk_free(&w);
        free(paths);
        return 1;
    }
    if (n == 0) {
        fputs("mmrun: error: no images to caption\n", stderr);
        image_walk_free(&w);
        free(paths);
        return 1;
    }

    mm_runtime *rt = NULL;
    mm_captioner *cap = NULL;
    mm_image_proc *pp = NULL;
    img_batches *q = NULL;
    mm_shape shape;
    int rc = 0;
    if (mm_runtime_init(&opt->rt, &rt) != MM_OK)
        rc = cli_fail("cannot start the runtime");
    else if (mm_captioner_init(rt, dir, &cap) != MM_OK || mm_captioner_image_shape(cap, &shape) != MM_OK)
        rc = cli_fail(dir);
    else if (mm_image_proc_init(dir, &pp) != MM_OK)
        rc = cli_fail(dir);
    int32_t batch = opt->caption.batch ? opt->caption.batch : 8;
    if (rc == 0 && img_batches_start(pp, (const char *const *)paths, n, batch, (int32_t)shape.ne[0],
                                     (int32_t)shape.ne[1], 0, &q) != MM_OK)
        rc = cli_fail("caption");

    mm_caption_params p = rc == 0 ? mm_captioner_default_params(cap) : (mm_caption_params){0};
    if (opt->caption.beams)
        p.n_beams = opt->caption.beams;
    if (opt->caption.max_tokens)
        p.max_new_tokens = opt->caption.max_tokens;
    if (opt->caption.temperature > 0) {
        p.sampling.temperature = opt->caption.temperature;
        p.n_beams = 1; /* sampling draws one sequence, whatever the model's num_beams */
    }
    if (opt->caption.top_k)
        p.sampling.top_k = opt->caption.top_k;
    if (opt->caption.top_p > 0)
        p.sampling.top_p = opt->caption.top_p;
    p.sampling.seed = (uint64_t)opt->caption.seed;
    if (rc == 0 && p.n_beams > 1 && p.sampling.temperature > 0)
        p.sampling.temperature = 0; /* the model's own do_sample with beams: beam search, as --beams asks */

    json_object *list = opt->caption.json ? json_object_new_array() : NULL;
    progress prog = progress_start("caption", "images", n);
    int32_t failed = 0;
    mm_caption *out = rc == 0 ? calloc((size_t)batch, sizeof *out) : NULL;
    img_batch *b;
    while (rc == 0 && (b = img_batches_next(q))) {
        for (int32_t j = 0; j < b->n; j++)
            if (b->error[j]) {
                progress_clear(&prog);
                fprintf(stderr, "mmrun: error: %s\n", b->error[j]);
                failed++;
            }
        if (b->n_ok > 0) {
            double t0 = bench_now();
            if (mm_caption_images(cap, b->pixels, b->n_ok, &p, out) != MM_OK) {
                rc = cli_fail("caption");
                img_batches_release(q, b);
                break;
            }
            double ms = (bench_now() - t0) * 1e3 / b->n_ok;
            progress_clear(&prog); /* captions on the same terminal start on a clean line */
            for (int32_t r = 0; r < b->n_ok; r++) {
                print_result(list, paths[b->item[r]], &out[r], ms);
                mm_caption_clear(&out[r]);
            }
            fflush(stdout);
        }
        prog.done += b->n;
        if (any_folder)
            progress_show(&prog, prog.done == n);
        img_batches_release(q, b);
    }
    if (list) {
        if (rc == 0)
            printf("%s\n", json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(list);
    }
    if (rc == 0 && failed)
        rc = 1; /* reported above; the others are captioned */
    free(out);
    img_batches_free(q);
    mm_image_proc_free(pp);
    mm_captioner_free(cap);
    mm_runtime_free(rt);
    image_walk_free(&w);
    free(paths);
    return rc;
}
