/* bench-ops: matmul and attention through the graph API on each available
 * backend, next to OpenBLAS cblas_sgemm on the same shapes and thread count.
 * Not a test: prints a table (see --help). */
#include "bench_util.h"
#include "mm/tensor.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bench_opts {
    int threads, warmup, runs;
    double budget_s; /* per case and backend: fewer runs when one is slow */
    bool cpu, vulkan;
} bench_opts;

/* Times fn0 and fn1 in rounds (a few runs of each, so both see the same
 * machine load; the cores may be shared) and stores the median of each;
 * false on failure. Each round starts with a pause (BENCH_QUIET_US) so
 * that OpenBLAS's spinning workers from the last round are asleep when
 * fn0 runs. */
#define BENCH_ROUNDS 4

typedef bool (*bench_fn)(void *ctx);
static bool median_pair(const bench_opts *o, bench_fn fn0, void *ctx0, bench_fn fn1, void *ctx1, double out[2],
                        int *runs_out)
{
    double t0 = bench_now();
    if (!fn0(ctx0) || !fn1(ctx1))
        return false;
    double pair = bench_now() - t0;
    int runs = o->runs, warmup = o->warmup - 1;
    if (pair * (runs + warmup) > o->budget_s) { /* a slow backend: stay within the budget, at least 3 runs */
        runs = (int)(o->budget_s / pair);
        runs = runs < 3 ? 3 : runs;
        warmup = 0;
    }
    for (int i = 0; i < warmup; i++)
        if (!fn0(ctx0) || !fn1(ctx1))
            return false;
    double *t = malloc(2 * (size_t)runs * sizeof *t);
    if (!t)
        return false;
    bool ok = true;
    int per_round = (runs + BENCH_ROUNDS - 1) / BENCH_ROUNDS;
    for (int r0 = 0; r0 < runs && ok; r0 += per_round) {
        int r1 = r0 + per_round < runs ? r0 + per_round : runs;
        usleep(BENCH_QUIET_US);
        for (int i = r0; i < r1 && ok; i++) {
            double t1 = bench_now();
            ok = fn0(ctx0);
            t[i] = bench_now() - t1;
        }
        for (int i = r0; i < r1 && ok; i++) {
            double t1 = bench_now();
            ok = fn1(ctx1);
            t[runs + i] = bench_now() - t1;
        }
    }
    if (ok) {
        *runs_out = runs;
        out[0] = bench_median(t, runs);
        out[1] = bench_median(t + runs, runs);
    }
    free(t);
    return ok;
}

static float *random_floats(size_t n, unsigned seed)
{
    float *x = malloc(n * sizeof *x);
    if (!x)
        return NULL;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((s >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    }
    return x;
}

/* ---- cases -------------------------------------------------------------------- */

typedef struct bench_case {
    const char *name;
    char shape[64];
    double flops;
    mm_graph *g;  /* built once; computed with a weight set per backend */
    /* OpenBLAS reference: `n_gemm` sgemm calls of this shape (row-major,
     * C[m,n] = A[m,k] . B[n,k]^T unless b_notrans) */
    int n_gemm;
    struct {
        int m, n, k;
        bool b_notrans;
    } gemm[2];
    float *bufs[4];
    mm_model *model; /* the case's weights, as a model: kept in a weight set per backend */
    char model_path[64];
} bench_case;

static bool compute_case(void *p)
{
    void **c = p;
    return mm_backend_compute(c[0], c[1]) == MM_OK;
}

typedef struct blas_ctx {
    const bench_case *c;
    float *a, *b, *out;
} blas_ctx;

static bool run_blas(void *p)
{
    const blas_ctx *x = p;
    for (int r = 0; r < x->c->n_gemm; r++) {
        int i = x->c->gemm[1].m ? r % 2 : 0; /* attention alternates its two products */
        int m = x->c->gemm[i].m, n = x->c->gemm[i].n, k = x->c->gemm[i].k;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, x->c->gemm[i].b_notrans ? CblasNoTrans : CblasTrans, m, n, k, 1.0f,
                    x->a, k, x->b, x->c->gemm[i].b_notrans ? n : k, 0.0f, x->out, n);
    }
    return true;
}

/* Writes one tensor "w" (shape outermost-first) as a temporary safetensors
 * file and loads it: weights stay resident only as a model's, in a weight
 * set, as they do for real models. */
