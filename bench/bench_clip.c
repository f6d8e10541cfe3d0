/* bench-clip: a ViT-B/32-sized CLIP (random weights, written as a temporary
 * Hugging Face folder) on each backend that starts: images/s and texts/s at
 * batch 1 and 32; `mmrun index` on a folder of 200 generated 640x480 JPEGs
 * next to the image tower alone (what decoding and preprocessing cost once
 * overlapped with the compute); search time over 100k and 1M stored 512-d
 * vectors (the index's SQLite file and blocked top-k on the backend). Not a
 * test (see --help). */
#include "bench_util.h"
#include "bench_weights.h"
#include "embed_db.h" /* cli/: the index mmrun index writes and mmrun search reads */
#include "mm/runtime.h"

#include <math.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VIS_D 768
#define VIS_LAYERS 12
#define TXT_D 512
#define TXT_LAYERS 12
#define EMBD 512
#define VOCAB 49408
#define N_CTX 77
#define TEXT_TOKENS 16 /* a caption-length text */

static bool block_weights(bench_weights *w, const char *p, int layers, int64_t d)
{
    bool ok = true;
    for (int l = 0; ok && l < layers; l++) {
        static const char *const proj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int i = 0; ok && i < 4; i++)
            ok = bench_weight(w, SHAPE(d, d), "%s.encoder.layers.%d.self_attn.%s.weight", p, l, proj[i]) &&
                 bench_weight(w, SHAPE(d), "%s.encoder.layers.%d.self_attn.%s.bias", p, l, proj[i]);
        ok = ok && bench_weight(w, SHAPE(d), "%s.encoder.layers.%d.layer_norm1.weight", p, l) &&
             bench_weight(w, SHAPE(d), "%s.encoder.layers.%d.layer_norm1.bias", p, l) &&
             bench_weight(w, SHAPE(d), "%s.encoder.layers.%d.layer_norm2.weight", p, l) &&
             bench_weight(w, SHAPE(d), "%s.encoder.layers.%d.layer_norm2.bias", p, l) &&
             bench_weight(w, SHAPE(4 * d, d), "%s.encoder.layers.%d.mlp.fc1.weight", p, l) &&
             bench_weight(w, SHAPE(4 * d), "%s.encoder.layers.%d.mlp.fc1.bias", p, l) &&
             bench_weight(w, SHAPE(d, 4 * d), "%s.encoder.layers.%d.mlp.fc2.weight", p, l) &&
             bench_weight(w, SHAPE(d), "%s.encoder.layers.%d.mlp.fc2.bias", p, l);
    }
    return ok;
}

/* openai/clip-vit-base-patch32's config and tensor names. */
static bool make_clip(const char *dir)
{
    static const char cfg[] =
        "{\"model_type\": \"clip\", \"projection_dim\": 512, \"logit_scale_init_value\": 2.6592,"
        " \"text_config\": {\"hidden_size\": 512, \"intermediate_size\": 2048, \"num_attention_heads\": 8,"
        " \"num_hidden_layers\": 12, \"vocab_size\": 49408, \"max_position_embeddings\": 77,"
        " \"bos_token_id\": 49406, \"eos_token_id\": 49407, \"pad_token_id\": 1},"
        " \"vision_config\": {\"hidden_size\": 768, \"intermediate_size\": 3072, \"num_attention_heads\": 12,"
        " \"num_hidden_layers\": 12, \"image_size\": 224, \"patch_size\": 32}}";
    static const char pre[] =
        "{\"image_processor_type\": \"CLIPImageProcessor\", \"crop_size\": {\"height\": 224, \"width\": 224},"
        " \"size\": {\"shortest_edge\": 224}, \"resample\": 3, \"do_center_crop\": true, \"do_normalize\": true,"
        " \"do_rescale\": true, \"do_resize\": true, \"rescale_factor\": 0.00392156862745098,"
        " \"image_mean\": [0.48145466, 0.4578275, 0.40821073], \"image_std\": [0.26862954, 0.26130258, 0.27577711]}";
    bench_weights w = {.seed = 0x9E3779B97F4A7C15ull};
    bool ok = bench_weight(&w, SHAPE(VIS_D), "vision_model.embeddings.class_embedding") &&
              bench_weight(&w, SHAPE(VIS_D, 3, 32, 32), "vision_model.embeddings.patch_embedding.weight") &&
              bench_weight(&w, SHAPE(50, VIS_D), "vision_model.embeddings.position_embedding.weight") &&
              bench_weight(&w, SHAPE(VIS_D), "vision_model.pre_layrnorm.weight") &&
              bench_weight(&w, SHAPE(VIS_D), "vision_model.pre_layrnorm.bias") &&
              block_weights(&w, "vision_model", VIS_LAYERS, VIS_D) &&
              bench_weight(&w, SHAPE(VIS_D), "vision_model.post_layernorm.weight") &&
              bench_weight(&w, SHAPE(VIS_D), "vision_model.post_layernorm.bias") &&
              bench_weight(&w, SHAPE(EMBD, VIS_D), "visual_projection.weight") &&
              bench_weight(&w, SHAPE(VOCAB, TXT_D), "text_model.embeddings.token_embedding.weight") &&
              bench_weight(&w, SHAPE(N_CTX, TXT_D), "text_model.embeddings.position_embedding.weight") &&
              block_weights(&w, "text_model", TXT_LAYERS, TXT_D) &&
              bench_weight(&w, SHAPE(TXT_D), "text_model.final_layer_norm.weight") &&
              bench_weight(&w, SHAPE(TXT_D), "text_model.final_layer_norm.bias") &&
              bench_weight(&w, SHAPE(EMBD, TXT_D), "text_projection.weight") && bench_weight(&w, SHAPE(1), "logit_scale");
    /* logit_scale is a 0-d tensor in checkpoints; shape [1] holds the same value */
    ok = ok && bench_weights_end(&w) && bench_weights_write(&w, dir) &&
         bench_write_file(dir, "config.json", cfg, strlen(cfg), "", 0, "", 0) &&
         bench_write_file(dir, "preprocessor_config.json", pre, strlen(pre), "", 0, "", 0);
    free(w.header);
    free(w.data);
    return ok;
}

