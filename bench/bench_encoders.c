/* bench-encoders: whole encoders at real checkpoint sizes, through the
 * runtime and the plugins, on each backend that starts. Weights are random
 * (nothing can be downloaded here; a checkpoint differs from these only in
 * its values), written as a temporary model folder with the tensor names
 * and config of the Hugging Face checkpoint. Prints milliseconds per item, GFLOP/s
 * (the matmul, convolution and attention FLOPs of the architecture) and the
 * ratio to OpenBLAS sgemm measured in the same run on the encoder's FFN
 * shape. Not a test (see --help). */
#include "bench_util.h"
#include "bench_weights.h"
#include "mm/runtime.h"

#include <cblas.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct arch {
    const char *name;
    int64_t d, heads, layers, ff; /* width, heads, layers, FFN width */
    bool whisper;                 /* else ViT-B/16 at 224 */
} arch;

/* Writes config.json and model.safetensors of `a` into the folder `dir`. */
static bool make_model(const arch *a, const char *dir)
{
    char cfg[512];
    if (a->whisper)
        snprintf(cfg, sizeof cfg,
                 "{\"model_type\": \"whisper\", \"d_model\": %lld, \"encoder_attention_heads\": %lld, "
                 "\"encoder_layers\": %lld, \"encoder_ffn_dim\": %lld, \"num_mel_bins\": 80, "
                 "\"max_source_positions\": 1500, \"activation_function\": \"gelu\"}",
                 (long long)a->d, (long long)a->heads, (long long)a->layers, (long long)a->ff);
    else
        snprintf(cfg, sizeof cfg,
                 "{\"model_type\": \"vit\", \"hidden_size\": %lld, \"num_attention_heads\": %lld, "
                 "\"num_hidden_layers\": %lld, \"intermediate_size\": %lld, \"image_size\": 224, \"patch_size\": 16, "
                 "\"num_channels\": 3, \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\", \"qkv_bias\": true}",
                 (long long)a->d, (long long)a->heads, (long long)a->layers, (long long)a->ff);
    bench_weights w = {.seed = 0x9E3779B97F4A7C15ull};
    bool ok = (a->whisper ? bench_whisper_encoder(&w, a->d, (int)a->layers, a->ff) : bench_vit(&w, "", a->d, (int)a->layers, a->ff)) &&
              bench_weights_end(&w);
    ok = ok && bench_write_file(dir, "config.json", cfg, strlen(cfg), "", 0, "", 0) && bench_weights_write(&w, dir);
    free(w.header); /* after a failure before the write */
    free(w.data);
    return ok;
}

/* Matmul, convolution and attention FLOPs of one item. */
static double arch_flops(const arch *a)
{
    double d = (double)a->d, ff = (double)a->ff, T = a->whisper ? 1500 : 197, f = 0;
    if (a->whisper)
        f += 2.0 * 3000 * d * 80 * 3 + 2.0 * 1500 * d * d * 3;
    else
        f += 2.0 * 196 * d * 3 * 16 * 16;
    return f + (double)a->layers * (8.0 * T * d * d + 4.0 * T * T * d + 4.0 * T * d * ff);
}

/* ---- timing ---------------------------------------------------------------------- */

/* OpenBLAS on the encoder's FFN up-projection, T x d x ff, with the
 * backend's thread count: what a well-used CPU reaches on these shapes. */
static double sgemm_gflops(const arch *a, int threads)
{
    int M = a->whisper ? 1500 : 197, K = (int)a->d, N = (int)a->ff;
    float *x = calloc((size_t)M * K, 4), *w = calloc((size_t)N * K, 4), *y = calloc((size_t)M * N, 4);
    double best = 0;
    if (x && w && y) {
        openblas_set_num_threads(threads);
        for (int r = 0; r < 10; r++) {
            double t0 = bench_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
            double gf = 2.0 * M * N * K / (bench_now() - t0) * 1e-9;
            best = gf > best ? gf : best;
        }
    }
    free(x);
    free(w);
    free(y);
    usleep(BENCH_QUIET_US);
    return best;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-encoders [--threads N] [--runs N] [--backend cpu|vulkan|all] [--models LIST]\n"
            "\n"
            "Runs whole encoders at real checkpoint sizes (random weights) through the\n"
            "runtime on each backend that starts, one item (30 s of audio, one image)\n"
            "per run, after one warm-up run (which also makes the weights resident).\n"
            "Prints the median ms, GFLOP/s (matmul, convolution and attention FLOPs)\n"
            "and the ratio to OpenBLAS sgemm on the encoder's FFN shape in the same run.\n"
            "\n"
            "Options:\n"
            "  --threads N   CPU threads (default: all cores)\n"
            "  --runs N      timed runs per model and backend (default 5; 3 on Vulkan\n"
            "                devices that run on the CPU, such as lavapipe)\n"
            "  --backend B   cpu, vulkan or all (default all that start)\n"
            "  --models L    comma-separated from whisper-tiny, whisper-base,\n"
            "                whisper-small, vit-base (default whisper-tiny,whisper-base,vit-base)\n");
}

