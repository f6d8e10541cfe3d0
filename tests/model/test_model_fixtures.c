/* Every tensor of the shared fixtures loads with the name, dtype, shape and
 * bytes that make_manifest.py (an independent Python parser) recorded, and
 * config.json values read back through mm_config_*. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc32_bytes(const void *data, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Element i of w as float (I32 as its integer value). */
static double element(const mm_weight *w, size_t i)
{
    const uint8_t *p = (const uint8_t *)w->data + i * mm_dtype_size(w->dtype);
    uint16_t h;
    float f;
    int32_t k;
    switch (w->dtype) {
    case MM_DTYPE_F32: memcpy(&f, p, 4); return f;
    case MM_DTYPE_F16: memcpy(&h, p, 2); return mm_f16_to_f32(h);
    case MM_DTYPE_BF16: memcpy(&h, p, 2); return mm_bf16_to_f32(h);
    case MM_DTYPE_I32: memcpy(&k, p, 4); return k;
    default: fail_msg("%s: unexpected dtype %d", w->name, w->dtype);
    }
    return 0;
}

/* Checks one "t ..." manifest line against the loaded tensor. */
static void check_tensor(const mm_model *m, char *line)
{
    char name[256], dtype[16], shape[128], samples[512] = "";
    int n_dims;
    size_t nbytes;
    unsigned crc;
    if (sscanf(line, "t %255s %15s %d %127s %zu %x %511[^\n]", name, dtype, &n_dims, shape, &nbytes, &crc, samples) < 6)
        fail_msg("bad manifest line: %s", line);
    const mm_weight *w = mm_model_weight_find(m, name);
    if (!w)
        fail_msg("tensor %s missing", name);
    assert_string_equal(w->name, name);
    assert_string_equal(mm_dtype_name(w->dtype), dtype);
    assert_int_equal(w->n_dims, n_dims);
    char *s = shape;
    for (int i = 0; i < n_dims; i++) {
        assert_int_equal(w->shape[i], strtoll(s, &s, 10));
        s += *s == ',';
    }
    assert_int_equal(w->nbytes, nbytes);
    if (crc32_bytes(w->data, w->nbytes) != crc)
        fail_msg("%s: crc32 %08x, manifest says %08x", name, crc32_bytes(w->data, w->nbytes), crc);
    for (char *tok = strtok(samples, " "); tok; tok = strtok(NULL, " ")) {
        size_t idx = strtoull(tok, &tok, 10);
        assert_true(*tok == ':');
        double want = w->dtype == MM_DTYPE_I32 ? strtod(tok + 1, NULL) : strtof(tok + 1, NULL);
        double got = element(w, idx);
        if (!(got == want || (isnan(got) && isnan(want))))
            fail_msg("%s[%zu] = %.9g, manifest says %.9g", name, idx, got, want);
    }
}

/* state: "<fixture>/<file>" as in the manifest's "file" lines. */
static void test_fixture_file(void **state)
{
    const char *rel = *state;
    char fixture[256], path[1024], relpath[512];
    snprintf(relpath, sizeof relpath, "fixtures/%s", rel);
    TEST_REQUIRE_SHARED(path, relpath);
    snprintf(fixture, sizeof fixture, "%.*s", (int)(strchr(rel, '/') - rel), rel);

    mm_model *m = NULL;
    mm_status st;
    if (strstr(rel, "/model.safetensors")) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fixtures/%s", test_shared_dir(), fixture);
        st = mm_model_load(dir, &m);
    } else {
        st = mm_safetensors_open(path, &m);
    }
    if (st != MM_OK)
        fail_msg("%s: %s", rel, mm_error_message());

    FILE *f = fopen(MM_TEST_MANIFEST, "r");
    if (!f)
        fail_msg("cannot open %s", MM_TEST_MANIFEST);
    char line[2048], head[600];
    snprintf(head, sizeof head, "file %s ", rel);
    bool in = false, found = false;
    int want_count = -1, n_checked = 0, n_skipped = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "file ", 5) == 0) {
            in = strncmp(line, head, strlen(head)) == 0;
            if (in) {
                found = true;
                want_count = atoi(line + strlen(head));
            }
        } else if (in && line[0] == 't') {
            check_tensor(m, line);
            n_checked++;
        } else if (in && strncmp(line, "skip ", 5) == 0) {
            char name[256];
            assert_int_equal(sscanf(line, "skip %255s", name), 1);
            assert_null(mm_model_weight_find(m, name));
            n_skipped++;
        }
    }
    fclose(f);
    if (!found)
        fail_msg("%s has no section for %s: regenerate it with make_manifest.py", MM_TEST_MANIFEST, rel);
    assert_int_equal(n_checked, want_count);
    /* Same count and every manifest name found: the map is exactly the file. */
    assert_int_equal(mm_model_weight_count(m), want_count);
    for (int32_t i = 1; i < mm_model_weight_count(m); i++)
        assert_true(strcmp(mm_model_weight_at(m, i - 1)->name, mm_model_weight_at(m, i)->name) < 0);
    print_message("%s: %d tensors match the manifest (%d skipped)\n", rel, n_checked, n_skipped);
    mm_model_free(m);
}

