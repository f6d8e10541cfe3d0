/* Op parity suite in the spirit of ggml's test-backend-ops: every op, many
 * awkward shapes and layouts, computed through the graph API on the backend
 * under test and on the naive CPU reference backend, compared with a stated
 * per-op tolerance (integer outputs exactly).
 *
 *     test_ops <cpu|vulkan> [group]
 *
 * Groups: one per op, plus "graph" (multi-op graphs, memory reuse,
 * recompute) and "analytic" (hand-computed values, so the oracle itself can
 * fail). A Vulkan backend that does not start makes the run skip (exit 77)
 * unless MM_REQUIRE_VULKAN=1. MM_TEST_THREADS sets the CPU backend's
 * thread count (default 3). */
#include "test_util.h"

#include "backend_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NE(...) ((const int64_t[]){__VA_ARGS__})
#define SKIP_EXIT 77

static mm_backend *g_ref, *g_dut;
static mm_backend_params g_params; /* the backend under test's */
static uint64_t g_seed = 1;

/* ---- test data -------------------------------------------------------------
 * Everything stays allocated until exit: backends key resident constants by
 * host address, so an address must never be reused for different weights
 * while a backend lives. */

static void **g_keep;
static size_t g_keep_n, g_keep_cap;

static void *keep(size_t bytes)
{
    if (g_keep_n == g_keep_cap) {
        g_keep_cap = g_keep_cap ? g_keep_cap * 2 : 256;
        g_keep = realloc(g_keep, g_keep_cap * sizeof *g_keep);
        assert_non_null(g_keep);
    }
    void *p = malloc(bytes ? bytes : 1);
    assert_non_null(p);
    return g_keep[g_keep_n++] = p;
}

static void keep_free_all(void)
{
    for (size_t i = 0; i < g_keep_n; i++)
        free(g_keep[i]);
    free(g_keep);
}

static int64_t numel(int nd, const int64_t *ne)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= ne[i];
    return n;
}

static float *rand_f32(int64_t n, float lo, float hi)
{
    float *x = keep((size_t)n * sizeof *x);
    test_fill_random(x, (size_t)n, g_seed++, lo, hi);
    return x;
}

static mm_tensor *in_rand(mm_graph *g, int nd, const int64_t *ne, float lo, float hi)
{
    return mm_graph_input(g, MM_DTYPE_F32, nd, ne, rand_f32(numel(nd, ne), lo, hi));
}

