/* Encoder fixture parity: the Whisper and ViT encoders, run through the
 * runtime (plugin discovery, model routing, a backend), must reproduce the
 * hidden states Hugging Face computed from the same stored input tensor.
 *
 *     test_encoders <whisper|vit> <cpu|vulkan>
 *
 * Exit 77 (skip) when the Vulkan backend cannot be created, unless
 * MM_REQUIRE_VULKAN=1. */
#include "fixture_copy.h"
#include "test_model_copy.h"
#include "test_runtime.h"
#include "test_util.h"

#include "mm/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct encoder_case {
    const char *name;       /* argv[1]                                            */
    const char *fixture;    /* folder under fixtures/                             */
    const char *input;      /* stored encoder input in expected.safetensors       */
    const char *model_type; /* config.json model_type of the folder               */
    const char *plugin;     /* plugin expected to serve the encoder               */
    /* Config keys of the encoder (unique in config.json) and what breaking
     * them must be reported as. */
    const char *heads_key, *width_key, *layers_key, *ff_key;
    const char *first_width_weight; /* first weight whose shape follows the width */
    const char *layer2_weight;      /* a weight of layer index 2 (absent)         */
    const char *ff_weight;          /* layer 0's weight whose shape follows ff_key */
} encoder_case;

static const encoder_case cases[] = {
    {"whisper", "whisper-tiny-random", "input_features", "whisper", "audio", "encoder_attention_heads", "d_model",
     "encoder_layers", "encoder_ffn_dim", "model.encoder.conv1.weight", "model.encoder.layers.2.",
     "model.encoder.layers.0.fc1.weight"},
    {"vit", "vit-gpt2-tiny-random", "pixel_values", "vision-encoder-decoder", "vit", "num_attention_heads",
     "hidden_size", "num_hidden_layers", "intermediate_size", "encoder.embeddings.patch_embeddings.projection.weight",
     "encoder.encoder.layer.2.", "encoder.encoder.layer.0.intermediate.dense.weight"},
};

static const encoder_case *g_case;
/* One runtime (one backend) for every test of the run. */
static mm_runtime *g_rt;

static mm_model *fixture_model(void)
{
    char rel[256], dir[1024];
    snprintf(rel, sizeof rel, "fixtures/%s/model.safetensors", g_case->fixture);
    char probe[1024];
    TEST_REQUIRE_SHARED(probe, rel);
    snprintf(dir, sizeof dir, "%s/fixtures/%s", test_shared_dir(), g_case->fixture);
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        fail_msg("mm_model_load %s: %s", dir, mm_error_message());
    assert_string_equal(mm_model_type(m), g_case->model_type);
    return m;
}

/* Runs the encoder on a batch whose item j is stored item src[j] and
 * compares with the stored states of the same items, within the fixture's
 * recommended tolerance (1e-4 abs + 1e-4 rel). */
static void run_and_compare(mm_encoder *enc, const char *backend, const float *input, size_t in_item,
                            const float *want, int64_t n_state, int64_t n_ctx, const int32_t *src, int32_t batch)
{
    size_t out_item = (size_t)(n_state * n_ctx);
    float *in_b = malloc((size_t)batch * in_item * sizeof *in_b);
    float *want_b = malloc((size_t)batch * out_item * sizeof *want_b);
    assert_non_null(in_b);
    assert_non_null(want_b);
    for (int32_t j = 0; j < batch; j++) {
        memcpy(in_b + j * in_item, input + src[j] * in_item, in_item * sizeof *in_b);
        memcpy(want_b + j * out_item, want + src[j] * out_item, out_item * sizeof *want_b);
    }
    float *got = NULL;
    mm_shape out_shape;
    if (mm_encoder_run(enc, in_b, batch, &got, &out_shape) != MM_OK)
        fail_msg("mm_encoder_run (%s, batch %d): %s", backend, batch, mm_error_message());
    assert_int_equal(out_shape.ne[0], n_state);
    assert_int_equal(out_shape.ne[1], n_ctx);
    assert_int_equal(out_shape.ne[2], batch);
    assert_int_equal(out_shape.ne[3], 1);

    char what[256];
    snprintf(what, sizeof what, "%s encoder_last_hidden_state, batch %d (items %d..), on %s", g_case->fixture, batch,
             src[0], backend);
    bool ok = test_allclose(what, got, want_b, (size_t)batch * out_item, 1e-4, 1e-4);
    free(got);
    free(want_b);
    free(in_b);
    assert_true(ok);
}