/* A 640x480 photo-like JPEG (smooth gradients and a moving pattern), q 90. */
static bool write_jpeg(const char *path, int seed)
{
    enum { W = 640, H = 480 };
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = W;
    c.image_height = H;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    static unsigned char row[W * 3];
    while (c.next_scanline < H) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < W; x++) {
            row[3 * x] = (unsigned char)(x * 255 / W + seed);
            row[3 * x + 1] = (unsigned char)(y * 255 / H + ((x / 8 + y / 8 + seed) & 1) * 40);
            row[3 * x + 2] = (unsigned char)((x ^ y) + seed * 3);
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) == 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-clip [--threads N] [--backend cpu|vulkan|all] [--skip index,search]\n"
            "                  [--search-rows N,N]\n"
            "\n"
            "A ViT-B/32-sized CLIP with random weights (openai/clip-vit-base-patch32's\n"
            "shapes), per backend: images/s and texts/s (%d-token texts) at batch 1 and\n"
            "32 (on a Vulkan device that runs on the CPU, such as lavapipe, batch 8\n"
            "instead of 32 and one run, to stay short); `mmrun index` (cpu) on 200\n"
            "generated 640x480 JPEGs next to the image tower alone; search time over\n"
            "SQLite indexes of 100000 and 1000000 random 512-d vectors (--search-rows).\n",
            TEXT_TOKENS);
}

static double time_images(mm_embedder *e, int32_t batch, int runs)
{
    mm_shape s;
    if (mm_embedder_image_shape(e, batch, &s) != MM_OK)
        return -1;
    size_t n = 1;
    for (int d = 0; d < s.n_dims; d++)
        n *= (size_t)s.ne[d];
    float *px = calloc(n, sizeof *px), *out = malloc((size_t)batch * EMBD * sizeof *out);
    double t[8], best = -1;
    if (px && out && mm_embedder_image(e, px, batch, out) == MM_OK) { /* warm-up: graph, weights */
        int i = 0;
        for (; i < runs; i++) {
            double t0 = bench_now();
            if (mm_embedder_image(e, px, batch, out) != MM_OK)
                break;
            t[i] = bench_now() - t0;
        }
        if (i == runs)
            best = bench_median(t, runs);
    }
    free(px);
    free(out);
    return best > 0 ? batch / best : -1;
}

static double time_texts(mm_embedder *e, int32_t batch, int runs)
{
    int32_t *ids = malloc((size_t)batch * TEXT_TOKENS * sizeof *ids);
    float *out = malloc((size_t)batch * EMBD * sizeof *out);
    double t[8], best = -1;
    for (int32_t i = 0; ids && i < batch * TEXT_TOKENS; i++)
        ids[i] = i % TEXT_TOKENS == TEXT_TOKENS - 1 ? VOCAB - 1 : 320 + i % 1000;
    if (ids && out && mm_embedder_text(e, ids, TEXT_TOKENS, batch, NULL, out) == MM_OK) {
        int i = 0;
        for (; i < runs; i++) {
            double t0 = bench_now();
            if (mm_embedder_text(e, ids, TEXT_TOKENS, batch, NULL, out) != MM_OK)
                break;
            t[i] = bench_now() - t0;
        }
        if (i == runs)
            best = bench_median(t, runs);
    }
    free(ids);
    free(out);
    return best > 0 ? batch / best : -1;
}