/* A constant (weight) of the given storage with random values. */
static mm_tensor *const_rand(mm_graph *g, mm_dtype storage, int nd, const int64_t *ne, float lo, float hi)
{
    int64_t n = numel(nd, ne);
    float *f = rand_f32(n, lo, hi);
    if (storage == MM_DTYPE_F32)
        return mm_graph_constant(g, storage, nd, ne, f);
    uint16_t *h = keep((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++)
        h[i] = storage == MM_DTYPE_F16 ? mm_f32_to_f16(f[i]) : mm_f32_to_bf16(f[i]);
    return mm_graph_constant(g, storage, nd, ne, h);
}

static mm_tensor *in_i32(mm_graph *g, int nd, const int64_t *ne, const int32_t *ids)
{
    int64_t n = numel(nd, ne);
    int32_t *d = keep((size_t)n * sizeof *d);
    memcpy(d, ids, (size_t)n * sizeof *d);
    return mm_graph_input(g, MM_DTYPE_I32, nd, ne, d);
}

static mm_tensor *in_f32(mm_graph *g, int nd, const int64_t *ne, const float *vals)
{
    int64_t n = numel(nd, ne);
    float *d = keep((size_t)n * sizeof *d);
    memcpy(d, vals, (size_t)n * sizeof *d);
    return mm_graph_input(g, MM_DTYPE_F32, nd, ne, d);
}

/* ---- comparing backends ------------------------------------------------------ */

static void compute_or_fail(mm_backend *b, mm_graph *g, const char *label)
{
    if (mm_backend_compute(b, g) != MM_OK)
        fail_msg("%s: compute on %s failed: %s", label, mm_backend_name(b), mm_error_message());
}

/* Computes g on the reference and on the backend under test and compares
 * the outputs: F32 within atol + rtol*|want|, I32 exactly. Frees g. */
static void check_n(mm_graph *g, mm_tensor **outs, int n_out, const char *label, double atol, double rtol)
{
    if (mm_graph_status(g) != MM_OK)
        fail_msg("%s: graph build failed: %s", label, mm_error_message());
    for (int i = 0; i < n_out; i++)
        mm_graph_output(g, outs[i]);
    compute_or_fail(g_ref, g, label);
    void *want[8];
    assert_true(n_out <= 8);
    for (int i = 0; i < n_out; i++) {
        size_t nb = mm_tensor_nbytes(outs[i]);
        want[i] = malloc(nb);
        assert_non_null(want[i]);
        assert_int_equal(mm_tensor_read(outs[i], want[i], nb), MM_OK);
        if (mm_tensor_type(outs[i]) == MM_DTYPE_F32)
            for (size_t j = 0; j < nb / 4; j++)
                if (isnan(((float *)want[i])[j]))
                    fail_msg("%s: reference output %d has NaN at %zu", label, i, j);
    }
    compute_or_fail(g_dut, g, label);
    bool ok = true;
    for (int i = 0; i < n_out; i++) {
        const void *got = mm_tensor_data(outs[i]);
        size_t n = (size_t)mm_tensor_nelements(outs[i]);
        char what[256];
        snprintf(what, sizeof what, "%s [out %d]", label, i);
        if (mm_tensor_type(outs[i]) == MM_DTYPE_I32) {
            const int32_t *gi = got, *wi = want[i];
            size_t bad = 0, first = 0;
            for (size_t j = 0; j < n; j++)
                if (gi[j] != wi[j] && bad++ == 0)
                    first = j;
            print_message("%s: %zu ints, %zu differ\n", what, n, bad);
            if (bad) {
                print_message("%s: first difference at %zu: got %d want %d\n", what, first, gi[first], wi[first]);
                ok = false;
            }
        } else if (!test_allclose(what, got, want[i], n, atol, rtol)) {
            ok = false;
        }
        free(want[i]);
    }
    mm_graph_free(g);
    if (!ok)
        fail_msg("%s: %s differs from the reference", label, mm_backend_name(g_dut));
}

static void check(mm_graph *g, mm_tensor *out, const char *label, double atol, double rtol)
{
    check_n(g, &out, 1, label, atol, rtol);
}

static mm_graph *new_graph(void)
{
    mm_graph *g = mm_graph_init();
    assert_non_null(g);
    return g;
}

/* Tolerances. Values are drawn from [-1, 1], so a dot product of length K
 * is about sqrt(K)/3 and a plain fp32 running sum of it drifts by a few
 * sqrt(K) ulps of that; 4e-6*sqrt(K) (3e-4 at K=4099) leaves room for a
 * sequential sum, while a wrong index or a half-precision shortcut is off by
 * far more. */
#define TOL_EXACT 0.0, 0.0
#define TOL_ELEM 1e-6, 1e-6
#define TOL_EXP 1e-5, 1e-5
static double tol_dot(int64_t k)
{
    return 4e-6 * sqrt((double)k) + 1e-6;
}

/* ---- cont ---------------------------------------------------------------------- */

static void test_cont(void **state)
{
    (void)state;
    mm_graph *g = new_graph();
    mm_tensor *a = in_rand(g, 4, NE(5, 7, 3, 2), -1, 1);
    check(g, mm_cont(g, mm_permute(g, a, 2, 0, 1, 3)), "cont permute(2,0,1,3) {5,7,3,2}", TOL_EXACT);

    g = new_graph();
    a = in_rand(g, 2, NE(33, 17), -1, 1);
    check(g, mm_cont(g, mm_transpose(g, a)), "cont transpose {33,17}", TOL_EXACT);

    g = new_graph();
    a = in_rand(g, 3, NE(9, 6, 4), -1, 1);
    /* every other row, starting at column 3, of each matrix */
    mm_tensor *v = mm_view(g, a, 3, NE(5, 3, 4), (const size_t[]){4, 2 * 9 * 4, 9 * 6 * 4}, 3 * 4);
    check(g, mm_cont(g, v), "cont strided view {5,3,4} of {9,6,4}", TOL_EXACT);

    g = new_graph();
    int32_t ids[3 * 5];
    for (int i = 0; i < 15; i++)
        ids[i] = i * 7 - 40;
    mm_tensor *ai = in_i32(g, 2, NE(3, 5), ids);
    check(g, mm_cont(g, mm_transpose(g, ai)), "cont I32 transpose {3,5}", TOL_EXACT);

    g = new_graph();
    a = in_rand(g, 1, NE(1), -1, 1);
    check(g, mm_cont(g, a), "cont {1}", TOL_EXACT);

    g = new_graph();
    a = in_rand(g, 4, NE(3, 1, 4, 5), -1, 1);
    check(g, mm_cont(g, mm_permute(g, a, 3, 2, 1, 0)), "cont permute(3,2,1,0) {3,1,4,5}", TOL_EXACT);

    g = new_graph();
    a = in_rand(g, 2, NE(1000, 77), -1, 1);
    check(g, mm_cont(g, mm_transpose(g, a)), "cont transpose {1000,77}", TOL_EXACT);
}

/* ---- matmul --------------------------------------------------------------------- */

static void matmul_case(int64_t M, int64_t N, int64_t K, mm_dtype wtype)
{
    char label[128];
    snprintf(label, sizeof label, "matmul M=%lld N=%lld K=%lld weight %s", (long long)M, (long long)N, (long long)K,
             mm_dtype_name(wtype));
    mm_graph *g = new_graph();
    mm_tensor *w = const_rand(g, wtype, 2, NE(K, M), -1, 1);
    mm_tensor *x = in_rand(g, 2, NE(K, N), -1, 1);
    check(g, mm_matmul(g, w, x), label, tol_dot(K), 1e-5);
}

static void test_matmul_shapes(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {
        {1, 1, 1}, {2, 2, 3}, {7, 5, 3}, {1, 9, 17}, {9, 1, 17}, {33, 17, 64}, {64, 65, 129},
        {31, 63, 95}, {19, 37, 1536}, {3, 5, 4099}, {257, 1, 384}, {130, 1, 4099}, {96, 150, 384},
        {1000, 3, 64}, {130, 4, 4099}, {301, 2, 96}, {77, 5, 200}, {2000, 7, 100}, {333, 129, 65},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        matmul_case(shapes[i][0], shapes[i][1], shapes[i][2], MM_DTYPE_F32);
}

/* Decoding steps' products, 1..8 rows (the CPU streams each weight row once
 * for all of them, in blocks of 3 or 4 rows): every row count and weight
 * type, weight rows left over after the blocks, and K with and without a
 * tail after the 16-wide loads. */
static void test_matmul_few_rows(void **state)
{
    (void)state;
    static const mm_dtype types[] = {MM_DTYPE_F32, MM_DTYPE_F16, MM_DTYPE_BF16};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (int64_t n = 1; n <= 8; n++) {
            matmul_case(67, n, 83, types[t]);
            matmul_case(12, n, 48, types[t]);
        }
}

/* F16/BF16 weights: the CPU backend reads them in place (dots for few rows,
 * block-wise widening for sgemm, blocks of 2^20 floats), the reference
 * widens them; Vulkan widens at upload. */
static void test_matmul_half_weights(void **state)
{
    (void)state;
    matmul_case(33, 17, 64, MM_DTYPE_F16);
    matmul_case(70, 3, 385, MM_DTYPE_F16);
    matmul_case(33, 17, 64, MM_DTYPE_BF16);
    matmul_case(129, 1, 200, MM_DTYPE_BF16);
    matmul_case(3000, 9, 700, MM_DTYPE_F16); /* three weight blocks, the last partial */
    matmul_case(5000, 2, 96, MM_DTYPE_BF16); /* a decoding step against a wide head */

    /* batched activations {K, N, 3, 2} against one F16 weight, in place and
     * through a permuted (packed) view */
    mm_graph *g = new_graph();
    mm_tensor *w = const_rand(g, MM_DTYPE_F16, 2, NE(40, 13), -1, 1);
    check(g, mm_matmul(g, w, in_rand(g, 4, NE(40, 11, 3, 2), -1, 1)), "matmul F16 weight x batched b", tol_dot(40),
          1e-5);
    g = new_graph();
    w = const_rand(g, MM_DTYPE_BF16, 2, NE(24, 9), -1, 1);
    mm_tensor *b = mm_permute(g, in_rand(g, 3, NE(24, 3, 7), -1, 1), 0, 2, 1, 3); /* {24, 7, 3}, rows strided */
    check(g, mm_matmul(g, w, b), "matmul BF16 weight x permuted b", tol_dot(24), 1e-5);

    /* one F16 weight read three ways in one graph: in place by a matmul,
     * through a transposed view, and by an elementwise op (these widen) */
    g = new_graph();
    w = const_rand(g, MM_DTYPE_F16, 2, NE(16, 16), -1, 1);
    mm_tensor *x = in_rand(g, 2, NE(16, 5), -1, 1);
    mm_tensor *outs[3] = {mm_matmul(g, w, x), mm_matmul(g, mm_transpose(g, w), x), mm_add(g, w, w)};
    check_n(g, outs, 3, "one F16 weight: matmul, transposed matmul, add", tol_dot(16), 1e-5);
}

static void test_matmul_batched(void **state)
{
    (void)state;
    /* a broadcasts over b's batches: {K,M,2,3} x {K,N,4,3} */
    mm_graph *g = new_graph();
    mm_tensor *a = in_rand(g, 4, NE(19, 7, 2, 3), -1, 1);
    mm_tensor *b = in_rand(g, 4, NE(19, 5, 4, 3), -1, 1);
    check(g, mm_matmul(g, a, b), "matmul batched a{19,7,2,3} b{19,5,4,3}", tol_dot(19), 1e-5);

    g = new_graph();
    a = const_rand(g, MM_DTYPE_F32, 2, NE(40, 13), -1, 1);
    b = in_rand(g, 4, NE(40, 11, 3, 2), -1, 1);
    check(g, mm_matmul(g, a, b), "matmul weight {40,13} x b{40,11,3,2}", tol_dot(40), 1e-5);

    g = new_graph();
    a = in_rand(g, 4, NE(8, 6, 1, 2), -1, 1);
    b = in_rand(g, 4, NE(8, 9, 5, 4), -1, 1);
    check(g, mm_matmul(g, a, b), "matmul batched a{8,6,1,2} b{8,9,5,4}", tol_dot(8), 1e-5);
}

static void test_matmul_views(void **state)
{
    (void)state;
    /* weight stored [in,out] (GPT-2 Conv1D): mm_transpose gives nb[0] != 4 */
    mm_graph *g = new_graph();
    mm_tensor *w = const_rand(g, MM_DTYPE_F32, 2, NE(45, 70), -1, 1); /* {M=45, K=70} */
    mm_tensor *x = in_rand(g, 2, NE(70, 13), -1, 1);
    check(g, mm_matmul(g, mm_transpose(g, w), x), "matmul transposed weight K=70 M=45 N=13", tol_dot(70), 1e-5);

    g = new_graph();
    w = const_rand(g, MM_DTYPE_F16, 2, NE(33, 100), -1, 1);
    x = in_rand(g, 2, NE(100, 1), -1, 1);
    check(g, mm_matmul(g, mm_transpose(g, w), x), "matmul transposed F16 weight K=100 M=33 N=1", tol_dot(100), 1e-5);

    g = new_graph();
    w = const_rand(g, MM_DTYPE_F32, 2, NE(300, 100), -1, 1);
    x = in_rand(g, 2, NE(100, 3), -1, 1);
    check(g, mm_matmul(g, mm_transpose(g, w), x), "matmul transposed weight K=100 M=300 N=3", tol_dot(100), 1e-5);

    g = new_graph();
    w = const_rand(g, MM_DTYPE_F32, 2, NE(999, 64), -1, 1);
    x = in_rand(g, 2, NE(64, 9), -1, 1);
    check(g, mm_matmul(g, mm_transpose(g, w), x), "matmul transposed weight K=64 M=999 N=9", tol_dot(64), 1e-5);

    /* b transposed: x stored {N,K} */
    g = new_graph();
    w = const_rand(g, MM_DTYPE_F32, 2, NE(21, 10), -1, 1);
    x = in_rand(g, 2, NE(15, 21), -1, 1);
    check(g, mm_matmul(g, w, mm_transpose(g, x)), "matmul transposed b K=21 M=10 N=15", tol_dot(21), 1e-5);

    /* attention-style: q.k^T per head from permuted {D,H,T} projections */
    g = new_graph();
    mm_tensor *q = in_rand(g, 3, NE(16, 3, 11), -1, 1);
    mm_tensor *k = in_rand(g, 3, NE(16, 3, 9), -1, 1);
    mm_tensor *qp = mm_permute(g, q, 0, 2, 1, 3); /* {16,11,3} */
    mm_tensor *kp = mm_permute(g, k, 0, 2, 1, 3); /* {16,9,3} */
    check(g, mm_matmul(g, kp, qp), "matmul permuted heads k{16,9,3} q{16,11,3}", tol_dot(16), 1e-5);

    /* both operands with odd strides: every other row of a wider tensor */
    g = new_graph();
    mm_tensor *a = in_rand(g, 2, NE(30, 14), -1, 1);
    mm_tensor *b = in_rand(g, 2, NE(40, 9), -1, 1);
    mm_tensor *av = mm_view(g, a, 2, NE(25, 7), (const size_t[]){4, 2 * 30 * 4}, 4);
    mm_tensor *bv = mm_view(g, b, 2, NE(25, 9), (const size_t[]){4, 40 * 4}, 8 * 4);
    check(g, mm_matmul(g, av, bv), "matmul row-strided views K=25 M=7 N=9", tol_dot(25), 1e-5);

    /* no unit stride at all: {2,5,4} permuted to {5,4,2} has nb {8,40,4} */
    g = new_graph();
    a = in_rand(g, 3, NE(2, 5, 4), -1, 1);
    b = in_rand(g, 3, NE(5, 6, 2), -1, 1);
    check(g, mm_matmul(g, mm_permute(g, a, 2, 0, 1, 3), b), "matmul a without unit stride", tol_dot(5), 1e-5);
    g = new_graph();
    a = in_rand(g, 3, NE(5, 3, 2), -1, 1);
    b = in_rand(g, 3, NE(2, 5, 7), -1, 1);
    check(g, mm_matmul(g, a, mm_permute(g, b, 2, 0, 1, 3)), "matmul b without unit stride", tol_dot(5), 1e-5);
}

/* ---- add / mul / scale -------------------------------------------------------------- */

static void binary_case(bool mul, int nd, const int64_t *ne_a, const int64_t *ne_b, const char *what)
{
    char label[160];
    snprintf(label, sizeof label, "%s %s", mul ? "mul" : "add", what);
    mm_graph *g = new_graph();
    mm_tensor *a = in_rand(g, nd, ne_a, -2, 2);
    mm_tensor *b = in_rand(g, nd, ne_b, -2, 2);
    check(g, mul ? mm_mul(g, a, b) : mm_add(g, a, b), label, TOL_ELEM);
}

static void binary_suite(bool mul)
{
    binary_case(mul, 3, NE(37, 5, 3), NE(37, 5, 3), "same shape {37,5,3}");
    binary_case(mul, 3, NE(37, 5, 3), NE(37, 1, 1), "row bias {37}");
    binary_case(mul, 3, NE(37, 5, 3), NE(1, 5, 1), "column {1,5,1}");
    binary_case(mul, 4, NE(3, 5, 7, 2), NE(3, 1, 7, 1), "{3,5,7,2} by {3,1,7,1}");
    binary_case(mul, 4, NE(3, 5, 7, 2), NE(1, 1, 1, 1), "scalar b");
    binary_case(mul, 1, NE(100003), NE(100003), "1-D 100003");
    binary_case(mul, 2, NE(1, 1), NE(1, 1), "{1,1}");
    binary_case(mul, 2, NE(384, 1500), NE(384, 1), "bias {384} over {384,1500}");

    /* permuted a, transposed b */
    char label[128];
    snprintf(label, sizeof label, "%s permuted views", mul ? "mul" : "add");
    mm_graph *g = new_graph();
    mm_tensor *a = in_rand(g, 3, NE(7, 9, 4), -2, 2);
    mm_tensor *b = in_rand(g, 3, NE(4, 9, 7), -2, 2);
    mm_tensor *ap = mm_permute(g, a, 2, 1, 0, 3); /* {4,9,7} */
    mm_tensor *bt = mm_permute(g, b, 0, 1, 2, 3);
    check(g, mul ? mm_mul(g, ap, bt) : mm_add(g, ap, bt), label, TOL_ELEM);

    snprintf(label, sizeof label, "%s strided b broadcast", mul ? "mul" : "add");
    g = new_graph();
    a = in_rand(g, 2, NE(11, 6), -2, 2);
    b = in_rand(g, 2, NE(6, 11), -2, 2);
    mm_tensor *bcol = mm_view(g, b, 2, NE(1, 6), (const size_t[]){4, 4}, 0); /* b[0..5] with nb1 = 4 */
    mm_tensor *brow = mm_view(g, mm_transpose(g, b), 2, NE(11, 1), (const size_t[]){6 * 4, 4}, 4);
    check(g, mul ? mm_mul(g, mm_add(g, a, bcol), brow) : mm_add(g, mm_mul(g, a, brow), bcol), label, TOL_ELEM);
}

static void test_add(void **state)
{
    (void)state;
    binary_suite(false);
}

static void test_mul(void **state)
{
    (void)state;
    binary_suite(true);
}

static void test_scale(void **state)
{
    (void)state;
    mm_graph *g = new_graph();
    mm_tensor *a = in_rand(g, 3, NE(37, 5, 3), -3, 3);
    check(g, mm_scale(g, a, 0.125f), "scale 0.125 {37,5,3}", TOL_ELEM);

    g = new_graph();
    a = in_rand(g, 3, NE(8, 5, 6), -3, 3);
    check(g, mm_scale(g, mm_permute(g, a, 1, 2, 0, 3), -3.7f), "scale -3.7 permuted", TOL_ELEM);

    g = new_graph();
    a = in_rand(g, 1, NE(65537), -3, 3);
    check(g, mm_scale(g, a, 1e-3f), "scale 1e-3 {65537}", TOL_ELEM);

    g = new_graph();
    a = in_rand(g, 1, NE(1), -3, 3);
    check(g, mm_scale(g, a, 0.0f), "scale 0 {1}", TOL_ELEM);
}

/* ---- layer norm / gelu -------------------------------------------------------------------- */

static void norm_case(int nd, const int64_t *ne, bool w, bool b, float eps, float lo, float hi, double atol,
                      const char *what)
{
    char label[160];
    snprintf(label, sizeof label, "layer_norm %s%s%s eps=%g", what, w ? " +w" : "", b ? " +b" : "", eps);
    mm_graph *g = new_graph();
    mm_tensor *x = in_rand(g, nd, ne, lo, hi);
    mm_tensor *wt = w ? const_rand(g, MM_DTYPE_F32, 1, ne, 0.5f, 1.5f) : NULL;
    mm_tensor *bt = b ? const_rand(g, MM_DTYPE_F32, 1, ne, -1, 1) : NULL;
    check(g, mm_layer_norm(g, x, wt, bt, eps), label, atol, 1e-5);
}

static void test_layer_norm(void **state)
{
    (void)state;
    norm_case(2, NE(384, 7), true, true, 1e-5f, -2, 2, 1e-5, "{384,7}");
    norm_case(3, NE(1537, 5, 2), true, false, 1e-6f, -2, 2, 1e-5, "{1537,5,2}");
    norm_case(2, NE(63, 4), false, true, 1e-5f, -2, 2, 1e-5, "{63,4}");
    norm_case(2, NE(17, 3), false, false, 1e-5f, -2, 2, 1e-5, "{17,3}");
    norm_case(2, NE(1, 3), true, true, 1e-5f, -2, 2, 1e-5, "{1,3} (zero variance)");
    /* a large mean over a small spread: one-pass E[x^2]-E[x]^2 in fp32 fails */
    norm_case(2, NE(768, 9), true, true, 1e-5f, 100, 101, 2e-4, "{768,9} offset 100");

    /* non-contiguous input: the builder inserts a copy */
    mm_graph *g = new_graph();
    mm_tensor *x = in_rand(g, 2, NE(6, 40), -2, 2);
    mm_tensor *w = const_rand(g, MM_DTYPE_BF16, 1, NE(40), 0.5f, 1.5f);
    check(g, mm_layer_norm(g, mm_transpose(g, x), NULL, w, 1e-5f), "layer_norm transposed x, BF16 bias", 1e-5, 1e-5);
}

static void test_gelu(void **state)
{
    (void)state;
    static const char *names[] = {"erf", "tanh", "quick"};
    for (int kind = MM_GELU_ERF; kind <= MM_GELU_QUICK; kind++) {
        char label[96];
        mm_graph *g = new_graph();
        mm_tensor *a = in_rand(g, 3, NE(37, 5, 3), -6, 6);
        snprintf(label, sizeof label, "gelu %s {37,5,3} in [-6,6]", names[kind]);
        check(g, mm_gelu(g, a, (mm_gelu_kind)kind), label, TOL_EXP);

        g = new_graph();
        a = in_rand(g, 3, NE(8, 5, 6), -12, 12);
        snprintf(label, sizeof label, "gelu %s permuted in [-12,12]", names[kind]);
        check(g, mm_gelu(g, mm_permute(g, a, 2, 0, 1, 3), (mm_gelu_kind)kind), label, TOL_EXP);

        g = new_graph();
        a = in_rand(g, 1, NE(100001), -4, 4);
        snprintf(label, sizeof label, "gelu %s {100001}", names[kind]);
        check(g, mm_gelu(g, a, (mm_gelu_kind)kind), label, TOL_EXP);
    }
}

/* ---- softmax -------------------------------------------------------------------------------- */

/* A random additive mask: about `frac` of entries -inf, the rest in [-2,2]. */
static mm_tensor *mask_rand(mm_graph *g, int nd, const int64_t *ne, float frac)
{
    int64_t n = numel(nd, ne);
    float *m = rand_f32(n, -2, 2);
    float *u = rand_f32(n, 0, 1);
    for (int64_t i = 0; i < n; i++)
        if (u[i] < frac)
            m[i] = -INFINITY;
    return mm_graph_input(g, MM_DTYPE_F32, nd, ne, m);
}

static void softmax_case(int nd, const int64_t *ne, const int64_t *mask_ne, float scale, bool causal, const char *what)
{
    char label[160];
    snprintf(label, sizeof label, "softmax %s scale=%g%s%s", what, scale, mask_ne ? " mask" : "",
             causal ? " causal" : "");
    mm_graph *g = new_graph();
    mm_tensor *x = in_rand(g, nd, ne, -4, 4);
    mm_tensor *m = mask_ne ? mask_rand(g, 4, mask_ne, 0.2f) : NULL;
    check(g, mm_softmax(g, x, m, scale, causal), label, TOL_EXP);
}

static void test_softmax(void **state)
{
    (void)state;
    softmax_case(2, NE(37, 5), NULL, 1.0f, false, "{37,5}");
    softmax_case(2, NE(37, 5), NE(37, 5, 1, 1), 0.125f, false, "{37,5}");
    softmax_case(3, NE(37, 5, 3), NE(37, 1, 3, 1), 1.0f, false, "{37,5,3} mask {37,1,3}");
    softmax_case(4, NE(13, 4, 3, 2), NE(13, 4, 1, 2), 0.5f, false, "{13,4,3,2} mask {13,4,1,2}");
    softmax_case(3, NE(16, 16, 2), NULL, 1.0f, true, "{16,16,2}");
    softmax_case(2, NE(20, 7), NULL, 0.3f, true, "{20,7} (queries are the last 7)");
    softmax_case(2, NE(20, 7), NE(20, 1, 1, 1), 0.3f, true, "{20,7}");
    softmax_case(2, NE(5, 8), NULL, 1.0f, true, "{5,8} (first rows fully masked)");
    softmax_case(1, NE(51865), NULL, 1.0f, false, "{51865}");
    softmax_case(2, NE(1500, 40), NULL, 0.125f, false, "{1500,40}");
    softmax_case(2, NE(1, 3), NULL, 1.0f, false, "{1,3}");

    /* a fully masked row is zeros, not NaN */
    mm_graph *g = new_graph();
    mm_tensor *x = in_rand(g, 2, NE(6, 3), -4, 4);
    float mvals[18] = {0};
    for (int i = 6; i < 12; i++)
        mvals[i] = -INFINITY;
    mm_tensor *m = in_f32(g, 2, NE(6, 3), mvals);
    mm_tensor *y = mm_softmax(g, x, m, 1.0f, false);
    mm_graph_output(g, y);
    compute_or_fail(g_dut, g, "softmax fully masked row");
    const float *yd = mm_tensor_data(y);
    for (int i = 6; i < 12; i++)
        assert_true(yd[i] == 0.0f);
    double s0 = 0;
    for (int i = 0; i < 6; i++)
        s0 += yd[i];
    assert_true(fabs(s0 - 1.0) < 1e-5);
    check(g, y, "softmax fully masked row", TOL_EXP);

    /* non-contiguous x: the builder inserts a copy */
    g = new_graph();
    x = in_rand(g, 2, NE(9, 30), -4, 4);
    check(g, mm_softmax(g, mm_transpose(g, x), NULL, 2.0f, true), "softmax transposed {30,9} causal", TOL_EXP);
}

/* ---- attention ------------------------------------------------------------------------------- */

typedef struct attn_case {
    int64_t D, Dv, Tq, Tk, H, Hkv, B;
    bool causal, mask, permuted;
    const char *what;
} attn_case;

static void attention_case(const attn_case *c)
{
    char label[200];
    snprintf(label, sizeof label, "attention %s: D=%lld Dv=%lld Tq=%lld Tk=%lld H=%lld Hkv=%lld B=%lld%s%s%s", c->what,
             (long long)c->D, (long long)c->Dv, (long long)c->Tq, (long long)c->Tk, (long long)c->H, (long long)c->Hkv,
             (long long)c->B, c->causal ? " causal" : "", c->mask ? " mask" : "", c->permuted ? " permuted" : "");
    mm_graph *g = new_graph();
    mm_tensor *q, *k, *v;
    if (c->permuted) {
        /* the plugin layout: projections {D*H, T, B} split into heads {D,H,T,B}, permuted to {D,T,H,B} */
        q = mm_permute(g, in_rand(g, 4, NE(c->D, c->H, c->Tq, c->B), -1, 1), 0, 2, 1, 3);
        k = mm_permute(g, in_rand(g, 4, NE(c->D, c->Hkv, c->Tk, c->B), -1, 1), 0, 2, 1, 3);
        v = mm_permute(g, in_rand(g, 4, NE(c->Dv, c->Hkv, c->Tk, c->B), -1, 1), 0, 2, 1, 3);
    } else {
        q = in_rand(g, 4, NE(c->D, c->Tq, c->H, c->B), -1, 1);
        k = in_rand(g, 4, NE(c->D, c->Tk, c->Hkv, c->B), -1, 1);
        v = in_rand(g, 4, NE(c->Dv, c->Tk, c->Hkv, c->B), -1, 1);
    }
    mm_tensor *m = NULL;
    if (c->mask) {
        /* padding: batch b masks its last 3*b keys; plus a few random -inf */
        int64_t n = c->Tk * c->B;
        float *md = rand_f32(n, -1, 1);
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t j = c->Tk - 3 * b; j < c->Tk; j++)
                if (j >= 0)
                    md[b * c->Tk + j] = -INFINITY;
        m = mm_graph_input(g, MM_DTYPE_F32, 4, NE(c->Tk, 1, 1, c->B), md);
    }
    float scale = 1.0f / sqrtf((float)c->D);
    check(g, mm_attention(g, q, k, v, m, scale, c->causal), label, 2e-5, 1e-4);
}

static void test_attention(void **state)
{
    (void)state;
    static const attn_case cases[] = {
        {64, 64, 7, 9, 4, 4, 1, false, false, false, "Tq != Tk"},
        {16, 16, 16, 16, 3, 3, 1, true, false, false, "causal square"},
        {32, 32, 3, 10, 2, 2, 1, true, false, false, "causal with cache"},
        {64, 64, 1, 1500, 6, 6, 1, false, false, true, "decoder step"},
        {24, 24, 5, 12, 2, 2, 2, false, true, false, "padding mask"},
        {24, 24, 5, 12, 2, 2, 2, true, true, true, "padding mask"},
        {16, 16, 6, 6, 8, 2, 1, true, false, false, "GQA"},
        {16, 16, 4, 7, 4, 1, 2, false, false, true, "MQA"},
        {32, 48, 5, 9, 2, 2, 1, false, false, false, "Dv != D"},
        {1, 1, 1, 1, 1, 1, 1, false, false, false, "scalar"},
        {64, 64, 150, 150, 6, 6, 1, false, false, true, "encoder"},
        {64, 64, 150, 150, 6, 6, 1, true, false, true, "encoder"},
        {80, 80, 33, 77, 3, 3, 1, false, false, false, "odd sizes"},
        {32, 32, 40, 30000, 1, 1, 1, true, false, false, "long keys (query blocks)"},
        {64, 64, 11, 40, 2, 2, 2, true, true, true, "two query groups"},
        {20, 36, 8, 9, 3, 1, 1, false, false, true, "one full query group"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        attention_case(&cases[i]);

    /* a prompt through a decoder's cache: query i of batch b sees keys up to
     * 10 + 3b + i, the rest -inf (rows of one query group end differently) */
    {
        const int64_t Tq = 11, Tk = 48, B = 2;
        mm_graph *g = new_graph();
        float *md = keep((size_t)(Tk * Tq * B) * sizeof *md);
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < Tq; i++)
                for (int64_t j = 0; j < Tk; j++)
                    md[(b * Tq + i) * Tk + j] = j <= 10 + 3 * b + i ? 0.0f : -INFINITY;
        mm_tensor *q = mm_permute(g, in_rand(g, 4, NE(64, 3, Tq, B), -1, 1), 0, 2, 1, 3);
        mm_tensor *k = in_rand(g, 4, NE(64, Tk, 3, B), -1, 1);
        mm_tensor *v = in_rand(g, 4, NE(64, Tk, 3, B), -1, 1);
        mm_tensor *m = mm_graph_input(g, MM_DTYPE_F32, 4, NE(Tk, Tq, 1, B), md);
        check(g, mm_attention(g, q, k, v, m, 0.125f, false), "attention prompt through a cache (per-query masks)",
              2e-5, 1e-4);
    }

    /* a mask of {Tk, Tq, H, 1} that fully masks one query row: zeros */
    mm_graph *g = new_graph();
    mm_tensor *q = in_rand(g, 3, NE(8, 3, 2), -1, 1);
    mm_tensor *k = in_rand(g, 3, NE(8, 4, 2), -1, 1);
    mm_tensor *v = in_rand(g, 3, NE(8, 4, 2), -1, 1);
    float md[4 * 3 * 2] = {0};
    for (int j = 0; j < 4; j++)
        md[1 * 4 * 3 + 2 * 4 + j] = -INFINITY; /* head 1, query 2 */
    mm_tensor *m = in_f32(g, 3, NE(4, 3, 2), md);
    mm_tensor *o = mm_attention(g, q, k, v, m, 0.5f, false);
    mm_graph_output(g, o);
    compute_or_fail(g_dut, g, "attention fully masked row");
    const float *od = mm_tensor_data(o); /* {Dv=8, H=2, Tq=3} */
    for (int c = 0; c < 8; c++)
        assert_true(od[(2 * 2 + 1) * 8 + c] == 0.0f);
    check(g, o, "attention fully masked row", 2e-5, 1e-4);
}

/* ---- masks: -inf and finite, left padding, fully masked rows ------------------------------------- */

/* Batch b of B left-pads its first pad[b] of Tk keys with `val` (the rest
 * 0): Hugging Face's padding for batched decoding, with -inf or a finite
 * "minus a lot" (transformers uses -FLT_MAX). pad >= 64 masks a whole
 * 64-key chunk of the GPU attention kernel, Tk % 64 != 0 leaves a tail. */
static mm_tensor *mask_left_pad(mm_graph *g, int64_t Tk, int64_t B, const int64_t *pad, float val)
{
    float *m = keep((size_t)(Tk * B) * sizeof *m);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < Tk; j++)
            m[b * Tk + j] = j < pad[b] ? val : 0.0f;
    return mm_graph_input(g, MM_DTYPE_F32, 4, NE(Tk, 1, 1, B), m);
}

static const float mask_values[] = {-INFINITY, -FLT_MAX, -1e30f, -1e4f};

/* Left padding that leaves a key visible (finite or not), and with -inf a
 * batch fully masked (zeros): the reference's values on every backend. */
static void test_mask_padding(void **state)
{
    (void)state;
    const int64_t Tk = 100, B = 4;
    for (size_t i = 0; i < sizeof mask_values / sizeof mask_values[0]; i++) {
        const float val = mask_values[i];
        const int64_t pad[4] = {0, 64, 70, isinf(val) ? Tk : 90}; /* causal sees keys <= 96 */
        char label[96];
        for (int causal = 0; causal < 2; causal++) {
            mm_graph *g = new_graph();
            mm_tensor *x = in_rand(g, 4, NE(Tk, 4, 2, B), -4, 4);
            snprintf(label, sizeof label, "softmax left-padded with %g%s", val, causal ? " causal" : "");
            check(g, mm_softmax(g, x, mask_left_pad(g, Tk, B, pad, val), 0.5f, causal), label, TOL_EXP);

            g = new_graph();
            mm_tensor *q = in_rand(g, 4, NE(32, 5, 2, B), -1, 1);
            mm_tensor *k = in_rand(g, 4, NE(32, Tk, 2, B), -1, 1);
            mm_tensor *v = in_rand(g, 4, NE(32, Tk, 2, B), -1, 1);
            snprintf(label, sizeof label, "attention left-padded with %g%s", val, causal ? " causal" : "");
            check(g, mm_attention(g, q, k, v, mask_left_pad(g, Tk, B, pad, val), 0.25f, causal), label, 2e-5, 1e-4);

            /* a decoding step (one query, keys split over lanes on CPU devices) */
            g = new_graph();
            q = in_rand(g, 4, NE(64, 1, 2, B), -1, 1);
            k = in_rand(g, 4, NE(64, Tk, 2, B), -1, 1);
            v = in_rand(g, 4, NE(64, Tk, 2, B), -1, 1);
            snprintf(label, sizeof label, "attention step left-padded with %g%s", val, causal ? " causal" : "");
            check(g, mm_attention(g, q, k, v, mask_left_pad(g, Tk, B, pad, val), 0.125f, causal), label, 2e-5, 1e-4);
        }
    }
}

/* Every key masked by a finite value: no longer "masked" (the reference
 * keeps the scores' differences in double, float arithmetic cannot), but
 * the result must stay a softmax: finite, rows summing to 1, attention a
 * convex combination of the values. Checked on the backend under test. */
static void test_mask_finite_full(void **state)
{
    (void)state;
    const int64_t Tk = 70, B = 2, pad[2] = {Tk, Tk};
    for (size_t i = 1; i < sizeof mask_values / sizeof mask_values[0]; i++) {
        const float val = mask_values[i];
        mm_graph *g = new_graph();
        mm_tensor *x = in_rand(g, 4, NE(Tk, 3, 1, B), -4, 4);
        mm_tensor *y = mm_softmax(g, x, mask_left_pad(g, Tk, B, pad, val), 1.0f, false);
        mm_graph_output(g, y);
        compute_or_fail(g_dut, g, "softmax fully masked by a finite value");
        const float *yd = mm_tensor_data(y);
        for (int64_t r = 0; r < 3 * B; r++) {
            double sum = 0;
            for (int64_t j = 0; j < Tk; j++) {
                if (!isfinite(yd[r * Tk + j]) || yd[r * Tk + j] < 0)
                    fail_msg("softmax masked by %g: row %lld key %lld is %g", val, (long long)r, (long long)j,
                             yd[r * Tk + j]);
                sum += yd[r * Tk + j];
            }
            if (fabs(sum - 1.0) > 1e-4)
                fail_msg("softmax masked by %g: row %lld sums to %g", val, (long long)r, sum);
        }
        mm_graph_free(g);

        for (int64_t Tq = 1; Tq <= 6; Tq += 5) {
            g = new_graph();
            mm_tensor *q = in_rand(g, 4, NE(16, Tq, 2, B), -1, 1);
            mm_tensor *k = in_rand(g, 4, NE(16, Tk, 2, B), -1, 1);
            mm_tensor *v = in_rand(g, 4, NE(16, Tk, 2, B), 0.25f, 1);
            mm_tensor *o = mm_attention(g, q, k, v, mask_left_pad(g, Tk, B, pad, val), 0.25f, false);
            mm_graph_output(g, o);
            compute_or_fail(g_dut, g, "attention fully masked by a finite value");
            const float *od = mm_tensor_data(o);
            for (int64_t e = 0; e < mm_tensor_nelements(o); e++)
                if (!(od[e] >= 0.25f - 1e-5f && od[e] <= 1.0f + 1e-5f))
                    fail_msg("attention masked by %g (Tq %lld): output %lld is %g, outside the values' range", val,
                             (long long)Tq, (long long)e, od[e]);
            mm_graph_free(g);
        }
    }
}

/* ---- conv1d / patch embed ----------------------------------------------------------------------- */

static void conv_case(int64_t T, int64_t Cin, int64_t B, int64_t K, int64_t Cout, int32_t stride, int32_t pad,
                      bool bias, mm_dtype wtype)
{
    char label[200];
    snprintf(label, sizeof label, "conv1d T=%lld Cin=%lld B=%lld K=%lld Cout=%lld stride=%d pad=%d%s weight %s",
             (long long)T, (long long)Cin, (long long)B, (long long)K, (long long)Cout, stride, pad,
             bias ? " bias" : "", mm_dtype_name(wtype));
    mm_graph *g = new_graph();
    mm_tensor *x = in_rand(g, 3, NE(T, Cin, B), -1, 1);
    mm_tensor *w = const_rand(g, wtype, 3, NE(K, Cin, Cout), -1, 1);
    mm_tensor *b = bias ? const_rand(g, MM_DTYPE_F32, 1, NE(Cout), -1, 1) : NULL;
    check(g, mm_conv1d(g, x, w, b, stride, pad), label, tol_dot(K * Cin), 1e-5);
}

static void test_conv1d(void **state)
{
    (void)state;
    conv_case(17, 5, 1, 3, 7, 1, 1, true, MM_DTYPE_F32);
    conv_case(17, 5, 2, 3, 7, 2, 1, true, MM_DTYPE_F32);
    conv_case(10, 4, 1, 1, 3, 1, 0, false, MM_DTYPE_F32);
    conv_case(23, 6, 1, 5, 9, 2, 2, true, MM_DTYPE_F16);
    conv_case(300, 80, 1, 3, 64, 1, 1, true, MM_DTYPE_F32);
    conv_case(300, 64, 2, 3, 48, 2, 1, true, MM_DTYPE_BF16);
    conv_case(3, 2, 1, 3, 2, 3, 0, false, MM_DTYPE_F32);
    conv_case(8, 3, 1, 4, 5, 3, 3, true, MM_DTYPE_F32);
    conv_case(5000, 8, 1, 3, 5, 1, 1, true, MM_DTYPE_F32); /* few output channels, long signal */

    /* x as a transposed view {T,Cin} of {Cin,T} data: the builder copies it */
    mm_graph *g = new_graph();
    mm_tensor *x = in_rand(g, 2, NE(6, 31), -1, 1);
    mm_tensor *w = const_rand(g, MM_DTYPE_F32, 3, NE(3, 6, 5), -1, 1);
    check(g, mm_conv1d(g, mm_transpose(g, x), w, NULL, 2, 1), "conv1d transposed x", tol_dot(18), 1e-5);
}

static void patch_case(int64_t W, int64_t H, int64_t C, int64_t B, int64_t P, int64_t Cout, bool bias, mm_dtype wtype)
{
    char label[200];
    snprintf(label, sizeof label, "patch_embed W=%lld H=%lld C=%lld B=%lld P=%lld Cout=%lld%s weight %s", (long long)W,
             (long long)H, (long long)C, (long long)B, (long long)P, (long long)Cout, bias ? " bias" : "",
             mm_dtype_name(wtype));
    mm_graph *g = new_graph();
    mm_tensor *x = in_rand(g, 4, NE(W, H, C, B), -1, 1);
    mm_tensor *w = const_rand(g, wtype, 4, NE(P, P, C, Cout), -1, 1);
    mm_tensor *b = bias ? const_rand(g, MM_DTYPE_F32, 1, NE(Cout), -1, 1) : NULL;
    check(g, mm_patch_embed(g, x, w, b), label, tol_dot(P * P * C), 1e-5);
}

static void test_patch_embed(void **state)
{
    (void)state;
    patch_case(8, 8, 3, 1, 4, 5, true, MM_DTYPE_F32);
    patch_case(12, 8, 3, 2, 4, 5, true, MM_DTYPE_F32);
    patch_case(6, 4, 1, 1, 2, 3, false, MM_DTYPE_F32);
    patch_case(5, 3, 2, 2, 1, 7, true, MM_DTYPE_F32);
    patch_case(64, 48, 3, 1, 16, 96, true, MM_DTYPE_BF16);
    patch_case(32, 32, 3, 2, 16, 33, false, MM_DTYPE_F16);
    patch_case(7, 7, 4, 1, 7, 9, true, MM_DTYPE_F32);
    patch_case(32, 32, 3, 1, 16, 600, true, MM_DTYPE_F32); /* few patches, many channels */
}

/* ---- get_rows / concat ------------------------------------------------------------------------- */

static void test_get_rows(void **state)
{
    (void)state;
    mm_graph *g = new_graph();
    mm_tensor *tab = const_rand(g, MM_DTYPE_F32, 2, NE(16, 50), -1, 1);
    mm_tensor *ids = in_i32(g, 1, NE(7), (const int32_t[]){3, 0, 49, 3, 17, 17, 1});
    check(g, mm_get_rows(g, tab, ids), "get_rows {16,50} ids {7} with repeats", TOL_EXACT);

    g = new_graph();
    tab = const_rand(g, MM_DTYPE_F16, 2, NE(33, 20), -1, 1);
    ids = in_i32(g, 2, NE(5, 3), (const int32_t[]){0, 19, 2, 2, 7, 11, 13, 1, 0, 5, 19, 18, 17, 16, 4});
    check(g, mm_get_rows(g, tab, ids), "get_rows F16 {33,20} ids {5,3}", TOL_EXACT);

    g = new_graph();
    tab = in_rand(g, 2, NE(1, 9), -1, 1);
    ids = in_i32(g, 1, NE(4), (const int32_t[]){8, 0, 4, 4});
    check(g, mm_get_rows(g, tab, ids), "get_rows D=1", TOL_EXACT);

    g = new_graph();
    tab = const_rand(g, MM_DTYPE_BF16, 2, NE(384, 1000), -1, 1);
    ids = in_i32(g, 1, NE(1), (const int32_t[]){999});
    check(g, mm_get_rows(g, tab, ids), "get_rows BF16 {384,1000} one id", TOL_EXACT);

    g = new_graph();
    mm_tensor *t2 = in_rand(g, 2, NE(12, 10), -1, 1);
    ids = in_i32(g, 1, NE(3), (const int32_t[]){11, 0, 5});
    check(g, mm_get_rows(g, mm_transpose(g, t2), ids), "get_rows transposed table", TOL_EXACT);
}

static void expect_get_rows_failure(int32_t bad_id)
{
    mm_graph *g = new_graph();
    mm_tensor *tab = const_rand(g, MM_DTYPE_F32, 2, NE(4, 10), -1, 1);
    mm_tensor *ids = in_i32(g, 1, NE(3), (const int32_t[]){1, bad_id, 2});
    mm_tensor *y = mm_get_rows(g, tab, ids);
    mm_graph_output(g, y);
    assert_int_equal(mm_graph_status(g), MM_OK);
    mm_backend *bs[2] = {g_ref, g_dut};
    for (int i = 0; i < 2; i++) {
        mm_error_clear();
        mm_status s = mm_backend_compute(bs[i], g);
        print_message("get_rows id %d on %s: %s (%s)\n", bad_id, mm_backend_name(bs[i]), mm_status_name(s),
                      mm_error_message());
        assert_int_equal(s, MM_ERR_INVALID);
        assert_true(strlen(mm_error_message()) > 0);
    }
    mm_graph_free(g);
}

static void test_get_rows_invalid(void **state)
{
    (void)state;
    expect_get_rows_failure(10);
    expect_get_rows_failure(-1);
    expect_get_rows_failure(INT32_MAX);
}

static void test_concat(void **state)
{
    (void)state;
    static const int64_t base[4] = {5, 3, 4, 2};
    static const int64_t extra[4] = {7, 2, 1, 3};
    for (int dim = 0; dim < 4; dim++) {
        int64_t nb[4];
        memcpy(nb, base, sizeof nb);
        nb[dim] = extra[dim];
        char label[96];
        snprintf(label, sizeof label, "concat dim %d {5,3,4,2} + {..%lld..}", dim, (long long)extra[dim]);
        mm_graph *g = new_graph();
        mm_tensor *a = in_rand(g, 4, base, -1, 1);
        mm_tensor *b = in_rand(g, 4, nb, -1, 1);
        check(g, mm_concat(g, a, b, dim), label, TOL_EXACT);
    }
    /* a permuted view with a contiguous tensor */
    mm_graph *g = new_graph();
    mm_tensor *a = in_rand(g, 3, NE(6, 4, 5), -1, 1);
    mm_tensor *b = in_rand(g, 3, NE(4, 6, 3), -1, 1);
    check(g, mm_concat(g, mm_permute(g, a, 1, 0, 2, 3), b, 2), "concat permuted a dim 2", TOL_EXACT);

    /* KV-cache style: append one step along dim 1 of a {D,T,H} view */
    g = new_graph();
    a = in_rand(g, 3, NE(8, 3, 10), -1, 1);
    b = in_rand(g, 3, NE(8, 1, 3), -1, 1);
    check(g, mm_concat(g, mm_permute(g, a, 0, 2, 1, 3), b, 1), "concat kv step dim 1", TOL_EXACT);

    g = new_graph();
    mm_tensor *ia = in_i32(g, 1, NE(3), (const int32_t[]){1, -2, 3});
    mm_tensor *ib = in_i32(g, 1, NE(2), (const int32_t[]){40, 50});
    check(g, mm_concat(g, ia, ib, 0), "concat I32", TOL_EXACT);

    g = new_graph();
    a = in_rand(g, 1, NE(1), -1, 1);
    b = in_rand(g, 1, NE(1), -1, 1);
    check(g, mm_concat(g, a, b, 3), "concat {1} + {1} along dim 3", TOL_EXACT);
}

/* ---- argmax / top_k ------------------------------------------------------------------------------- */

/* Random rows (values exact, so any backend sees the same order) where row r
 * gets deliberate ties: its maximum copied to r % 3 more places, and some
 * rows all equal. */
static float *rows_with_ties(int64_t n, int64_t rows)
{
    float *x = rand_f32(n * rows, -5, 5);
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * n;
        if (r % 5 == 4) {
            for (int64_t j = 0; j < n; j++)
                row[j] = 0.25f;
            continue;
        }
        int64_t best = 0;
        for (int64_t j = 1; j < n; j++)
            if (row[j] > row[best])
                best = j;
        for (int64_t t = 1; t <= r % 3 && n > 1; t++)
            row[(best + t * 7919) % n] = row[best];
        if (n > 4)
            row[n / 2] = row[n / 3] = -INFINITY;
        if (n > 8)
            row[n - 1] = row[n - 2]; /* a tie that is not the maximum */
    }
    return x;
}

