/* The pre-LN block builder (mm_nn_block_build) in the two ways a decoder
 * uses it, each against the same block computed whole:
 *
 * - cross-attention from keys/values computed once into persistent buffers
 *   (mm_nn_attention_kv + mm_store, as a decoder's build_cross_kv does)
 *   equals cross-attention projecting the encoder states in the graph;
 * - one step for the last token, attending a cache (the kv_update hook: the
 *   earlier tokens' keys, this token's, and stale slots hidden by the
 *   additive {T_max,1,1,B} mask, as a decoder step does) equals the last
 *   row of the causal block over the whole sequence.
 *
 *     test_nn_block <cpu|vulkan> */
#include "test_util.h"

#include "mm/nn.h"
#include "mm/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 16, H = 2, HD = D / H, DE = 12, FF = 32, T = 5, TS = 7, B = 2, TMAX = 8 };

static mm_runtime *g_rt;

/* Every weight of the block, random, alive for the whole run (backends
 * keep constants resident by address). */
typedef struct block_weights {
    float ln1_w[D], ln1_b[D], lnx_w[D], lnx_b[D], ln2_w[D], ln2_b[D];
    float q_w[D * D], q_b[D], k_w[D * D], v_w[D * D], v_b[D], o_w[D * D], o_b[D];
    float xq_w[D * D], xq_b[D], xk_w[DE * D], xv_w[DE * D], xv_b[D], xo_w[D * D], xo_b[D];
    float fc1_w[D * FF], fc1_b[FF], fc2_w[FF * D], fc2_b[D];
} block_weights;
static block_weights g_w;
static float g_x[D * T * B], g_enc[DE * TS * B], g_stale[HD * (TMAX - T) * H * B];

static mm_tensor *cst(mm_graph *g, const float *data, int64_t ne0, int64_t ne1)
{
    return mm_graph_constant(g, MM_DTYPE_F32, ne1 > 1 ? 2 : 1, (int64_t[]){ne0, ne1}, data);
}

static mm_nn_block block_of(mm_graph *g, bool causal)
{
    const block_weights *w = &g_w;
    float scale = 1.0f / sqrtf((float)HD);
    return (mm_nn_block){
        .eps = 1e-5f,
        .ln1 = {cst(g, w->ln1_w, D, 1), cst(g, w->ln1_b, D, 1)},
        .attn = {.q_w = cst(g, w->q_w, D, D), .q_b = cst(g, w->q_b, D, 1), .k_w = cst(g, w->k_w, D, D),
                 .v_w = cst(g, w->v_w, D, D), .v_b = cst(g, w->v_b, D, 1), .o_w = cst(g, w->o_w, D, D),
                 .o_b = cst(g, w->o_b, D, 1), .n_head = H, .scale = scale, .causal = causal},
        .ln_cross = {cst(g, w->lnx_w, D, 1), cst(g, w->lnx_b, D, 1)},
        .cross = {.q_w = cst(g, w->xq_w, D, D), .q_b = cst(g, w->xq_b, D, 1), .k_w = cst(g, w->xk_w, DE, D),
                  .v_w = cst(g, w->xv_w, DE, D), .v_b = cst(g, w->xv_b, D, 1), .o_w = cst(g, w->xo_w, D, D),
                  .o_b = cst(g, w->xo_b, D, 1), .n_head = H, .scale = scale},
        .ln2 = {cst(g, w->ln2_w, D, 1), cst(g, w->ln2_b, D, 1)},
        .fc1_w = cst(g, w->fc1_w, D, FF),
        .fc1_b = cst(g, w->fc1_b, FF, 1),
        .fc2_w = cst(g, w->fc2_w, FF, D),
        .fc2_b = cst(g, w->fc2_b, D, 1),
        .act = MM_GELU_ERF,
    };
}

static void compute(mm_graph *g, mm_tensor *out, float *dst, size_t n)
{
    if (mm_graph_status(g) != MM_OK)
        fail_msg("build: %s", mm_error_message());
    if (out)
        mm_graph_output(g, out);
    if (mm_backend_compute(mm_runtime_backend(g_rt), g) != MM_OK)
        fail_msg("compute: %s", mm_error_message());
    if (out && mm_tensor_read(out, dst, n * sizeof *dst) != MM_OK)
        fail_msg("read: %s", mm_error_message());
}