static mm_model *weight_model(char *path, size_t path_size, mm_dtype type, int64_t rows, int64_t cols, const void *data)
{
    size_t bytes = (size_t)(rows * cols) * mm_dtype_size(type);
    char header[256];
    int n = snprintf(header, sizeof header, "{\"w\": {\"dtype\": \"%s\", \"shape\": [%lld, %lld], \"data_offsets\": [0, %zu]}}",
                     mm_dtype_name(type), (long long)rows, (long long)cols, bytes);
    while (n % 8)
        header[n++] = ' ';
    snprintf(path, path_size, "/tmp/mm-bench-ops-XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    uint64_t len = (uint64_t)n;
    bool ok = f && fwrite(&len, 8, 1, f) == 1 && fwrite(header, 1, (size_t)n, f) == (size_t)n &&
              fwrite(data, 1, bytes, f) == bytes;
    if (f)
        ok = fclose(f) == 0 && ok;
    mm_model *m = NULL;
    if (!ok || mm_safetensors_open(path, &m) != MM_OK) {
        fprintf(stderr, "bench-ops: cannot write the weights to %s\n", path);
        unlink(path);
        return NULL;
    }
    return m;
}

/* y[M,N] = x[M,K] W^T with W an nn.Linear weight [N,K] (ne {K,N}) stored
 * as `wtype` (F16 kept as F16: the CPU backend reads it in place); x has ne {K,M}. */
static bool matmul_case(bench_case *c, int M, int K, int N, mm_dtype wtype)
{
    memset(c, 0, sizeof *c);
    c->name = wtype == MM_DTYPE_F16 ? "matmul-f16" : "matmul";
    snprintf(c->shape, sizeof c->shape, "%dx%dx%d", M, K, N);
    c->flops = 2.0 * M * N * K;
    c->bufs[0] = random_floats((size_t)M * K, 1);
    c->bufs[1] = random_floats((size_t)N * K, 2);
    if (!c->bufs[0] || !c->bufs[1] || !(c->g = mm_graph_init()))
        return false;
    if (wtype == MM_DTYPE_F16) { /* halves in place of the floats (the buffer has room) */
        uint16_t *h = (uint16_t *)c->bufs[1];
        for (size_t i = 0; i < (size_t)N * K; i++)
            h[i] = mm_f32_to_f16(c->bufs[1][i]);
    }
    mm_tensor *x = mm_graph_input(c->g, MM_DTYPE_F32, 2, (const int64_t[]){K, M}, c->bufs[0]);
    if (!(c->model = weight_model(c->model_path, sizeof c->model_path, wtype, N, K, c->bufs[1])))
        return false;
    mm_tensor *w = mm_graph_weight(c->g, mm_model_weight_at(c->model, 0));
    mm_graph_output(c->g, mm_matmul(c->g, w, x));
    c->n_gemm = 1;
    c->gemm[0].m = M;
    c->gemm[0].n = N;
    c->gemm[0].k = K;
    return mm_graph_status(c->g) == MM_OK;
}

/* Self-attention over projections laid out as the plugins do: {D, H, T}
 * permuted to {D, T, H}. FLOPs: 2*H*Tq*Tk*(D + Dv). The OpenBLAS reference
 * runs the two per-head products alone (scores, then scores . V). */
static bool attention_case(bench_case *c, const char *name, int D, int H, int Tq, int Tk)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    snprintf(c->shape, sizeof c->shape, "H=%d D=%d Tq=%d Tk=%d", H, D, Tq, Tk);
    c->flops = 2.0 * H * (double)Tq * Tk * (2.0 * D);
    c->bufs[0] = random_floats((size_t)D * H * Tq, 3);
    c->bufs[1] = random_floats((size_t)D * H * Tk, 4);
    c->bufs[2] = random_floats((size_t)D * H * Tk, 5);
    if (!c->bufs[0] || !c->bufs[1] || !c->bufs[2] || !(c->g = mm_graph_init()))
        return false;
    mm_graph *g = c->g;
    mm_tensor *q = mm_graph_input(g, MM_DTYPE_F32, 3, (const int64_t[]){D, H, Tq}, c->bufs[0]);
    mm_tensor *k = mm_graph_input(g, MM_DTYPE_F32, 3, (const int64_t[]){D, H, Tk}, c->bufs[1]);
    mm_tensor *v = mm_graph_input(g, MM_DTYPE_F32, 3, (const int64_t[]){D, H, Tk}, c->bufs[2]);
    q = mm_permute(g, q, 0, 2, 1, 3);
    k = mm_permute(g, k, 0, 2, 1, 3);
    v = mm_permute(g, v, 0, 2, 1, 3);
    mm_graph_output(g, mm_attention(g, q, k, v, NULL, 1.0f / sqrtf((float)D), false));
    c->n_gemm = 2 * H;
    c->gemm[0].m = Tq; /* scores[Tq,Tk] = Q[Tq,D] K[Tk,D]^T */
    c->gemm[0].n = Tk;
    c->gemm[0].k = D;
    c->gemm[1].m = Tq; /* out[Tq,D] = P[Tq,Tk] V[Tk,D] */
    c->gemm[1].n = D;
    c->gemm[1].k = Tk;
    c->gemm[1].b_notrans = true;
    return mm_graph_status(g) == MM_OK;
}