/* `mmrun index` on `folder`: its own images/s (the embedding loop) and the
 * wall time including the model load. */
static bool run_index(const char *model, const char *folder, const char *db, int threads, double *rate, double *wall)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/mmrun -b cpu -t %d index %s --db %s -m %s --batch 32 2>&1", MM_BENCH_BUILD_DIR,
             threads, folder, db, model);
    double t0 = bench_now();
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    char line[1024];
    *rate = -1;
    while (fgets(line, sizeof line, p)) {
        const char *r = strstr(line, "] ");
        if (strncmp(line, "index: 200/200", 14) == 0 && r)
            *rate = atof(r + 2);
        else if (strncmp(line, "index:", 6) != 0)
            fputs(line, stderr);
    }
    *wall = bench_now() - t0;
    return pclose(p) == 0 && *rate > 0;
}

static bool make_db(const char *path, int64_t rows, uint64_t *seed)
{
    embed_db *db = NULL;
    bool fresh;
    embed_db_meta meta = {.n_embd = EMBD};
    snprintf(meta.model_id, sizeof meta.model_id, "bench");
    snprintf(meta.model_dir, sizeof meta.model_dir, "/nonexistent");
    float v[EMBD];
    char name[64];
    mm_status s = embed_db_open(path, true, &db, &fresh);
    if (s == MM_OK)
        s = embed_db_set_meta(db, &meta);
    for (int64_t r = 0; s == MM_OK && r < rows; r++) {
        if (r % 20000 == 0 && (r == 0 || (s = embed_db_commit(db)) == MM_OK))
            s = embed_db_begin(db);
        double norm = 0;
        for (int j = 0; j < EMBD; j++) {
            *seed ^= *seed << 13, *seed ^= *seed >> 7, *seed ^= *seed << 17;
            v[j] = (float)((double)(*seed >> 40) / 16777216.0 - 0.5);
            norm += (double)v[j] * v[j];
        }
        for (int j = 0; j < EMBD; j++)
            v[j] = (float)(v[j] / sqrt(norm));
        snprintf(name, sizeof name, "/photos/%09lld.jpg", (long long)r);
        s = embed_db_put(db, name, 100000, r, v, EMBD);
    }
    if (s == MM_OK)
        s = embed_db_commit(db);
    embed_db_close(db);
    return s == MM_OK;
}