/* Values on a grid of 16 levels: ties everywhere, inside and across the top k. */
static float *rows_quantized(int64_t n, int64_t rows)
{
    float *x = rand_f32(n * rows, 0, 1);
    for (int64_t i = 0; i < n * rows; i++)
        x[i] = floorf(x[i] * 16.0f) - 8.0f;
    return x;
}

static void test_argmax(void **state)
{
    (void)state;
    static const int64_t shapes[][2] = {{1, 1}, {1, 7}, {37, 15}, {51865, 3}, {7, 1000}, {1000, 7}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char label[96];
        snprintf(label, sizeof label, "argmax {%lld,%lld} with ties", (long long)shapes[i][0], (long long)shapes[i][1]);
        mm_graph *g = new_graph();
        mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 2, shapes[i], rows_with_ties(shapes[i][0], shapes[i][1]));
        check(g, mm_argmax(g, x), label, TOL_EXACT);
    }
    mm_graph *g = new_graph();
    mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 3, NE(9, 4, 3), rows_with_ties(9, 12));
    check(g, mm_argmax(g, mm_permute(g, x, 1, 0, 2, 3)), "argmax permuted {4,9,3}", TOL_EXACT);
}

static void test_top_k(void **state)
{
    (void)state;
    static const int64_t cases[][3] = {
        {7, 5, 1}, {7, 5, 3}, {37, 15, 5}, {16, 10, 16}, {51865, 2, 40}, {1000, 7, 100}, {3, 1, 3}, {1, 4, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[96];
        snprintf(label, sizeof label, "top_k {%lld,%lld} k=%lld with ties", (long long)cases[i][0],
                 (long long)cases[i][1], (long long)cases[i][2]);
        mm_graph *g = new_graph();
        mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 2, cases[i], rows_with_ties(cases[i][0], cases[i][1]));
        check(g, mm_top_k(g, x, (int32_t)cases[i][2]), label, TOL_EXACT);
    }
    mm_graph *g = new_graph();
    mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 3, NE(9, 4, 3), rows_with_ties(9, 12));
    check(g, mm_top_k(g, mm_permute(g, x, 1, 0, 2, 3), 2), "top_k permuted {4,9,3} k=2", TOL_EXACT);

    static const int64_t grid[][3] = {{1000, 3, 50}, {37, 4, 37}, {200, 2, 1}, {51865, 1, 64}};
    for (size_t i = 0; i < sizeof grid / sizeof grid[0]; i++) {
        char label[96];
        snprintf(label, sizeof label, "top_k {%lld,%lld} k=%lld on 16 levels", (long long)grid[i][0],
                 (long long)grid[i][1], (long long)grid[i][2]);
        g = new_graph();
        x = mm_graph_input(g, MM_DTYPE_F32, 2, grid[i], rows_quantized(grid[i][0], grid[i][1]));
        check(g, mm_top_k(g, x, (int32_t)grid[i][2]), label, TOL_EXACT);
    }
    g = new_graph();
    x = mm_graph_input(g, MM_DTYPE_F32, 2, NE(300, 5), rows_quantized(300, 5));
    check(g, mm_argmax(g, x), "argmax {300,5} on 16 levels", TOL_EXACT);
}