/* Stored input -> encoder -> encoder_last_hidden_state. Then the same
 * encoder again with another batch size (whisper: the item twice; vit: the
 * second image alone), which rebuilds the graph and exercises the batched
 * (or unbatched) path of every op. */
static void test_last_hidden_state(void **state)
{
    (void)state;
    mm_model *m = fixture_model();
    const char *backend = mm_backend_name(mm_runtime_backend(g_rt));
    mm_encoder *enc = NULL;
    if (mm_encoder_init(g_rt, m, &enc) != MM_OK)
        fail_msg("mm_encoder_init: %s", mm_error_message());
    assert_string_equal(mm_encoder_plugin(enc)->name, g_case->plugin);

    int64_t in_shape[4], want_shape[4];
    int32_t in_dims, want_dims;
    float *input = test_load_expected(g_case->fixture, g_case->input, in_shape, &in_dims);
    float *want = test_load_expected(g_case->fixture, "encoder_last_hidden_state", want_shape, &want_dims);
    int32_t batch = (int32_t)in_shape[0];
    assert_int_equal(want_dims, 3);
    assert_int_equal(want_shape[0], batch);

    /* The stored tensor's memory is already in ne order: its shape reversed. */
    mm_shape expect_in;
    if (mm_encoder_input_shape(enc, batch, &expect_in) != MM_OK)
        fail_msg("input_shape: %s", mm_error_message());
    assert_int_equal(expect_in.n_dims, in_dims);
    size_t in_item = 1;
    for (int i = 0; i < in_dims; i++) {
        assert_int_equal(expect_in.ne[i], in_shape[in_dims - 1 - i]);
        in_item *= i > 0 ? (size_t)in_shape[i] : 1;
    }

    int32_t src[4] = {0, 1, 2, 3};
    run_and_compare(enc, backend, input, in_item, want, want_shape[2], want_shape[1], src, batch);
    int32_t other = batch == 1 ? 2 : 1;
    for (int32_t j = 0; j < other; j++)
        src[j] = (batch - 1 + j) % batch;
    run_and_compare(enc, backend, input, in_item, want, want_shape[2], want_shape[1], src, other);

    free(want);
    free(input);
    mm_encoder_free(enc);
    mm_model_free(m);
}

/* The fixture as a checkpoint saved in F16 (widen = false), or with those
 * same F16-rounded values stored as F32 (widen = true). */
static char *half_copy(const mm_model *m, bool widen)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fixtures/%s", test_shared_dir(), g_case->fixture);
    return test_model_copy(m, dir, widen ? MM_DTYPE_F32 : MM_DTYPE_F16, true, NULL);
}

/* The encoder of `dir` on the stored input; a malloc'd {D, T, B} result. */
static float *encode_dir(const char *dir, const float *input, int32_t batch, size_t *n_out)
{
    mm_model *m = NULL;
    mm_encoder *enc = NULL;
    if (mm_model_load(dir, &m) != MM_OK || mm_encoder_init(g_rt, m, &enc) != MM_OK)
        fail_msg("%s: %s", dir, mm_error_message());
    float *out = NULL;
    mm_shape shape;
    if (mm_encoder_run(enc, input, batch, &out, &shape) != MM_OK)
        fail_msg("%s: mm_encoder_run: %s", dir, mm_error_message());
    *n_out = (size_t)(shape.ne[0] * shape.ne[1] * shape.ne[2]);
    mm_encoder_free(enc);
    mm_model_free(m);
    return out;
}

/* An F16 checkpoint: the backend reads the weights as F16 where it can (in
 * place on the CPU, 16-bit matmul kernels on GPUs) and must give what the
 * same values stored as F32 give, to summation order; and stay near the
 * F32 model's states (F16 rounding of the weights is the only change). */