/* The block over the whole sequence: causal self-attention, cross-attention
 * projecting the encoder states. {D, T, B}. */
static void block_whole(float *y)
{
    mm_graph *g = mm_graph_init();
    mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){D, T, B}, g_x);
    mm_tensor *enc = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){DE, TS, B}, g_enc);
    mm_nn_block blk = block_of(g, true);
    compute(g, mm_nn_block_build(g, x, enc, &blk), y, D * T * B);
    mm_graph_free(g);
}

/* Cross K/V once into buffers, then the block reading them. */
static void test_cross_kv_from_buffers(void **state)
{
    (void)state;
    static float want[D * T * B], got[D * T * B];
    block_whole(want);

    mm_backend *be = mm_runtime_backend(g_rt);
    mm_buffer *kb = NULL, *vb = NULL;
    const int64_t ne[4] = {HD, TS, H, B};
    assert_int_equal(mm_buffer_init(be, MM_DTYPE_F32, 4, ne, &kb), MM_OK);
    assert_int_equal(mm_buffer_init(be, MM_DTYPE_F32, 4, ne, &vb), MM_OK);

    mm_graph *g = mm_graph_init();
    mm_nn_block blk = block_of(g, true);
    mm_tensor *k = NULL, *v = NULL;
    mm_nn_attention_kv(g, mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){DE, TS, B}, g_enc), &blk.cross, &k, &v);
    mm_store(g, k, mm_graph_buffer(g, kb));
    mm_store(g, v, mm_graph_buffer(g, vb));
    compute(g, NULL, NULL, 0);
    mm_graph_free(g);

    g = mm_graph_init();
    blk = block_of(g, true);
    blk.cross.k = mm_graph_buffer(g, kb);
    blk.cross.v = mm_graph_buffer(g, vb);
    mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){D, T, B}, g_x);
    compute(g, mm_nn_block_build(g, x, NULL, &blk), got, D * T * B);
    mm_graph_free(g);
    mm_buffer_free(kb);
    mm_buffer_free(vb);
    assert_true(test_allclose("block, cross K/V from buffers vs projected in the graph", got, want, D * T * B, 1e-5,
                              1e-5));
}

/* The cache a step attends: earlier tokens' keys/values, this token's, then
 * TMAX - T stale slots that the mask must hide. */
typedef struct cache_ctx {
    mm_tensor *past_k, *past_v, *stale;
} cache_ctx;

static void cache_update(void *ctx, mm_graph *g, mm_tensor **k, mm_tensor **v)
{
    cache_ctx *c = ctx;
    *k = mm_concat(g, mm_concat(g, c->past_k, *k, 1), c->stale, 1);
    *v = mm_concat(g, mm_concat(g, c->past_v, *v, 1), c->stale, 1);
}

static void test_step_over_cache(void **state)
{
    (void)state;
    static float whole[D * T * B], want[D * B], got[D * B];
    block_whole(whole);
    for (int b = 0; b < B; b++)
        memcpy(want + b * D, whole + (b * T + T - 1) * D, D * sizeof *want);

    /* Keys past each sequence's position are -inf; the stale slots hold
     * large values that would show if they leaked. */
    static float mask[TMAX * B];
    for (int b = 0; b < B; b++)
        for (int j = 0; j < TMAX; j++)
            mask[b * TMAX + j] = j < T ? 0.0f : -INFINITY;
    static float x_prefix[D * (T - 1) * B], x_last[D * B];
    for (int b = 0; b < B; b++) {
        memcpy(x_prefix + b * (T - 1) * D, g_x + b * T * D, (T - 1) * D * sizeof(float));
        memcpy(x_last + b * D, g_x + (b * T + T - 1) * D, D * sizeof(float));
    }

    mm_graph *g = mm_graph_init();
    mm_nn_block blk = block_of(g, false);
    /* The earlier tokens' keys and values, as earlier steps would have
     * cached them: projections of ln1 of their inputs. */
    mm_tensor *xp = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){D, T - 1, B}, x_prefix);
    cache_ctx cache = {.stale = mm_graph_input(g, MM_DTYPE_F32, 4, (int64_t[]){HD, TMAX - T, H, B}, g_stale)};
    mm_nn_attention_kv(g, mm_layer_norm(g, xp, blk.ln1.w, blk.ln1.b, blk.eps), &blk.attn, &cache.past_k,
                       &cache.past_v);
    blk.attn.kv_update = cache_update;
    blk.attn.kv_ctx = &cache;
    blk.attn.mask = mm_graph_input(g, MM_DTYPE_F32, 4, (int64_t[]){TMAX, 1, 1, B}, mask);
    mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){D, 1, B}, x_last);
    mm_tensor *enc = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){DE, TS, B}, g_enc);
    compute(g, mm_nn_block_build(g, x, enc, &blk), got, D * B);
    mm_graph_free(g);
    assert_true(test_allclose("block, one step over a masked cache vs the causal block's last row", got, want, D * B,
                              1e-5, 1e-5));
}