/* ---- multi-op graphs ------------------------------------------------------------------------------- */

/* A pre-norm transformer block plus side outputs: exercises memory reuse
 * (intermediates read long after they were made, through views), several
 * outputs, an output that is an input, and an output that is a view. */
static mm_graph *block_graph(int64_t D, int64_t T, int64_t H, mm_tensor **x_in, mm_tensor **outs, mm_dtype wtype)
{
    mm_graph *g = new_graph();
    int64_t hd = D / H;
    mm_tensor *x = *x_in = in_rand(g, 2, NE(D, T), -1, 1);
    mm_tensor *ln = mm_layer_norm(g, x, const_rand(g, MM_DTYPE_F32, 1, NE(D), 0.5f, 1.5f),
                                  const_rand(g, MM_DTYPE_F32, 1, NE(D), -0.1f, 0.1f), 1e-5f);
    mm_tensor *qkv = mm_matmul(g, const_rand(g, wtype, 2, NE(D, 3 * D), -0.2f, 0.2f), ln); /* {3D,T} */
    size_t row = (size_t)3 * D * 4;
    mm_tensor *q = mm_view(g, qkv, 3, NE(hd, H, T), (const size_t[]){4, (size_t)hd * 4, row}, 0);
    mm_tensor *k = mm_view(g, qkv, 3, NE(hd, H, T), (const size_t[]){4, (size_t)hd * 4, row}, (size_t)D * 4);
    mm_tensor *v = mm_view(g, qkv, 3, NE(hd, H, T), (const size_t[]){4, (size_t)hd * 4, row}, (size_t)2 * D * 4);
    q = mm_permute(g, q, 0, 2, 1, 3);
    k = mm_permute(g, k, 0, 2, 1, 3);
    v = mm_permute(g, v, 0, 2, 1, 3);
    mm_tensor *att = mm_attention(g, q, k, v, NULL, 1.0f / sqrtf((float)hd), true); /* {hd,H,T} */
    att = mm_reshape(g, att, 2, NE(D, T));
    mm_tensor *h = mm_add(g, x, mm_matmul(g, const_rand(g, wtype, 2, NE(D, D), -0.2f, 0.2f), att));
    mm_tensor *ff = mm_gelu(g, mm_matmul(g, const_rand(g, wtype, 2, NE(D, 4 * D), -0.2f, 0.2f), h), MM_GELU_TANH);
    mm_tensor *y = mm_add(g, h, mm_matmul(g, const_rand(g, wtype, 2, NE(4 * D, D), -0.2f, 0.2f), ff));
    mm_tensor *logits = mm_matmul(g, const_rand(g, MM_DTYPE_F32, 2, NE(D, 50), -1, 1), y);
    outs[0] = y;
    outs[1] = mm_top_k(g, logits, 3);
    outs[2] = mm_view(g, qkv, 2, NE(D, T), (const size_t[]){4, row}, (size_t)D * 4); /* k, as a view */
    outs[3] = x;
    outs[4] = mm_softmax(g, mm_scale(g, logits, 2.0f), NULL, 1.0f, false);
    return g;
}