static mm_model *load_fixture(const char *fixture)
{
    char rel[256], path[1024], dir[1024];
    snprintf(rel, sizeof rel, "fixtures/%s/config.json", fixture);
    if (!test_shared_path(path, sizeof path, rel))
        return NULL;
    snprintf(dir, sizeof dir, "%s/fixtures/%s", test_shared_dir(), fixture);
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        fail_msg("%s: %s", dir, mm_error_message());
    assert_string_equal(mm_model_dir(m), dir);
    return m;
}

#define REQUIRE_FIXTURE(m, fixture)                                                                                  \
    char req_[1024];                                                                                                 \
    TEST_REQUIRE_SHARED(req_, "fixtures/" fixture "/config.json");                                                   \
    mm_model *m = load_fixture(fixture)

/* An expected config value: a string when `s` is set, else the integer. */
typedef struct cfg_value {
    const char *path;
    const char *s;
    int64_t i;
} cfg_value;

static void expect_values(const mm_model *m, const cfg_value *e)
{
    for (; e->path; e++) {
        const char *s = NULL;
        int64_t i = -12345;
        mm_status st = e->s ? mm_config_string(m, e->path, &s) : mm_config_int(m, e->path, &i);
        if (st != MM_OK)
            fail_msg("%s: %s", e->path, mm_error_message());
        if (e->s)
            assert_string_equal(s, e->s);
        else if (i != e->i)
            fail_msg("%s = %lld, want %lld", e->path, (long long)i, (long long)e->i);
    }
}

static const cfg_value whisper_values[] = {
    {"model_type", "whisper", 0},
    {"architectures.0", "WhisperForConditionalGeneration", 0},
    {"d_model", NULL, 64},
    {"num_mel_bins", NULL, 80},
    {"vocab_size", NULL, 51865},
    {"begin_suppress_tokens.0", NULL, 220},
    {"begin_suppress_tokens.1", NULL, 50257},
    {"dropout", NULL, 0}, /* 0.0 in the file: integral floats are ints */
    {NULL, NULL, 0},
};

static const cfg_value vit_gpt2_values[] = {
    {"model_type", "vision-encoder-decoder", 0},
    {"encoder.model_type", "vit", 0},
    {"decoder.model_type", "gpt2", 0},
    {"decoder.activation_function", "gelu_new", 0},
    {"decoder.id2label.1", "LABEL_1", 0}, /* object keys that look like indices */
    {"decoder.n_embd", NULL, 64},
    {"decoder.n_head", NULL, 4},
    {"encoder.image_size", NULL, 224},
    {"encoder.hidden_size", NULL, 64},
    {"decoder_start_token_id", NULL, 50256},
    {NULL, NULL, 0},
};

static const cfg_value clip_values[] = {
    {"model_type", "clip", 0},
    {"projection_dim", NULL, 32},
    {"vision_config.hidden_size", NULL, 64},
    {"text_config.num_attention_heads", NULL, 4},
    {"text_config.eos_token_id", NULL, 2},
    {NULL, NULL, 0},
};