static void test_f16_checkpoint(void **state)
{
    (void)state;
    mm_model *m = fixture_model();
    int64_t in_shape[4], want_shape[4];
    int32_t in_dims, want_dims;
    float *input = test_load_expected(g_case->fixture, g_case->input, in_shape, &in_dims);
    float *want = test_load_expected(g_case->fixture, "encoder_last_hidden_state", want_shape, &want_dims);
    int32_t batch = (int32_t)in_shape[0];
    char *half_dir = half_copy(m, false), *wide_dir = half_copy(m, true);
    size_t n_half, n_wide;
    float *got_half = encode_dir(half_dir, input, batch, &n_half);
    float *got_wide = encode_dir(wide_dir, input, batch, &n_wide);
    assert_int_equal(n_half, n_wide);
    char what[256];
    snprintf(what, sizeof what, "%s F16 checkpoint vs its values as F32, on %s", g_case->fixture,
             mm_backend_name(mm_runtime_backend(g_rt)));
    bool same = test_allclose(what, got_half, got_wide, n_half, 1e-4, 1e-4);
    snprintf(what, sizeof what, "%s F16 checkpoint vs the F32 model's states (loose: F16 weights)", g_case->fixture);
    bool near = test_allclose(what, got_half, want, n_half, 2e-2, 2e-2);
    free(got_half);
    free(got_wide);
    test_model_copy_remove(half_dir);
    test_model_copy_remove(wide_dir);
    free(want);
    free(input);
    mm_model_free(m);
    assert_true(same);
    assert_true(near);
}

/* mm_encoder_init on a folder whose config has key = value must fail with a
 * message containing `expect`. */
static void expect_init_error(const char *key, const char *value, const char *expect)
{
    char probe[1024], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/model.safetensors", g_case->fixture);
    TEST_REQUIRE_SHARED(probe, rel);
    char *dir = fixture_config_copy(g_case->fixture, key, value);
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        fail_msg("mm_model_load %s: %s", dir, mm_error_message());
    mm_encoder *enc = NULL;
    mm_status s = mm_encoder_init(g_rt, m, &enc);
    print_message("%s = %s -> %s: %s\n", key, value, mm_status_name(s), mm_error_message());
    assert_int_not_equal(s, MM_OK);
    assert_null(enc);
    if (!strstr(mm_error_message(), expect))
        fail_msg("error \"%s\" does not mention \"%s\"", mm_error_message(), expect);
    mm_model_free(m);
    test_model_copy_remove(dir);
}

/* Heads that do not divide the width are a config error, not garbage. */
static void test_bad_head_count(void **state)
{
    (void)state;
    expect_init_error(g_case->heads_key, "3", "divisible");
}

/* A width that disagrees with the weights names the first weight that does not fit. */
static void test_wrong_width(void **state)
{
    (void)state;
    expect_init_error(g_case->width_key, "32", g_case->first_width_weight);
}

/* More layers than the checkpoint has: the missing weight is named. */
static void test_missing_layer(void **state)
{
    (void)state;
    expect_init_error(g_case->layers_key, "3", g_case->layer2_weight);
}

/* The FFN width is only stated by the config: it must agree with the weights. */
static void test_wrong_ffn_width(void **state)
{
    (void)state;
    expect_init_error(g_case->ff_key, "512", g_case->ff_weight);
}

/* A negative size is refused before anything is sized from it. */
static void test_negative_size(void **state)
{
    (void)state;
    expect_init_error(g_case->ff_key, "-4", "must be");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <whisper|vit> <cpu|vulkan>\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0)
            g_case = &cases[i];
    if (!g_case || (strcmp(argv[2], "cpu") && strcmp(argv[2], "vulkan"))) {
        fprintf(stderr, "usage: %s <whisper|vit> <cpu|vulkan>\n", argv[0]);
        return 2;
    }
    test_watch_validation();
    int rc = test_runtime_init(argv[2], &g_rt);
    if (rc)
        return rc;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_hidden_state),
        cmocka_unit_test(test_f16_checkpoint),
        cmocka_unit_test(test_bad_head_count),
        cmocka_unit_test(test_wrong_width),
        cmocka_unit_test(test_missing_layer),
        cmocka_unit_test(test_wrong_ffn_width),
        cmocka_unit_test(test_negative_size),
    };
    char group[64];
    snprintf(group, sizeof group, "encoder-%s-%s", argv[1], argv[2]);
    rc = _cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0], NULL, NULL);
    mm_runtime_free(g_rt);
    return test_validation_verdict(rc);
}