static void test_graph(void **state)
{
    (void)state;
    mm_tensor *x, *outs[5];
    mm_graph *g = block_graph(64, 19, 4, &x, outs, MM_DTYPE_F32);
    check_n(g, outs, 5, "graph block D=64 T=19 H=4", 1e-4, 1e-4);

    g = block_graph(48, 7, 3, &x, outs, MM_DTYPE_F16);
    check_n(g, outs, 5, "graph block F16 weights", 1e-4, 1e-4);

    /* recompute: new input data, same (resident) weights, twice per backend */
    g = block_graph(32, 5, 2, &x, outs, MM_DTYPE_BF16);
    for (int i = 0; i < 4; i++)
        mm_graph_output(g, outs[i]);
    compute_or_fail(g_dut, g, "graph recompute warm-up");
    float *want = malloc(mm_tensor_nbytes(outs[0]));
    assert_non_null(want);
    for (int round = 0; round < 2; round++) {
        mm_tensor_set_data(x, rand_f32(32 * 5, -1, 1));
        compute_or_fail(g_ref, g, "graph recompute");
        assert_int_equal(mm_tensor_read(outs[0], want, mm_tensor_nbytes(outs[0])), MM_OK);
        compute_or_fail(g_dut, g, "graph recompute");
        if (!test_allclose("graph recompute", mm_tensor_data(outs[0]), want, 32 * 5, 1e-4, 1e-4))
            fail_msg("recompute %d differs", round);
    }
    free(want);
    mm_graph_free(g);

    /* a long chain: every intermediate dies at once, memory must be reused correctly */
    g = new_graph();
    mm_tensor *a = in_rand(g, 2, NE(129, 33), -1, 1);
    mm_tensor *first = mm_scale(g, a, 0.5f), *cur = first;
    for (int i = 0; i < 40; i++) {
        cur = mm_add(g, cur, mm_scale(g, a, (float)i / 40.0f));
        if (i % 7 == 3)
            cur = mm_mul(g, cur, first); /* keeps `first` alive to the end */
        if (i % 5 == 1)
            cur = mm_cont(g, mm_transpose(g, mm_transpose(g, cur)));
        if (i % 9 == 0)
            cur = mm_layer_norm(g, cur, NULL, NULL, 1e-5f);
    }
    check(g, cur, "graph chain of 40 steps", 1e-5, 1e-5);

    /* resident constants are keyed by address, storage and size: one buffer
     * seen as F16 {8}, F16 {16} and BF16 {16} is three different weights */
    uint16_t *raw = keep(16 * sizeof *raw);
    float *vals = rand_f32(16, -1, 1);
    for (int i = 0; i < 16; i++)
        raw[i] = mm_f32_to_f16(vals[i]);
    for (int round = 0; round < 2; round++) {
        g = new_graph();
        mm_tensor *x8 = in_rand(g, 2, NE(8, 3), -1, 1);
        mm_tensor *x16 = in_rand(g, 2, NE(16, 3), -1, 1);
        mm_tensor *o3[3] = {
            mm_mul(g, x8, mm_graph_constant(g, MM_DTYPE_F16, 1, NE(8), raw)),
            mm_mul(g, x16, mm_graph_constant(g, MM_DTYPE_F16, 1, NE(16), raw)),
            mm_mul(g, x16, mm_graph_constant(g, MM_DTYPE_BF16, 1, NE(16), raw)),
        };
        check_n(g, o3, 3, "graph one buffer as three constants", TOL_ELEM);
    }

    /* the graph API refuses a graph without outputs */
    g = new_graph();
    a = in_rand(g, 1, NE(3), -1, 1);
    (void)mm_scale(g, a, 2.0f);
    assert_int_not_equal(mm_backend_compute(g_dut, g), MM_OK);
    mm_graph_free(g);
}

/* ---- analytic checks: the oracle (and the backend under test) against
 * values computed by hand ----------------------------------------------------------------------------- */

static const float *compute_one(mm_backend *b, mm_graph *g, mm_tensor *y)
{
    if (mm_graph_status(g) != MM_OK)
        fail_msg("graph build: %s", mm_error_message());
    mm_graph_output(g, y);
    compute_or_fail(b, g, "analytic");
    return mm_tensor_data(y);
}

static void expect_near(const char *what, const float *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol))
            fail_msg("%s[%d]: got %.9g, want %.9g", what, i, got[i], want[i]);
}

static void analytic_on(mm_backend *be)
{
    print_message("analytic checks on %s\n", mm_backend_name(be));
    /* softmax of [1,2,3]: e^(x-3) / sum */
    mm_graph *g = new_graph();
    mm_tensor *x = in_f32(g, 1, NE(3), (const float[]){1, 2, 3});
    expect_near("softmax [1,2,3]", compute_one(be, g, mm_softmax(g, x, NULL, 1.0f, false)),
                (const double[]){0.09003057317038046, 0.24472847105479767, 0.6652409557748219}, 3, 1e-6);
    mm_graph_free(g);

    /* scale 2 and an additive mask of [0,-inf,ln 2]: [e^2, 0, 2e^6] / sum */
    g = new_graph();
    x = in_f32(g, 1, NE(3), (const float[]){1, 2, 3});
    mm_tensor *m = in_f32(g, 1, NE(3), (const float[]){0, -INFINITY, (float)M_LN2});
    double e2 = exp(2), e6 = 2 * exp(6);
    expect_near("softmax scale+mask", compute_one(be, g, mm_softmax(g, x, m, 2.0f, false)),
                (const double[]){e2 / (e2 + e6), 0, e6 / (e2 + e6)}, 3, 1e-6);
    mm_graph_free(g);

    /* causal, 3 keys, 2 queries: query 0 sees keys 0..1, query 1 all */
    g = new_graph();
    x = in_f32(g, 2, NE(3, 2), (const float[]){0, 0, 5, 0, 0, 0});
    expect_near("softmax causal", compute_one(be, g, mm_softmax(g, x, NULL, 1.0f, true)),
                (const double[]){0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3}, 6, 1e-6);
    mm_graph_free(g);

    /* GELU variants at 0, 1, -1 / -2 */
    static const double want_gelu[3][3] = {
        {0, 0.8413447460685429, -0.15865525393145707}, /* 0.5x(1+erf(x/sqrt2)) at 0, 1, -1 */
        {0, 0.8411919906082768, -0.04540230591222494}, /* tanh form at 0, 1, -2 */
        {0, 0.8457957659328212, -0.06434137685579186}, /* x*sigmoid(1.702x) at 0, 1, -2 */
    };
    for (int kind = 0; kind < 3; kind++) {
        g = new_graph();
        x = in_f32(g, 1, NE(3), (const float[]){0, 1, kind == 0 ? -1.0f : -2.0f});
        expect_near("gelu", compute_one(be, g, mm_gelu(g, x, (mm_gelu_kind)kind)), want_gelu[kind], 3, 1e-6);
        mm_graph_free(g);
    }

    /* [[1,2,3],[4,5,6]] (M=2,K=3) times rows [7,8,9],[10,11,12] (N=2): out[n][m] = a_m . b_n */
    g = new_graph();
    mm_tensor *a = in_f32(g, 2, NE(3, 2), (const float[]){1, 2, 3, 4, 5, 6});
    mm_tensor *b = in_f32(g, 2, NE(3, 2), (const float[]){7, 8, 9, 10, 11, 12});
    expect_near("matmul 2x3.3x2", compute_one(be, g, mm_matmul(g, a, b)), (const double[]){50, 122, 68, 167}, 4,
                1e-5);
    mm_graph_free(g);

    /* conv1d x=[1..5], w=[1,0,-1], bias 0.5, stride 2, pad 1: windows [0,1,2], [2,3,4], [4,5,0] */
    g = new_graph();
    x = in_f32(g, 2, NE(5, 1), (const float[]){1, 2, 3, 4, 5});
    mm_tensor *w = mm_graph_constant(g, MM_DTYPE_F32, 3, NE(3, 1, 1), (const float[]){1, 0, -1});
    mm_tensor *bias = mm_graph_constant(g, MM_DTYPE_F32, 1, NE(1), (const float[]){0.5f});
    expect_near("conv1d", compute_one(be, g, mm_conv1d(g, x, w, bias, 2, 1)), (const double[]){-1.5, -1.5, 4.5}, 3,
                1e-6);
    mm_graph_free(g);

    /* attention with one key returns v; two equal keys average v */
    g = new_graph();
    mm_tensor *q = in_f32(g, 2, NE(2, 1), (const float[]){3, -1});
    mm_tensor *k = in_f32(g, 2, NE(2, 2), (const float[]){1, 1, 1, 1});
    mm_tensor *v = in_f32(g, 2, NE(3, 2), (const float[]){1, 2, 3, 5, 6, 7});
    expect_near("attention equal keys", compute_one(be, g, mm_attention(g, q, k, v, NULL, 0.7f, false)),
                (const double[]){3, 4, 5}, 3, 1e-6);
    mm_graph_free(g);
    g = new_graph();
    q = in_f32(g, 2, NE(2, 1), (const float[]){3, -1});
    k = in_f32(g, 2, NE(2, 1), (const float[]){0.5f, 2});
    v = in_f32(g, 2, NE(3, 1), (const float[]){-1, 0.25f, 9});
    expect_near("attention one key", compute_one(be, g, mm_attention(g, q, k, v, NULL, 1.0f, false)),
                (const double[]){-1, 0.25, 9}, 3, 1e-6);
    mm_graph_free(g);

    /* layer norm of [1,2,3]: mean 2, var 2/3; then w=[1,2,3], b=[0,1,0] */
    g = new_graph();
    x = in_f32(g, 1, NE(3), (const float[]){1, 2, 3});
    double s = 1 / sqrt(2.0 / 3.0);
    expect_near("layer_norm", compute_one(be, g, mm_layer_norm(g, x, NULL, NULL, 0.0f)), (const double[]){-s, 0, s}, 3,
                1e-6);
    mm_graph_free(g);
    g = new_graph();
    x = in_f32(g, 1, NE(3), (const float[]){1, 2, 3});
    w = mm_graph_constant(g, MM_DTYPE_F32, 1, NE(3), (const float[]){1, 2, 3});
    bias = mm_graph_constant(g, MM_DTYPE_F32, 1, NE(3), (const float[]){0, 1, 0});
    expect_near("layer_norm w b", compute_one(be, g, mm_layer_norm(g, x, w, bias, 0.0f)),
                (const double[]){-s, 1, 3 * s}, 3, 1e-6);
    mm_graph_free(g);

    /* patch embed: 4x2 image, 1 channel, P=2, weight [1,2,3,4] per patch, bias 1 */
    g = new_graph();
    x = in_f32(g, 4, NE(4, 2, 1, 1), (const float[]){1, 2, 3, 4, 5, 6, 7, 8});
    w = mm_graph_constant(g, MM_DTYPE_F32, 4, NE(2, 2, 1, 1), (const float[]){1, 2, 3, 4});
    bias = mm_graph_constant(g, MM_DTYPE_F32, 1, NE(1), (const float[]){1});
    /* patch 0 = [1,2;5,6] -> 1+4+15+24+1 = 45; patch 1 = [3,4;7,8] -> 3+8+21+32+1 = 65 */
    expect_near("patch_embed", compute_one(be, g, mm_patch_embed(g, x, w, bias)), (const double[]){45, 65}, 2, 1e-5);
    mm_graph_free(g);

    /* get_rows, argmax and top_k on tiny known data */
    g = new_graph();
    mm_tensor *tab = in_f32(g, 2, NE(2, 3), (const float[]){0, 1, 10, 11, 20, 21});
    mm_tensor *ids = in_i32(g, 1, NE(3), (const int32_t[]){2, 0, 2});
    expect_near("get_rows", compute_one(be, g, mm_get_rows(g, tab, ids)), (const double[]){20, 21, 0, 1, 20, 21}, 6, 0);
    mm_graph_free(g);

    g = new_graph();
    x = in_f32(g, 2, NE(4, 2), (const float[]){3, 1, 3, 2, -1, -INFINITY, 7, 7});
    mm_tensor *am = mm_argmax(g, x), *tk = mm_top_k(g, x, 3);
    mm_graph_output(g, am);
    compute_one(be, g, tk);
    const int32_t *ai = mm_tensor_data(am), *ti = mm_tensor_data(tk);
    assert_int_equal(ai[0], 0);
    assert_int_equal(ai[1], 2);
    static const int32_t want_tk[6] = {0, 2, 3, 2, 3, 0};
    for (int i = 0; i < 6; i++)
        assert_int_equal(ti[i], want_tk[i]);
    mm_graph_free(g);

    /* concat of I32 along dim 1 and add with a broadcast column */
    g = new_graph();
    a = in_f32(g, 2, NE(2, 2), (const float[]){1, 2, 3, 4});
    b = in_f32(g, 2, NE(1, 2), (const float[]){10, 20});
    expect_near("add broadcast", compute_one(be, g, mm_add(g, a, b)), (const double[]){11, 12, 23, 24}, 4, 0);
    mm_graph_free(g);
}