static void test_config_whisper(void **state)
{
    REQUIRE_FIXTURE(m, "whisper-tiny-random");
    assert_string_equal(mm_model_type(m), "whisper");
    expect_values(m, whisper_values);
    assert_int_equal(mm_config_array_len(m, "begin_suppress_tokens"), 2);
    assert_int_equal(mm_config_array_len(m, "d_model"), 0);
    assert_false(mm_config_has(m, "begin_suppress_tokens.2"));
    assert_false(mm_config_has(m, "suppress_tokens"));
    double d = 0;
    assert_int_equal(mm_config_float(m, "init_std", &d), MM_OK);
    assert_true(d == 0.02);
    assert_int_equal(mm_config_float(m, "d_model", &d), MM_OK);
    assert_true(d == 64.0);
    bool b = true;
    assert_int_equal(mm_config_bool(m, "scale_embedding", &b), MM_OK);
    assert_false(b);
    assert_int_equal(mm_config_bool(m, "is_encoder_decoder", &b), MM_OK);
    assert_true(b);

    int64_t v = 0;
    assert_int_equal(mm_config_int(m, "activation_function", &v), MM_ERR_FORMAT);
    assert_non_null(strstr(mm_error_message(), "activation_function"));
    assert_non_null(strstr(mm_error_message(), "config.json"));
    assert_int_equal(mm_config_int(m, "init_std", &v), MM_ERR_FORMAT); /* 0.02 */
    assert_non_null(strstr(mm_error_message(), "init_std"));
    assert_int_equal(mm_config_int(m, "no_such_key", &v), MM_ERR_FORMAT);
    assert_non_null(strstr(mm_error_message(), "no_such_key"));
    assert_int_equal(mm_config_int_or(m, "no_such_key", 7, &v), MM_OK);
    assert_int_equal(v, 7);
    assert_int_equal(mm_config_int_or(m, "encoder_layers", 7, &v), MM_OK);
    assert_int_equal(v, 2);
    assert_int_equal(mm_config_int_or(m, "activation_function", 7, &v), MM_ERR_FORMAT);
    mm_model_free(m);
}

static void test_config_vit_gpt2(void **state)
{
    REQUIRE_FIXTURE(m, "vit-gpt2-tiny-random");
    assert_string_equal(mm_model_type(m), "vision-encoder-decoder");
    expect_values(m, vit_gpt2_values);
    double eps = 0;
    assert_int_equal(mm_config_float(m, "decoder.layer_norm_epsilon", &eps), MM_OK);
    assert_true(eps == 1e-05);
    /* null means "default": absent for every accessor */
    assert_false(mm_config_has(m, "decoder.n_inner"));
    int64_t v = 0;
    assert_int_equal(mm_config_int_or(m, "decoder.n_inner", 256, &v), MM_OK);
    assert_int_equal(v, 256);
    assert_false(mm_config_has(m, "encoder.model_type.x"));
    assert_false(mm_config_has(m, "decoder..n_embd"));
    mm_model_free(m);
}

static void test_config_clip(void **state)
{
    REQUIRE_FIXTURE(m, "clip-tiny-random");
    assert_string_equal(mm_model_type(m), "clip");
    expect_values(m, clip_values);
    double s = 0;
    assert_int_equal(mm_config_float(m, "logit_scale_init_value", &s), MM_OK);
    assert_true(s == 2.6592);
    /* CLIP's config stores differences from CLIPVisionConfig: patch_size is
     * absent and callers fall back to the known default (32). */
    assert_false(mm_config_has(m, "vision_config.patch_size"));
    int64_t patch = 0;
    assert_int_equal(mm_config_int_or(m, "vision_config.patch_size", 32, &patch), MM_OK);
    assert_int_equal(patch, 32);
    double f = 0;
    assert_int_equal(mm_config_float_or(m, "vision_config.layer_norm_eps", 1e-5, &f), MM_OK);
    assert_true(f == 1e-5);
    assert_int_equal(mm_config_float_or(m, "vision_config.model_type", 1e-5, &f), MM_ERR_FORMAT);
    assert_non_null(strstr(mm_error_message(), "vision_config.model_type"));
    mm_model_free(m);
}

#define FILE_TEST(rel) {rel, test_fixture_file, NULL, NULL, (void *)(rel)}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FILE_TEST("whisper-tiny-random/model.safetensors"),
        FILE_TEST("vit-gpt2-tiny-random/model.safetensors"),
        FILE_TEST("clip-tiny-random/model.safetensors"),
        FILE_TEST("whisper-tiny-random/expected.safetensors"),
        FILE_TEST("vit-gpt2-tiny-random/expected.safetensors"),
        FILE_TEST("clip-tiny-random/expected.safetensors"),
        cmocka_unit_test(test_config_whisper),
        cmocka_unit_test(test_config_vit_gpt2),
        cmocka_unit_test(test_config_clip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