static void case_free(bench_case *c)
{
    mm_graph_free(c->g);
    for (int i = 0; i < 4; i++)
        free(c->bufs[i]);
    if (c->model) {
        mm_model_free(c->model);
        unlink(c->model_path);
    }
}

/* Scratch matrices for the OpenBLAS runs of a case. */
static bool blas_init(blas_ctx *x, const bench_case *c)
{
    size_t na = 0, nb = 0, nc = 0;
    for (int i = 0; i < 2; i++) {
        size_t m = (size_t)c->gemm[i].m, n = (size_t)c->gemm[i].n, k = (size_t)c->gemm[i].k;
        na = m * k > na ? m * k : na;
        nb = n * k > nb ? n * k : nb;
        nc = m * n > nc ? m * n : nc;
    }
    *x = (blas_ctx){c, random_floats(na, 7), random_floats(nb, 8), random_floats(nc, 9)};
    return x->a && x->b && x->out;
}

static void blas_free(blas_ctx *x)
{
    free(x->a);
    free(x->b);
    free(x->out);
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-ops [--threads N] [--runs N] [--warmup N] [--budget S] [--backend cpu|vulkan|all]\n"
            "\n"
            "Times matmul and attention computed through the graph API (weights are a\n"
            "model's, in a weight set per backend: resident after the warm-up) on each backend that\n"
            "starts, and OpenBLAS cblas_sgemm on the same shapes with the same thread\n"
            "count. The two are timed in rounds so both see the same load (the cores\n"
            "may be shared), each round after a pause that lets OpenBLAS's spinning\n"
            "worker threads go to sleep; prints the median of --runs runs (default 20,\n"
            "after --warmup 3 of each). The runs column says how many were timed.\n"
            "\n"
            "Matmul shapes are M x K x N for y[M,N] = x[M,K] . W^T, W an nn.Linear\n"
            "weight [N,K] (matmul-f16: stored F16; OpenBLAS runs the F32 weight);\n"
            "GFLOP/s counts 2*M*N*K. Attention counts 2*H*Tq*Tk*(D+Dv);\n"
            "its OpenBLAS column runs only the two products per head (Q.K^T, P.V).\n"
            "\n"
            "Options:\n"
            "  --threads N   CPU threads for the CPU backend and OpenBLAS (default: all cores)\n"
            "  --runs N      timed runs per case (default 20)\n"
            "  --warmup N    untimed runs first (default 3, at least 1)\n"
            "  --budget S    seconds per case and backend (default 20): a slow backend\n"
            "                gets fewer runs (at least 3) and a single warm-up\n"
            "  --backend B   cpu, vulkan or all (default all that start)\n"
            "\n"
            "Environment:\n"
            "  OPENBLAS_CORETYPE  OpenBLAS kernel family, read when the library loads.\n"
            "                     OpenBLAS 0.3.21 falls back to narrow kernels on CPUs newer\n"
            "                     than itself (Prescott on Emerald Rapids, Haswell on Zen 5);\n"
            "                     when unset, bench-ops (like mmrun) restarts itself with the\n"
            "                     widest family the CPU runs (SkylakeX with AVX-512). Set it\n"
            "                     to measure another family.\n"
            "  VK_ICD_FILENAMES   Vulkan driver selection (lavapipe: faster instance start).\n");
}