static void test_analytic(void **state)
{
    (void)state;
    analytic_on(g_ref);
    analytic_on(g_dut);
}

/* ---- persistent buffers --------------------------------------------------------------------
 * Buffers belong to one backend, so these graphs are not run twice: the
 * backend under test works through a KV cache, step by step, and each step
 * is checked against the reference computing the same attention from
 * plain inputs holding every key so far. */

typedef struct kv_steps {
    int64_t D, H, T_max;
    int n_steps;
    const int64_t *rows; /* rows stored per step (first: a prompt) */
} kv_steps;

static void store_kv_case(const kv_steps *c)
{
    const int64_t D = c->D, H = c->H, T = c->T_max;
    mm_buffer *kc = NULL, *vc = NULL;
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F32, 3, NE(D, T, H), &kc), MM_OK);
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F32, 3, NE(D, T, H), &vc), MM_OK);
    size_t nb[4] = {4, (size_t)D * 4, (size_t)(D * T) * 4, (size_t)(D * T * H) * 4};
    float *k_all = keep((size_t)(D * T * H) * 4), *v_all = keep((size_t)(D * T * H) * 4); /* {D, T, H} as stored */
    memset(k_all, 0, (size_t)(D * T * H) * 4);
    memset(v_all, 0, (size_t)(D * T * H) * 4);
    int64_t pos = 0;
    for (int step = 0; step < c->n_steps; step++) {
        int64_t n = c->rows[step];
        char label[160];
        snprintf(label, sizeof label, "kv cache D=%lld H=%lld: step %d, %lld new row(s) at %lld", (long long)D,
                 (long long)H, step, (long long)n, (long long)pos);
        /* new keys and values {D, n, H}, and the queries of those positions */
        float *kn = rand_f32(D * n * H, -1, 1), *vn = rand_f32(D * n * H, -1, 1), *qn = rand_f32(D * n * H, -1, 1);
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < n; t++) {
                memcpy(&k_all[(h * T + pos + t) * D], &kn[(h * n + t) * D], (size_t)D * 4);
                memcpy(&v_all[(h * T + pos + t) * D], &vn[(h * n + t) * D], (size_t)D * 4);
            }
        float scale = 1.0f / sqrtf((float)D);

        mm_graph *g = new_graph();
        mm_tensor *kb = mm_graph_buffer(g, kc), *vb = mm_graph_buffer(g, vc);
        mm_store(g, mm_graph_input(g, MM_DTYPE_F32, 3, NE(D, n, H), kn), mm_view(g, kb, 3, NE(D, n, H), nb, pos * nb[1]));
        mm_store(g, mm_graph_input(g, MM_DTYPE_F32, 3, NE(D, n, H), vn), mm_view(g, vb, 3, NE(D, n, H), nb, pos * nb[1]));
        mm_tensor *out = mm_attention(g, mm_graph_input(g, MM_DTYPE_F32, 3, NE(D, n, H), qn),
                                      mm_view(g, kb, 3, NE(D, pos + n, H), nb, 0),
                                      mm_view(g, vb, 3, NE(D, pos + n, H), nb, 0), NULL, scale, true);
        mm_graph_output(g, out);
        if (mm_graph_status(g) != MM_OK)
            fail_msg("%s: build: %s", label, mm_error_message());
        compute_or_fail(g_dut, g, label);

        /* the reference: the same attention over every key so far, as inputs */
        mm_graph *r = new_graph();
        mm_tensor *rk = mm_view(r, mm_graph_input(r, MM_DTYPE_F32, 3, NE(D, T, H), k_all), 3, NE(D, pos + n, H), nb, 0);
        mm_tensor *rv = mm_view(r, mm_graph_input(r, MM_DTYPE_F32, 3, NE(D, T, H), v_all), 3, NE(D, pos + n, H), nb, 0);
        mm_tensor *want = mm_attention(r, mm_graph_input(r, MM_DTYPE_F32, 3, NE(D, n, H), qn), rk, rv, NULL, scale, true);
        mm_graph_output(r, want);
        compute_or_fail(g_ref, r, label);
        bool ok = test_allclose(label, mm_tensor_data(out), mm_tensor_data(want), (size_t)mm_tensor_nelements(out),
                                2e-5, 1e-4);
        mm_graph_free(g);
        mm_graph_free(r);
        if (!ok)
            fail_msg("%s: %s differs from the reference", label, mm_backend_name(g_dut));
        pos += n;
    }
    /* the caches hold exactly what was stored, zeros beyond */
    float *got = keep((size_t)(D * T * H) * 4);
    assert_int_equal(mm_buffer_read(kc, got, mm_buffer_nbytes(kc)), MM_OK);
    assert_memory_equal(got, k_all, (size_t)(D * T * H) * 4);
    assert_int_equal(mm_buffer_read(vc, got, mm_buffer_nbytes(vc)), MM_OK);
    assert_memory_equal(got, v_all, (size_t)(D * T * H) * 4);
    mm_buffer_free(kc);
    mm_buffer_free(vc);
}

static void test_store_kv_cache(void **state)
{
    (void)state;
    static const int64_t prompt_then_steps[] = {5, 1, 1, 1, 3, 1, 1, 1, 1};
    store_kv_case(&(kv_steps){24, 3, 37, 9, prompt_then_steps});
    static const int64_t decoder[] = {4, 1, 1, 1, 1, 1};
    store_kv_case(&(kv_steps){64, 6, 448, 6, decoder}); /* Whisper-tiny's decoder: 6 heads of 64, 448 positions */
}

/* Strided destinations, store-only graphs, host writes, I32, and misuse. */
static void test_store_layouts(void **state)
{
    (void)state;
    /* a transposed source into a strided window: buffer {6, 5, 2}, window
     * {3, 4, 2} at (1, 1, 0), whose rows are 6 floats apart */
    mm_buffer *buf = NULL;
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F32, 3, NE(6, 5, 2), &buf), MM_OK);
    float init[60], want[60];
    for (int i = 0; i < 60; i++)
        want[i] = init[i] = (float)(100 + i);
    assert_int_equal(mm_buffer_write(buf, init, sizeof init), MM_OK);
    float src[4 * 3 * 2]; /* {4, 3, 2}: transposed to {3, 4, 2} */
    for (int i = 0; i < 24; i++)
        src[i] = (float)-i;
    for (int z = 0; z < 2; z++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 3; x++)
                want[z * 30 + (1 + y) * 6 + 1 + x] = src[z * 12 + x * 4 + y];
    mm_graph *g = new_graph();
    mm_tensor *b = mm_graph_buffer(g, buf);
    mm_tensor *win = mm_view(g, b, 3, NE(3, 4, 2), (const size_t[]){4, 24, 120}, 7 * 4);
    mm_store(g, mm_transpose(g, in_f32(g, 3, NE(4, 3, 2), src)), win);
    assert_int_equal(mm_graph_status(g), MM_OK);
    compute_or_fail(g_dut, g, "store-only graph"); /* no outputs: the store alone must run */
    mm_graph_free(g);
    float got[60];
    assert_int_equal(mm_buffer_read(buf, got, sizeof got), MM_OK);
    assert_memory_equal(got, want, sizeof want);

    /* reading it back in a later graph, through a store's result */
    g = new_graph();
    b = mm_graph_buffer(g, buf);
    mm_tensor *row = mm_store(g, in_f32(g, 1, NE(6), (const float[]){1, 2, 3, 4, 5, 6}),
                              mm_view(g, b, 1, NE(6), (const size_t[]){4}, 4 * 6 * 4));
    mm_tensor *sum = mm_add(g, row, mm_view(g, b, 1, NE(6), (const size_t[]){4}, 0));
    mm_graph_output(g, sum);
    compute_or_fail(g_dut, g, "store then read");
    const float *s = mm_tensor_data(sum);
    for (int i = 0; i < 6; i++)
        assert_float_equal(s[i], (float)(i + 1) + want[i], 0);
    mm_graph_free(g);

    /* a buffer serves one backend only */
    mm_backend *other = g_dut == g_ref ? NULL : g_ref;
    if (other) {
        g = new_graph();
        mm_graph_output(g, mm_scale(g, mm_graph_buffer(g, buf), 2.0f));
        assert_int_equal(mm_backend_compute(other, g), MM_ERR_INVALID);
        assert_non_null(strstr(mm_error_message(), "buffer"));
        mm_graph_free(g);
    }
    mm_buffer_free(buf);

    /* I32: token ids appended to a history */
    mm_buffer *ids = NULL;
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_I32, 1, NE(8), &ids), MM_OK);
    g = new_graph();
    mm_tensor *logits = in_f32(g, 2, NE(4, 2), (const float[]){0, 3, 1, 2, -1, 0, 9, 8});
    mm_store(g, mm_reshape(g, mm_argmax(g, logits), 1, NE(2)),
             mm_view(g, mm_graph_buffer(g, ids), 1, NE(2), (const size_t[]){4}, 3 * 4));
    compute_or_fail(g_dut, g, "store argmax ids");
    mm_graph_free(g);
    int32_t hist[8];
    assert_int_equal(mm_buffer_read(ids, hist, sizeof hist), MM_OK);
    const int32_t hist_want[8] = {0, 0, 0, 1, 2, 0, 0, 0};
    assert_memory_equal(hist, hist_want, sizeof hist);
    assert_int_equal(mm_buffer_read(ids, hist, 4), MM_ERR_INVALID); /* wrong size */
    mm_buffer_free(ids);

    /* misuse is a build error, not a crash */
    g = new_graph();
    mm_tensor *plain = in_rand(g, 1, NE(4), -1, 1);
    assert_null(mm_store(g, in_rand(g, 1, NE(4), -1, 1), plain));
    assert_int_equal(mm_graph_status(g), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "not (a view of) a buffer"));
    mm_graph_free(g);
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F32, 2, NE(4, 0), &ids), MM_ERR_INVALID);
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F32, 4, NE(1 << 20, 1 << 20, 1 << 20, 4), &ids), MM_ERR_NOMEM);
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F16, 1, NE(4), &ids), MM_ERR_INVALID);
}

/* ---- set_rows ---------------------------------------------------------------------------------
 * Each case runs on the backend under test and on the reference, each with
 * its own buffer holding the same starting values, and both buffers must
 * end up equal to a plain sequential scatter computed here (exact: a copy). */

typedef struct set_rows_case {
    const char *what;
    int buf_nd;
    int64_t buf[4];      /* the buffer's shape                                      */
    int64_t dst[4];      /* the destination view {D, R, A, B}                       */
    int64_t dst_nb[4];   /* its strides in floats (0: the whole buffer, no view)     */
    int64_t dst_off;     /* its offset in floats                                    */
    int64_t N;           /* rows per batch                                          */
    int64_t ids_ne[2];   /* ids ne[1], ne[2]: A or 1, B or 1                         */
    const int32_t *ids;  /* {N, ids_ne[0], ids_ne[1]}                              */
    bool src_transposed; /* src given as a transposed {N, D, A, B} input            */
    int64_t src_row;     /* >= 0: src is rows [src_row, src_row + N) of the buffer  */
} set_rows_case;

static int64_t buf_numel(const set_rows_case *c)
{
    return numel(c->buf_nd, c->buf);
}

/* Element offset (in floats) of dst element (i0, row, a, b). */
static int64_t set_rows_dst_at(const set_rows_case *c, int64_t i0, int64_t row, int64_t a, int64_t b)
{
    int64_t nb[4] = {c->dst_nb[0], c->dst_nb[1], c->dst_nb[2], c->dst_nb[3]};
    if (!nb[0]) { /* whole buffer: contiguous */
        nb[0] = 1;
        for (int i = 1; i < 4; i++)
            nb[i] = nb[i - 1] * c->dst[i - 1];
    }
    return c->dst_off + i0 * nb[0] + row * nb[1] + a * nb[2] + b * nb[3];
}

static int32_t set_rows_id(const set_rows_case *c, int64_t n, int64_t a, int64_t b)
{
    int64_t ia = c->ids_ne[0] > 1 ? a : 0, ib = c->ids_ne[1] > 1 ? b : 0;
    return c->ids[(ib * c->ids_ne[0] + ia) * c->N + n];
}

/* Builds the case's graph on buffer buf; returns the set_rows result. */
static mm_tensor *set_rows_build(mm_graph *g, const set_rows_case *c, mm_buffer *buf, const float *src)
{
    const int64_t D = c->dst[0], A = c->dst[2], B = c->dst[3];
    mm_tensor *leaf = mm_graph_buffer(g, buf), *dst = leaf, *s;
    if (c->dst_nb[0])
        dst = mm_view(g, leaf, 4, c->dst,
                      (const size_t[]){4, (size_t)c->dst_nb[1] * 4, (size_t)c->dst_nb[2] * 4, (size_t)c->dst_nb[3] * 4},
                      (size_t)c->dst_off * 4);
    if (c->src_row >= 0) /* another region of the same buffer */
        s = mm_view(g, leaf, 2, NE(D, c->N), (const size_t[]){4, (size_t)D * 4}, (size_t)(c->src_row * D) * 4);
    else if (c->src_transposed)
        s = mm_transpose(g, in_f32(g, 4, NE(c->N, D, A, B), src));
    else
        s = in_f32(g, 4, NE(D, c->N, A, B), src);
    mm_tensor *ids = in_i32(g, 3, NE(c->N, c->ids_ne[0], c->ids_ne[1]), c->ids);
    return mm_set_rows(g, dst, s, ids);
}