/* A block whose FFN weight does not fit the width fails the graph naming it. */
static void test_wrong_weight_named(void **state)
{
    (void)state;
    mm_graph *g = mm_graph_init();
    mm_nn_block blk = block_of(g, true);
    blk.fc2_w = mm_graph_constant(g, MM_DTYPE_F32, 2, (int64_t[]){FF - 1, D}, g_w.fc2_w);
    mm_tensor_set_name(blk.fc2_w, "layers.0.fc2.weight");
    mm_tensor *x = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){D, T, B}, g_x);
    mm_tensor *enc = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){DE, TS, B}, g_enc);
    assert_null(mm_nn_block_build(g, x, enc, &blk));
    assert_int_equal(mm_graph_status(g), MM_ERR_FORMAT);
    if (!strstr(mm_error_message(), "layers.0.fc2.weight"))
        fail_msg("message '%s' does not name the weight", mm_error_message());
    mm_graph_free(g);

    /* Cross-attention with neither encoder states nor stored keys. */
    g = mm_graph_init();
    blk = block_of(g, true);
    x = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){D, T, B}, g_x);
    assert_null(mm_nn_block_build(g, x, NULL, &blk));
    assert_int_equal(mm_graph_status(g), MM_ERR_INVALID);
    if (!strstr(mm_error_message(), "no keys/values"))
        fail_msg("message '%s'", mm_error_message());
    mm_graph_free(g);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "cpu") && strcmp(argv[1], "vulkan"))) {
        fprintf(stderr, "usage: %s <cpu|vulkan>\n", argv[0]);
        return 2;
    }
    test_fill_random((float *)&g_w, sizeof g_w / sizeof(float), 1, -0.5f, 0.5f);
    test_fill_random(g_x, D * T * B, 2, -2.0f, 2.0f);
    test_fill_random(g_enc, DE * TS * B, 3, -2.0f, 2.0f);
    test_fill_random(g_stale, HD * (TMAX - T) * H * B, 4, 50.0f, 100.0f);
    test_watch_validation();
    mm_runtime_params p = mm_runtime_default_params();
    p.backend.kind = strcmp(argv[1], "cpu") == 0 ? MM_BACKEND_CPU : MM_BACKEND_VULKAN;
    if (mm_runtime_init(&p, &g_rt) != MM_OK) {
        const char *req = getenv("MM_REQUIRE_VULKAN");
        if (p.backend.kind == MM_BACKEND_VULKAN && !(req && strcmp(req, "1") == 0)) {
            printf("SKIP: no Vulkan backend: %s\n", mm_error_message());
            return 77;
        }
        fprintf(stderr, "FAIL: mm_runtime_init: %s\n", mm_error_message());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_kv_from_buffers),
        cmocka_unit_test(test_step_over_cache),
        cmocka_unit_test(test_wrong_weight_named),
    };
    char group[64];
    snprintf(group, sizeof group, "nn-block-%s", argv[1]);
    int rc = _cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0], NULL, NULL);
    mm_runtime_free(g_rt);
    return test_validation_verdict(rc);
}