static bool parse_int(const char *s, int lo, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > 1000000)
        return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv)
{
    blas_reexec(argv); /* measure the OpenBLAS kernels mmrun itself runs */
    bench_opts o = {.threads = 0, .warmup = 3, .runs = 20, .budget_s = 20, .cpu = true, .vulkan = true};
    setvbuf(stdout, NULL, _IOLBF, 0); /* rows appear as they are measured */
    int budget;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--threads") && v && parse_int(v, 0, &o.threads)) {
            i++;
        } else if (!strcmp(a, "--runs") && v && parse_int(v, 1, &o.runs)) {
            i++;
        } else if (!strcmp(a, "--warmup") && v && parse_int(v, 1, &o.warmup)) {
            i++;
        } else if (!strcmp(a, "--budget") && v && parse_int(v, 1, &budget)) {
            o.budget_s = budget;
            i++;
        } else if (!strcmp(a, "--backend") && v &&
                   (!strcmp(v, "cpu") || !strcmp(v, "vulkan") || !strcmp(v, "all"))) {
            o.cpu = strcmp(v, "vulkan") != 0;
            o.vulkan = strcmp(v, "cpu") != 0;
            i++;
        } else {
            fprintf(stderr, "bench-ops: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 0 ? (int)n : 1;
    }

    mm_backend *backends[2] = {NULL, NULL};
    int n_backends = 0;
    mm_backend_params p = mm_backend_default_params();
    p.n_threads = o.threads;
    if (o.cpu) {
        p.kind = MM_BACKEND_CPU;
        if (mm_backend_init(&p, &backends[n_backends]) == MM_OK)
            n_backends++;
        else
            fprintf(stderr, "bench-ops: cpu backend: %s\n", mm_error_message());
    }
    if (o.vulkan) {
        p.kind = MM_BACKEND_VULKAN;
        if (mm_backend_init(&p, &backends[n_backends]) == MM_OK)
            n_backends++;
        else
            printf("# vulkan backend unavailable: %s\n", mm_error_message());
    }
    openblas_set_num_threads(o.threads);
    printf("# OpenBLAS %s, core %s, %d thread(s); median of %d runs after %d warm-up\n", openblas_get_config(),
           openblas_get_corename(), o.threads, o.runs, o.warmup);
    printf("# matmul shape M x K x N: y[M,N] = x[M,K] . W^T (W [N,K] resident)\n");
    printf("%-10s %-24s %-34s %5s %10s %9s %12s %9s %7s\n", "op", "shape", "backend", "runs", "ms", "GFLOP/s",
           "openblas ms", "GFLOP/s", "ratio");

    enum { N_CASES = 7 };
    bench_case cases[N_CASES];
    bool ok[N_CASES];
    ok[0] = matmul_case(&cases[0], 1500, 384, 384, MM_DTYPE_F32);
    ok[1] = matmul_case(&cases[1], 1500, 1536, 384, MM_DTYPE_F32);
    ok[2] = matmul_case(&cases[2], 1, 384, 51865, MM_DTYPE_F32);
    ok[3] = matmul_case(&cases[3], 1500, 1536, 384, MM_DTYPE_F16);
    ok[4] = matmul_case(&cases[4], 1, 384, 51865, MM_DTYPE_F16);
    ok[5] = attention_case(&cases[5], "attention", 64, 6, 1500, 1500);
    ok[6] = attention_case(&cases[6], "attn-step", 64, 6, 1, 1500);
    int rc = 0;
    for (int ci = 0; ci < N_CASES; ci++) {
        bench_case *c = &cases[ci];
        if (!ok[ci]) {
            fprintf(stderr, "bench-ops: building %s %s failed: %s\n", c->name, c->shape, mm_error_message());
            rc = 1;
            case_free(c);
            continue;
        }
        blas_ctx bx;
        if (!blas_init(&bx, c)) {
            fprintf(stderr, "bench-ops: out of memory\n");
            return 1;
        }
        for (int b = 0; b < n_backends; b++) {
            void *ctx[2] = {backends[b], c->g};
            double tt[2];
            int runs = 0;
            mm_weights *ws = NULL;
            bool placed = !c->model || mm_weights_init(backends[b], c->model, &ws) == MM_OK;
            mm_graph_set_weights(c->g, ws);
            bool timed = placed && median_pair(&o, compute_case, ctx, run_blas, &bx, tt, &runs);
            mm_graph_set_weights(c->g, NULL);
            mm_weights_free(ws);
            if (!timed) {
                fprintf(stderr, "bench-ops: %s %s on %s: %s\n", c->name, c->shape, mm_backend_name(backends[b]),
                        mm_error_message());
                rc = 1;
                continue;
            }
            double t = tt[0], tb = tt[1];
            double gf = c->flops / t * 1e-9, gfb = c->flops / tb * 1e-9;
            printf("%-10s %-24s %-34.34s %5d %10.3f %9.1f %12.3f %9.1f %7.2f\n", c->name, c->shape,
                   mm_backend_name(backends[b]), runs, t * 1e3, gf, tb * 1e3, gfb, gf / gfb);
        }
        blas_free(&bx);
        case_free(c);
    }
    for (int b = 0; b < n_backends; b++)
        mm_backend_free(backends[b]);
    return rc;
}