int main(int argc, char **argv)
{
    blas_reexec(argv);
    int threads = 0;
    bool cpu = true, vulkan = true, do_index = true, do_search = true;
    int64_t search_rows[2] = {100000, 1000000};
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--threads") && v && (threads = atoi(v)) > 0) {
            i++;
        } else if (!strcmp(a, "--backend") && v && (!strcmp(v, "cpu") || !strcmp(v, "vulkan") || !strcmp(v, "all"))) {
            cpu = strcmp(v, "vulkan") != 0;
            vulkan = strcmp(v, "cpu") != 0;
            i++;
        } else if (!strcmp(a, "--skip") && v) {
            do_index = !strstr(v, "index");
            do_search = !strstr(v, "search");
            i++;
        } else if (!strcmp(a, "--search-rows") && v &&
                   sscanf(v, "%lld,%lld", (long long *)&search_rows[0], (long long *)&search_rows[1]) == 2) {
            i++;
        } else {
            fprintf(stderr, "bench-clip: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    char dir[] = "/tmp/bench-clip-XXXXXX";
    char model[300], photos[300], path[400];
    if (!mkdtemp(dir))
        return perror("mkdtemp"), 1;
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(photos, sizeof photos, "%s/photos", dir);
    mkdir(model, 0755);
    mkdir(photos, 0755);
    mm_model *m = NULL;
    int rc = 0;
    printf("# %d thread(s); ViT-B/32 CLIP, random weights; texts of %d tokens; images/s and texts/s are medians\n",
           threads, TEXT_TOKENS);
    if (!make_clip(model) || mm_model_load(model, &m) != MM_OK) {
        fprintf(stderr, "bench-clip: writing the model to %s failed: %s\n", model, mm_error_message());
        rc = 1;
    }
    double cpu_img32 = -1;
    for (int k = 0; rc == 0 && k < 2; k++) {
        if (!(k == 0 ? cpu : vulkan))
            continue;
        mm_runtime_params p = mm_runtime_default_params();
        p.backend.kind = k == 0 ? MM_BACKEND_CPU : MM_BACKEND_VULKAN;
        p.backend.n_threads = threads;
        p.plugin_path = MM_BENCH_PLUGIN_DIR;
        mm_runtime *rt = NULL;
        mm_embedder *e = NULL;
        if (mm_runtime_init(&p, &rt) != MM_OK || mm_embedder_init(rt, m, &e) != MM_OK) {
            printf("# %s: unavailable: %s\n", k == 0 ? "cpu" : "vulkan", mm_error_message());
            mm_runtime_free(rt);
            continue;
        }
        const char *name = mm_backend_name(mm_runtime_backend(rt));
        bool slow = k == 1 && strstr(name, "llvmpipe"); /* lavapipe: the CPU through Vulkan */
        int32_t big = slow ? 8 : 32;
        int runs1 = slow ? 2 : 5, runs_big = slow ? 1 : 3;
        double i1 = time_images(e, 1, runs1), ib = time_images(e, big, runs_big);
        double t1 = time_texts(e, 1, runs1), tb = time_texts(e, big, runs_big);
        printf("%-40s images/s: batch 1 %.2f, batch %d %.2f; texts/s: batch 1 %.1f, batch %d %.1f\n", name, i1, big,
               ib, t1, big, tb);
        if (k == 0)
            cpu_img32 = ib;
        if (do_search) {
            for (int si = 0; si < 2; si++) {
                int64_t rows = search_rows[si];
                if (slow && rows > 100000)
                    continue; /* lavapipe: the smaller index only */
                snprintf(path, sizeof path, "%s/search-%lld.db", dir, (long long)rows);
                uint64_t seed = 12345;
                struct stat st;
                if (stat(path, &st) != 0) {
                    double t0 = bench_now();
                    if (!make_db(path, rows, &seed)) {
                        fprintf(stderr, "bench-clip: %s: %s\n", path, mm_error_message());
                        continue;
                    }
                    printf("# wrote %lld vectors to an index in %.1f s\n", (long long)rows, bench_now() - t0);
                }
                embed_db *db = NULL;
                bool fresh;
                float q[EMBD];
                for (int j = 0; j < EMBD; j++)
                    q[j] = (j % 7 == 0 ? 1.0f : -0.1f) / 10.0f;
                embed_db_hit hits[10];
                int32_t n_hits = 0;
                double t[3];
                int ok_runs = 0;
                if (embed_db_open(path, false, &db, &fresh) == MM_OK) {
                    for (int r = 0; r < 3; r++) {
                        double t0 = bench_now();
                        if (embed_db_search(db, mm_runtime_backend(rt), q, EMBD, 10, 0, hits, &n_hits) != MM_OK)
                            break;
                        t[ok_runs++] = bench_now() - t0;
                        embed_db_hits_free(hits, n_hits);
                    }
                }
                embed_db_close(db);
                if (ok_runs == 3)
                    printf("%-40s search, top 10 of %lld vectors: %.0f ms (median of 3; first %.0f ms)\n", name,
                           (long long)rows, bench_median(t, 3) * 1e3, t[0] * 1e3);
                else
                    printf("# search over %lld vectors failed: %s\n", (long long)rows, mm_error_message());
            }
        }
        mm_embedder_free(e);
        mm_runtime_free(rt);
    }
    if (rc == 0 && do_index && cpu) {
        double t0 = bench_now();
        for (int i = 0; i < 200; i++) {
            snprintf(path, sizeof path, "%s/img%03d.jpg", photos, i);
            if (!write_jpeg(path, i)) {
                fprintf(stderr, "bench-clip: cannot write %s\n", path);
                rc = 1;
                break;
            }
        }
        printf("# wrote 200 JPEGs (640x480, q90) in %.1f s\n", bench_now() - t0);
        double rate, wall;
        snprintf(path, sizeof path, "%s/index.db", dir);
        if (rc == 0 && run_index(model, photos, path, threads, &rate, &wall))
            printf("mmrun index, 200 JPEGs, cpu batch 32: %.2f images/s (%.1f s with the model load); "
                   "image tower alone %.2f images/s: the front end costs %.0f%%\n",
                   rate, wall, cpu_img32, cpu_img32 > 0 ? 100.0 * (cpu_img32 / rate - 1) : 0.0);
        else if (rc == 0)
            printf("# mmrun index failed\n");
    }
    mm_model_free(m);
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench-clip: could not remove %s\n", dir);
    return rc;
}