static void set_rows_case_run(const set_rows_case *c)
{
    const int64_t D = c->dst[0], A = c->dst[2], B = c->dst[3], N = c->N, nbuf = buf_numel(c);
    float *init = rand_f32(nbuf, -1, 1), *want = keep((size_t)nbuf * 4), *got = keep((size_t)nbuf * 4);
    float *src = rand_f32(D * N * A * B, 2, 3); /* apart from init's values */
    memcpy(want, init, (size_t)nbuf * 4);
    for (int64_t b = 0; b < B; b++) /* the sequential loop: a later n overwrites an earlier one */
        for (int64_t a = 0; a < A; a++)
            for (int64_t n = 0; n < N; n++)
                for (int64_t i0 = 0; i0 < D; i0++) {
                    float v = c->src_row >= 0       ? init[(c->src_row + n) * D + i0]
                              : c->src_transposed ? src[((b * A + a) * D + i0) * N + n]
                                                  : src[((b * A + a) * N + n) * D + i0];
                    want[set_rows_dst_at(c, i0, set_rows_id(c, n, a, b), a, b)] = v;
                }
    mm_backend *bs[2] = {g_ref, g_dut};
    for (int i = 0; i < 2; i++) {
        char label[200];
        snprintf(label, sizeof label, "set_rows %s on %s", c->what, mm_backend_name(bs[i]));
        mm_buffer *buf = NULL;
        assert_int_equal(mm_buffer_init(bs[i], MM_DTYPE_F32, c->buf_nd, c->buf, &buf), MM_OK);
        assert_int_equal(mm_buffer_write(buf, init, (size_t)nbuf * 4), MM_OK);
        mm_graph *g = new_graph();
        mm_tensor *y = set_rows_build(g, c, buf, src);
        mm_graph_output(g, y); /* the region after the write, read back */
        if (mm_graph_status(g) != MM_OK)
            fail_msg("%s: build: %s", label, mm_error_message());
        compute_or_fail(bs[i], g, label);
        assert_int_equal(mm_buffer_read(buf, got, (size_t)nbuf * 4), MM_OK);
        int64_t bad = 0, first = -1;
        for (int64_t j = 0; j < nbuf; j++)
            if (memcmp(&got[j], &want[j], 4) && bad++ == 0)
                first = j;
        const float *out = mm_tensor_data(y);
        int64_t bad_out = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t a = 0; a < A; a++)
                for (int64_t r = 0; r < c->dst[1]; r++)
                    for (int64_t i0 = 0; i0 < D; i0++)
                        bad_out += out[((b * A + a) * c->dst[1] + r) * D + i0] != want[set_rows_dst_at(c, i0, r, a, b)];
        print_message("%s: %lld floats in the buffer, %lld differ; result view: %lld differ\n", label,
                      (long long)nbuf, (long long)bad, (long long)bad_out);
        if (bad)
            fail_msg("%s: buffer element %lld is %g, %g expected", label, (long long)first, got[first], want[first]);
        assert_int_equal(bad_out, 0);
        mm_graph_free(g);
        mm_buffer_free(buf);
    }
}

static void test_set_rows(void **state)
{
    (void)state;
    /* a decoding step: one row per sequence, at each sequence's position,
     * into a {D, T_max, H, batch} cache (ids broadcast over the heads) */
    set_rows_case_run(&(set_rows_case){"decode step into {64,1500,6,2}", 4, {64, 1500, 6, 2}, {64, 1500, 6, 2},
                                       {0}, 0, 1, {1, 2}, (const int32_t[]){17, 1499}, false, -1});
    /* a prompt: the same positions for every head and sequence */
    set_rows_case_run(&(set_rows_case){"prompt of 5 into {64,1500,6,2}", 4, {64, 1500, 6, 2}, {64, 1500, 6, 2},
                                       {0}, 0, 5, {1, 1}, (const int32_t[]){0, 1, 2, 3, 4}, false, -1});
    /* odd sizes, ids per batch, rows listed twice (the later n wins) */
    set_rows_case_run(&(set_rows_case){"{5,7,3} ids {4,3} with repeats", 3, {5, 7, 3, 1}, {5, 7, 3, 1}, {0}, 0, 4,
                                       {3, 1}, (const int32_t[]){6, 0, 6, 2, 1, 1, 1, 1, 3, 5, 0, 4}, false, -1});
    int32_t many[40 * 2 * 2]; /* 40 rows into 10 per batch: most rows repeat, some several times */
    for (int i = 0; i < 160; i++)
        many[i] = (int32_t)((i * 7 + i / 13) % 10);
    set_rows_case_run(&(set_rows_case){"{3,10,2,2} 40 ids per batch", 4, {3, 10, 2, 2}, {3, 10, 2, 2}, {0}, 0, 40,
                                       {2, 2}, many, false, -1});
    set_rows_case_run(&(set_rows_case){"D=1 {1,9,2,2} ids {3,1,2}", 4, {1, 9, 2, 2}, {1, 9, 2, 2}, {0}, 0, 3, {1, 2},
                                       (const int32_t[]){8, 0, 4, 4, 8, 0}, false, -1});
    /* one layer of a {D, T, H, layers} cache: a view at an offset; a
     * transposed (strided) source */
    set_rows_case_run(&(set_rows_case){"layer 2 of {8,10,3,4}, transposed source", 4, {8, 10, 3, 4}, {8, 10, 3, 1},
                                       {1, 8, 80, 240}, 2 * 240, 2, {3, 1}, (const int32_t[]){9, 0, 3, 3, 5, 7}, true,
                                       -1});
    /* rows narrower than the buffer's: {5, 6, 2} at column 3 of {12, 6, 2} */
    set_rows_case_run(&(set_rows_case){"window {5,6,2} of {12,6,2}", 3, {12, 6, 2, 1}, {5, 6, 2, 1}, {1, 12, 72, 144},
                                       3, 3, {1, 1}, (const int32_t[]){5, 1, 2}, false, -1});
    /* the source is another region of the same buffer */
    set_rows_case_run(&(set_rows_case){"rows 8..11 of {4,16} into rows 0..7", 2, {4, 16, 1, 1}, {4, 8, 1, 1},
                                       {1, 4, 32, 32}, 0, 4, {1, 1}, (const int32_t[]){7, 0, 3, 3}, false, 8});
}

/* The decoder-step pattern of mm/tensor.h: one graph, built once, computed
 * step after step with new positions, masks and rows as inputs; the
 * attention reads the cache through set_rows' result (keys) and through a
 * view of the buffer built after it (values). Each step is checked against
 * the reference attention over plain inputs holding every row so far, and
 * the caches at the end against those rows. */
static void set_rows_decoder_case(int64_t D, int64_t T, int64_t H, int64_t B, const int32_t *start, int n_steps)
{
    mm_buffer *kc = NULL, *vc = NULL;
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F32, 4, NE(D, T, H, B), &kc), MM_OK);
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F32, 4, NE(D, T, H, B), &vc), MM_OK);
    const int64_t nc = D * T * H * B, nr = D * H * B;
    float *k_all = keep((size_t)nc * 4), *v_all = keep((size_t)nc * 4);
    memset(k_all, 0, (size_t)nc * 4);
    memset(v_all, 0, (size_t)nc * 4);
    float *kn = keep((size_t)nr * 4), *vn = keep((size_t)nr * 4), *q = keep((size_t)nr * 4);
    float *mask = keep((size_t)(T * B) * 4);
    int32_t *pos = keep((size_t)B * 4);
    size_t nb[4] = {4, (size_t)D * 4, (size_t)(D * T) * 4, (size_t)(D * T * H) * 4};
    float scale = 1.0f / sqrtf((float)D);

    mm_graph *g = new_graph();
    mm_tensor *pos_in = mm_graph_input(g, MM_DTYPE_I32, 3, NE(1, 1, B), pos);
    mm_tensor *mask_in = mm_graph_input(g, MM_DTYPE_F32, 4, NE(T, 1, 1, B), mask);
    mm_tensor *keys = mm_set_rows(g, mm_graph_buffer(g, kc), mm_graph_input(g, MM_DTYPE_F32, 4, NE(D, 1, H, B), kn),
                                  pos_in);
    mm_tensor *vb = mm_graph_buffer(g, vc);
    mm_set_rows(g, vb, mm_graph_input(g, MM_DTYPE_F32, 4, NE(D, 1, H, B), vn), pos_in);
    mm_tensor *values = mm_view(g, vb, 4, NE(D, T, H, B), nb, 0);
    mm_tensor *out = mm_attention(g, mm_graph_input(g, MM_DTYPE_F32, 4, NE(D, 1, H, B), q), keys, values, mask_in,
                                  scale, false);
    mm_graph_output(g, out);
    if (mm_graph_status(g) != MM_OK)
        fail_msg("decoder step graph: %s", mm_error_message());

    for (int step = 0; step < n_steps; step++) {
        char label[160];
        snprintf(label, sizeof label, "set_rows decoder D=%lld T=%lld H=%lld B=%lld: step %d", (long long)D,
                 (long long)T, (long long)H, (long long)B, step);
        test_fill_random(kn, (size_t)nr, g_seed++, -1, 1);
        test_fill_random(vn, (size_t)nr, g_seed++, -1, 1);
        test_fill_random(q, (size_t)nr, g_seed++, -1, 1);
        for (int64_t b = 0; b < B; b++) {
            pos[b] = start[b] + step;
            for (int64_t t = 0; t < T; t++)
                mask[b * T + t] = t <= pos[b] ? 0.0f : -INFINITY;
            for (int64_t h = 0; h < H; h++) {
                memcpy(&k_all[((b * H + h) * T + pos[b]) * D], &kn[(b * H + h) * D], (size_t)D * 4);
                memcpy(&v_all[((b * H + h) * T + pos[b]) * D], &vn[(b * H + h) * D], (size_t)D * 4);
            }
        }
        compute_or_fail(g_dut, g, label); /* the same graph every step */

        mm_graph *r = new_graph();
        mm_tensor *want = mm_attention(r, in_f32(r, 4, NE(D, 1, H, B), q), in_f32(r, 4, NE(D, T, H, B), k_all),
                                       in_f32(r, 4, NE(D, T, H, B), v_all), in_f32(r, 4, NE(T, 1, 1, B), mask), scale,
                                       false);
        mm_graph_output(r, want);
        compute_or_fail(g_ref, r, label);
        bool ok = test_allclose(label, mm_tensor_data(out), mm_tensor_data(want), (size_t)mm_tensor_nelements(out),
                                2e-5, 1e-4);
        mm_graph_free(r);
        if (!ok)
            fail_msg("%s: %s differs from the reference", label, mm_backend_name(g_dut));
    }
    mm_graph_free(g);
    float *got = keep((size_t)nc * 4);
    assert_int_equal(mm_buffer_read(kc, got, (size_t)nc * 4), MM_OK);
    assert_memory_equal(got, k_all, (size_t)nc * 4);
    assert_int_equal(mm_buffer_read(vc, got, (size_t)nc * 4), MM_OK);
    assert_memory_equal(got, v_all, (size_t)nc * 4);
    mm_buffer_free(kc);
    mm_buffer_free(vc);
}

static void test_set_rows_decoder(void **state)
{
    (void)state;
    /* two sequences at different positions, Whisper-tiny's decoder heads
     * over a 1500-row cache */
    set_rows_decoder_case(64, 1500, 6, 2, (const int32_t[]){0, 700}, 4);
    /* odd sizes; the last sequence reaches the cache's last row */
    set_rows_decoder_case(24, 37, 3, 3, (const int32_t[]){0, 11, 29}, 8);
}

/* Out-of-range ids fail the compute on every backend, which keeps working:
 * the same graph with valid ids then writes exactly its rows. */
static void set_rows_invalid_on(mm_backend *be)
{
    mm_buffer *buf = NULL;
    assert_int_equal(mm_buffer_init(be, MM_DTYPE_F32, 2, NE(4, 10), &buf), MM_OK);
    float zero[40] = {0}, got[40], want[40] = {0};
    float *src = rand_f32(12, 1, 2);
    int32_t *ids = keep(3 * sizeof *ids);
    mm_graph *g = new_graph();
    mm_tensor *y = mm_set_rows(g, mm_graph_buffer(g, buf), in_f32(g, 2, NE(4, 3), src),
                               mm_graph_input(g, MM_DTYPE_I32, 1, NE(3), ids));
    mm_tensor *sum = mm_scale(g, y, 2.0f); /* read after the write */
    mm_graph_output(g, sum);
    assert_int_equal(mm_graph_status(g), MM_OK);
    const int32_t bad[] = {10, -1, INT32_MAX, INT32_MIN};
    for (int i = 0; i < 4; i++) {
        ids[0] = 1;
        ids[1] = bad[i];
        ids[2] = 2;
        mm_error_clear();
        mm_status s = mm_backend_compute(be, g);
        print_message("set_rows id %d on %s: %s (%s)\n", bad[i], mm_backend_name(be), mm_status_name(s),
                      mm_error_message());
        assert_int_equal(s, MM_ERR_INVALID);
        assert_non_null(strstr(mm_error_message(), "set_rows"));
    }
    assert_int_equal(mm_buffer_write(buf, zero, sizeof zero), MM_OK); /* contents after a failure: unspecified */
    ids[0] = 1;
    ids[1] = 9;
    ids[2] = 0;
    compute_or_fail(be, g, "set_rows after failed computes");
    for (int n = 0; n < 3; n++)
        memcpy(&want[ids[n] * 4], &src[n * 4], 4 * sizeof(float));
    assert_int_equal(mm_buffer_read(buf, got, sizeof got), MM_OK);
    assert_memory_equal(got, want, sizeof want);
    const float *s2 = mm_tensor_data(sum);
    for (int i = 0; i < 40; i++)
        assert_float_equal(s2[i], 2.0f * want[i], 0);
    mm_graph_free(g);
    mm_buffer_free(buf);
}