int main(int argc, char **argv)
{
    blas_reexec(argv); /* the OpenBLAS kernels mmrun runs */
    static const arch archs[] = {
        {"whisper-tiny", 384, 6, 4, 1536, true},
        {"whisper-base", 512, 8, 6, 2048, true},
        {"whisper-small", 768, 12, 12, 3072, true},
        {"vit-base", 768, 12, 12, 3072, false}, /* ViT-B/16, nlpconnect/vit-gpt2's encoder */
    };
    int threads = 0, runs = 0;
    bool cpu = true, vulkan = true;
    const char *models = "whisper-tiny,whisper-base,vit-base";
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--threads") && v && (threads = atoi(v)) > 0) {
            i++;
        } else if (!strcmp(a, "--runs") && v && (runs = atoi(v)) > 0) {
            i++;
        } else if (!strcmp(a, "--backend") && v && (!strcmp(v, "cpu") || !strcmp(v, "vulkan") || !strcmp(v, "all"))) {
            cpu = strcmp(v, "vulkan") != 0;
            vulkan = strcmp(v, "cpu") != 0;
            i++;
        } else if (!strcmp(a, "--models") && v) {
            models = v;
            i++;
        } else {
            fprintf(stderr, "bench-encoders: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }

    mm_runtime *rts[2];
    int n_rt = 0;
    for (int k = 0; k < 2; k++) {
        if (!(k == 0 ? cpu : vulkan))
            continue;
        mm_runtime_params p = mm_runtime_default_params();
        p.backend.kind = k == 0 ? MM_BACKEND_CPU : MM_BACKEND_VULKAN;
        p.backend.n_threads = threads;
        p.plugin_path = MM_BENCH_PLUGIN_DIR;
        if (mm_runtime_init(&p, &rts[n_rt]) == MM_OK)
            n_rt++;
        else
            printf("# %s backend unavailable: %s\n", k == 0 ? "cpu" : "vulkan", mm_error_message());
    }
    printf("# OpenBLAS core %s, %d thread(s); random weights at checkpoint sizes, one item per run\n",
           openblas_get_corename(), threads);
    printf("%-14s %-34s %5s %10s %9s %14s %7s\n", "model", "backend", "runs", "ms", "GFLOP/s", "sgemm GFLOP/s",
           "ratio");
    int rc = 0;
    for (size_t ai = 0; ai < sizeof archs / sizeof archs[0]; ai++) {
        const arch *a = &archs[ai];
        size_t len = strlen(a->name);
        const char *hit = strstr(models, a->name);
        if (!hit || (hit[len] != '\0' && hit[len] != ','))
            continue;
        char dir[] = "/tmp/bench-encoders-XXXXXX";
        mm_model *m = NULL;
        if (!mkdtemp(dir) || !make_model(a, dir) || mm_model_load(dir, &m) != MM_OK) {
            fprintf(stderr, "bench-encoders: %s: writing the model to %s failed: %s\n", a->name, dir,
                    mm_error_message());
            bench_remove_dir(dir);
            return 1;
        }
        double ref = sgemm_gflops(a, threads), flops = arch_flops(a);
        for (int b = 0; b < n_rt; b++) {
            mm_encoder *e = NULL;
            mm_shape in;
            float *input = NULL, *out = NULL;
            mm_shape out_shape;
            double t[16];
            int n_runs = runs ? runs : mm_backend_get_kind(mm_runtime_backend(rts[b])) == MM_BACKEND_CPU ? 5 : 3;
            n_runs = n_runs > 16 ? 16 : n_runs;
            bool ok = mm_encoder_init(rts[b], m, &e) == MM_OK && mm_encoder_input_shape(e, 1, &in) == MM_OK;
            if (ok) {
                size_t n = (size_t)(in.ne[0] * in.ne[1] * in.ne[2] * in.ne[3]);
                ok = (input = calloc(n, sizeof *input)) != NULL;
            }
            for (int r = -1; ok && r < n_runs; r++) { /* r = -1: warm-up */
                double t0 = bench_now();
                ok = mm_encoder_run(e, input, 1, &out, &out_shape) == MM_OK;
                free(out);
                if (r >= 0)
                    t[r] = bench_now() - t0;
            }
            const char *name = mm_backend_name(mm_runtime_backend(rts[b]));
            if (!ok) {
                fprintf(stderr, "bench-encoders: %s on %s: %s\n", a->name, name, mm_error_message());
                rc = 1;
            } else {
                double med = bench_median(t, n_runs);
                double gf = flops / med * 1e-9;
                printf("%-14s %-34.34s %5d %10.1f %9.1f %14.1f %7.2f\n", a->name, name, n_runs, med * 1e3, gf, ref,
                       gf / ref);
            }
            free(input);
            mm_encoder_free(e);
        }
        mm_model_free(m);
        bench_remove_dir(dir);
    }
    for (int b = 0; b < n_rt; b++)
        mm_runtime_free(rts[b]);
    return rc;
}