/* Misuse is a build error with a message, never a crash. */
static void expect_set_rows_refused(mm_graph *g, mm_tensor *t, const char *msg)
{
    assert_null(t);
    assert_int_equal(mm_graph_status(g), MM_ERR_INVALID);
    if (!strstr(mm_error_message(), msg))
        fail_msg("set_rows refused with \"%s\", expected \"%s\"", mm_error_message(), msg);
    print_message("refused: %s\n", mm_error_message());
    mm_graph_free(g);
}

static void test_set_rows_invalid(void **state)
{
    (void)state;
    set_rows_invalid_on(g_ref);
    set_rows_invalid_on(g_dut);

    mm_buffer *buf = NULL, *ibuf = NULL;
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_F32, 3, NE(4, 10, 3), &buf), MM_OK);
    assert_int_equal(mm_buffer_init(g_dut, MM_DTYPE_I32, 3, NE(4, 10, 3), &ibuf), MM_OK);
    const int32_t ids2[] = {0, 1};
    mm_graph *g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, in_rand(g, 3, NE(4, 10, 3), -1, 1), in_rand(g, 3, NE(4, 2, 3), -1, 1),
                                           in_i32(g, 1, NE(2), ids2)),
                            "not (a view of) a buffer");
    g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, mm_graph_buffer(g, ibuf), in_rand(g, 3, NE(4, 2, 3), -1, 1),
                                           in_i32(g, 1, NE(2), ids2)),
                            "destination has dtype I32");
    g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, mm_graph_buffer(g, buf), in_i32(g, 1, NE(2), ids2),
                                           in_i32(g, 1, NE(2), ids2)),
                            "source has dtype I32");
    g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, mm_graph_buffer(g, buf), in_rand(g, 3, NE(4, 2, 3), -1, 1),
                                           in_rand(g, 1, NE(2), 0, 1)),
                            "ids has dtype F32");
    g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, mm_graph_buffer(g, buf), in_rand(g, 3, NE(5, 2, 3), -1, 1),
                                           in_i32(g, 1, NE(2), ids2)),
                            "does not fit destination");
    g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, mm_graph_buffer(g, buf), in_rand(g, 3, NE(4, 2, 2), -1, 1),
                                           in_i32(g, 1, NE(2), ids2)),
                            "does not fit destination");
    g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, mm_graph_buffer(g, buf), in_rand(g, 3, NE(4, 3, 3), -1, 1),
                                           in_i32(g, 1, NE(2), ids2)),
                            "ids {2,1,1,1} do not fit");
    g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, mm_graph_buffer(g, buf), in_rand(g, 3, NE(4, 1, 3), -1, 1),
                                           in_i32(g, 2, NE(1, 2), ids2)),
                            "ids {1,2,1,1} do not fit");
    g = new_graph(); /* rows along ne[1] must each be contiguous */
    expect_set_rows_refused(g, mm_set_rows(g, mm_transpose(g, mm_graph_buffer(g, buf)),
                                           in_rand(g, 3, NE(10, 2, 3), -1, 1), in_i32(g, 1, NE(2), ids2)),
                            "rows are not contiguous");
    g = new_graph(); /* every batch on the same memory */
    expect_set_rows_refused(g, mm_set_rows(g, mm_view(g, mm_graph_buffer(g, buf), 3, NE(4, 10, 3),
                                                      (const size_t[]){4, 16, 0}, 0),
                                           in_rand(g, 3, NE(4, 2, 3), -1, 1), in_i32(g, 1, NE(2), ids2)),
                            "overlaps itself");
    g = new_graph(); /* the source inside the destination, through the same leaf or another leaf of the buffer */
    mm_tensor *leaf = mm_graph_buffer(g, buf);
    expect_set_rows_refused(g, mm_set_rows(g, leaf, mm_view(g, leaf, 3, NE(4, 2, 3), (const size_t[]){4, 16, 160}, 32),
                                           in_i32(g, 1, NE(2), ids2)),
                            "overlaps the destination");
    g = new_graph();
    leaf = mm_view(g, mm_graph_buffer(g, buf), 3, NE(4, 5, 3), (const size_t[]){4, 16, 160}, 0);
    expect_set_rows_refused(g, mm_set_rows(g, leaf, mm_view(g, mm_graph_buffer(g, buf), 3, NE(4, 2, 3),
                                                            (const size_t[]){4, 16, 160}, 4 * 16),
                                           in_i32(g, 1, NE(2), ids2)),
                            "overlaps the destination");
    g = new_graph();
    expect_set_rows_refused(g, mm_set_rows(g, NULL, in_rand(g, 3, NE(4, 2, 3), -1, 1), in_i32(g, 1, NE(2), ids2)),
                            "destination is NULL");
    mm_buffer_free(buf);
    mm_buffer_free(ibuf);
}

/* ---- device limits (Vulkan) ------------------------------------------------------------------- */

static int g_max_submissions, g_log_validation;

/* Reads the backend's per-graph debug line ("..., N submissions, ...");
 * validation messages still fail the test. */
static void submissions_log(mm_log_level level, const char *msg, void *user)
{
    (void)user;
    const char *at = strstr(msg, " submissions");
    if (at) {
        while (at > msg && at[-1] >= '0' && at[-1] <= '9')
            at--;
        int n = atoi(at);
        if (n > g_max_submissions)
            g_max_submissions = n;
    }
    if (level >= MM_LOG_WARN && strncmp(msg, "vulkan validation:", 18) == 0) {
        fprintf(stderr, "mmrun: %s\n", msg);
        g_log_validation++;
    }
}

/* Runs test_graph's block on a backend with params p; returns how many
 * submissions its compute took. */
static int block_on(const mm_backend_params *p, const char *label)
{
    mm_backend *be;
    if (mm_backend_init(p, &be) != MM_OK)
        fail_msg("%s: %s", label, mm_error_message());
    mm_backend *dut = g_dut;
    g_dut = be;
    g_max_submissions = g_log_validation = 0;
    mm_log_set_level(MM_LOG_DEBUG);
    mm_log_set(submissions_log, NULL);
    mm_tensor *x, *outs[5];
    check_n(block_graph(64, 19, 4, &x, outs, MM_DTYPE_F16), outs, 5, label, 1e-4, 1e-4);
    test_watch_validation();
    mm_log_set_level(MM_LOG_INFO);
    g_dut = dut;
    mm_backend_free(be);
    assert_int_equal(g_log_validation, 0);
    return g_max_submissions;
}

static void expect_init_refused(const mm_backend_params *p, const char *what, const char *msg)
{
    mm_backend *be = NULL;
    if (mm_backend_init(p, &be) == MM_OK) {
        mm_backend_free(be);
        fail_msg("%s: the backend started", what);
    }
    if (!strstr(mm_error_message(), msg))
        fail_msg("%s: the error \"%s\" does not say \"%s\"", what, mm_error_message(), msg);
    print_message("%s: %s\n", what, mm_error_message());
}

static void test_limits(void **state)
{
    (void)state;
    if (g_params.kind != MM_BACKEND_VULKAN)
        skip();
    /* bounded submissions: a budget of 1 FLOP puts every op in a submission
     * of its own, and the results stay the reference's */
    mm_backend_params p = g_params;
    p.vk_limits.submit_flops = 1;
    int n = block_on(&p, "graph block, one op per submission");
    if (n < 8)
        fail_msg("a graph of a dozen ops took %d submissions with a 1-FLOP budget", n);
    p.vk_limits.submit_flops = (uint64_t)1 << 40;
    if ((n = block_on(&p, "graph block, one submission")) != 1)
        fail_msg("the graph took %d submissions with a large budget", n);

    /* a device allowing 4 storage buffers per stage cannot run the GPU
     * attention kernel (q, k, v, mask, result): refused at init, naming it */
    p = g_params;
    p.vk_kernels = MM_VK_KERNELS_GPU;
    p.vk_limits.storage_buffers = 4;
    expect_init_refused(&p, "4 storage buffers", "maxPerStageDescriptorStorageBuffers");
    p.vk_limits.storage_buffers = 5;
    block_on(&p, "graph block, 5 storage buffers per stage");

    /* an allocation limit below what the graph needs: a clear error */
    p = g_params;
    p.vk_limits.alloc_bytes = 64 << 10;
    mm_backend *be;
    assert_int_equal(mm_backend_init(&p, &be), MM_OK);
    mm_graph *g = new_graph();
    mm_tensor *y = mm_scale(g, in_rand(g, 2, NE(1024, 64), -1, 1), 2.0f);
    mm_graph_output(g, y);
    assert_int_not_equal(mm_backend_compute(be, g), MM_OK);
    if (!strstr(mm_error_message(), "maxMemoryAllocationSize"))
        fail_msg("allocation limit: \"%s\"", mm_error_message());
    print_message("allocation limit: %s\n", mm_error_message());
    mm_graph_free(g);
    mm_backend_free(be);

    /* a forced limit that is not a number fails the init with its name */
    const char *old = getenv("MM_VK_LIMIT_SHARED_BYTES");
    char *saved = old ? strdup(old) : NULL;
    setenv("MM_VK_LIMIT_SHARED_BYTES", "16Q", 1);
    expect_init_refused(&g_params, "MM_VK_LIMIT_SHARED_BYTES=16Q", "MM_VK_LIMIT_SHARED_BYTES=16Q");
    if (saved)
        setenv("MM_VK_LIMIT_SHARED_BYTES", saved, 1);
    else
        unsetenv("MM_VK_LIMIT_SHARED_BYTES");
    free(saved);
}

/* ---- main -------------------------------------------------------------------------------------------- */

typedef struct group {
    const char *name;
    struct CMUnitTest tests[3];
    size_t n;
} group;

static const group groups[] = {
    {"analytic", {cmocka_unit_test(test_analytic)}, 1},
    {"cont", {cmocka_unit_test(test_cont)}, 1},
    {"matmul",
     {cmocka_unit_test(test_matmul_shapes), cmocka_unit_test(test_matmul_batched), cmocka_unit_test(test_matmul_few_rows)},
     3},
    {"matmul_views", {cmocka_unit_test(test_matmul_views), cmocka_unit_test(test_matmul_half_weights)}, 2},
    {"add", {cmocka_unit_test(test_add)}, 1},
    {"mul", {cmocka_unit_test(test_mul)}, 1},
    {"scale", {cmocka_unit_test(test_scale)}, 1},
    {"layer_norm", {cmocka_unit_test(test_layer_norm)}, 1},
    {"gelu", {cmocka_unit_test(test_gelu)}, 1},
    {"softmax", {cmocka_unit_test(test_softmax)}, 1},
    {"attention", {cmocka_unit_test(test_attention)}, 1},
    {"masks", {cmocka_unit_test(test_mask_padding), cmocka_unit_test(test_mask_finite_full)}, 2},
    {"limits", {cmocka_unit_test(test_limits)}, 1},
    {"conv1d", {cmocka_unit_test(test_conv1d)}, 1},
    {"patch_embed", {cmocka_unit_test(test_patch_embed)}, 1},
    {"get_rows", {cmocka_unit_test(test_get_rows), cmocka_unit_test(test_get_rows_invalid)}, 2},
    {"concat", {cmocka_unit_test(test_concat)}, 1},
    {"argmax", {cmocka_unit_test(test_argmax)}, 1},
    {"top_k", {cmocka_unit_test(test_top_k)}, 1},
    {"graph", {cmocka_unit_test(test_graph)}, 1},
    {"store", {cmocka_unit_test(test_store_kv_cache), cmocka_unit_test(test_store_layouts)}, 2},
    {"set_rows",
     {cmocka_unit_test(test_set_rows), cmocka_unit_test(test_set_rows_decoder), cmocka_unit_test(test_set_rows_invalid)},
     3},
};

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s <cpu|vulkan> [group]\ngroups:", argv0);
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        fprintf(stderr, " %s", groups[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        return usage(argv[0]);
    mm_backend_params p = mm_backend_default_params();
    if (strcmp(argv[1], "cpu") == 0) {
        p.kind = MM_BACKEND_CPU;
        /* default 3, more than the cores: uneven splits, oversubscription */
        const char *nt = getenv("MM_TEST_THREADS");
        p.n_threads = nt && *nt ? atoi(nt) : 3;
    } else if (strcmp(argv[1], "vulkan") == 0) {
        p.kind = MM_BACKEND_VULKAN;
    } else {
        return usage(argv[0]);
    }
    const group *only = NULL;
    if (argc == 3) {
        for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
            if (strcmp(groups[i].name, argv[2]) == 0)
                only = &groups[i];
        if (!only)
            return usage(argv[0]);
    }
    test_watch_validation();
    g_params = p;
    if (mm_backend_init(&p, &g_dut) != MM_OK) {
        const char *req = getenv("MM_REQUIRE_VULKAN");
        bool required = p.kind != MM_BACKEND_VULKAN || (req && strcmp(req, "1") == 0);
        printf("%s: backend %s unavailable: %s\n", required ? "FAIL" : "SKIP", argv[1], mm_error_message());
        return required ? 1 : SKIP_EXIT;
    }
    if (mm_backend_cpu_reference_init(&g_ref) != MM_OK) {
        printf("FAIL: reference backend: %s\n", mm_error_message());
        return 1;
    }
    printf("backend under test: %s; reference: %s\n", mm_backend_name(g_dut), mm_backend_name(g_ref));
    int failed = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (!only || only == &groups[i])
            failed += _cmocka_run_group_tests(groups[i].name, groups[i].tests, groups[i].n, NULL, NULL);
    mm_backend_free(g_dut);
    mm_backend_free(g_ref);
    keep_free_all();
    return test_validation_verdict(failed ? 1 : 0);
}
