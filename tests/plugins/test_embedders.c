/* Embedder fixture parity: the CLIP embedder, run through the runtime
 * (plugin discovery, routing, a backend, the weight set), must reproduce
 * what Hugging Face computed from the STORED pixel values and token ids of
 * clip-tiny-random, within the tolerances of its expected.json.
 *
 *     test_embedders <cpu|vulkan>
 *
 * Exit 77 (skip) when the Vulkan backend cannot be created, unless
 * MM_REQUIRE_VULKAN=1. */
#include "test_model_copy.h"
#include "test_runtime.h"
#include "test_util.h"

#include "mm/generate.h"
#include "mm/runtime.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE "clip-tiny-random"
#define MAX_TEXTS 8
#define MAX_TOKENS 80

static mm_runtime *g_rt;

/* The fixture's texts as CLIPProcessor padded them (expected.json). */
typedef struct fixture_texts {
    int32_t n, n_tokens;
    int32_t ids[MAX_TEXTS * MAX_TOKENS];
    int32_t len[MAX_TEXTS]; /* sum of attention_mask: the padding is on the right */
} fixture_texts;

static const char *fixture_dir(void)
{
    static char dir[1024];
    char probe[1024];
    TEST_REQUIRE_SHARED(probe, "fixtures/" FIXTURE "/model.safetensors");
    snprintf(dir, sizeof dir, "%s/fixtures/" FIXTURE, test_shared_dir());
    return dir;
}

static void load_texts(fixture_texts *t)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/expected.json", fixture_dir());
    json_object *root = json_object_from_file(path), *ids, *mask;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "input_ids", &ids));
    assert_true(json_object_object_get_ex(root, "attention_mask", &mask));
    t->n = (int32_t)json_object_array_length(ids);
    assert_true(t->n > 1 && t->n <= MAX_TEXTS);
    t->n_tokens = (int32_t)json_object_array_length(json_object_array_get_idx(ids, 0));
    assert_true(t->n_tokens > 1 && t->n_tokens <= MAX_TOKENS);
    bool padded = false;
    for (int32_t b = 0; b < t->n; b++) {
        json_object *row = json_object_array_get_idx(ids, (size_t)b), *mrow = json_object_array_get_idx(mask, (size_t)b);
        assert_int_equal(json_object_array_length(row), t->n_tokens);
        t->len[b] = 0;
        for (int32_t i = 0; i < t->n_tokens; i++) {
            t->ids[b * t->n_tokens + i] = json_object_get_int(json_object_array_get_idx(row, (size_t)i));
            int on = json_object_get_int(json_object_array_get_idx(mrow, (size_t)i));
            /* right padding: the mask is ones, then zeros */
            assert_true(on == 0 || t->len[b] == i);
            t->len[b] += on != 0;
        }
        padded = padded || t->len[b] < t->n_tokens;
    }
    assert_true(padded); /* the fixture exercises the padding mask */
    json_object_put(root);
}

static mm_model *load_model(const char *dir)
{
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        fail_msg("mm_model_load %s: %s", dir, mm_error_message());
    return m;
}

static mm_embedder *embedder_of(const mm_model *m)
{
    mm_embedder *e = NULL;
    if (mm_embedder_init(g_rt, m, &e) != MM_OK)
        fail_msg("mm_embedder_init: %s", mm_error_message());
    return e;
}

static float *expected(const char *name, int64_t d0, int64_t d1)
{
    int64_t shape[4];
    int32_t nd;
    float *x = test_load_expected(FIXTURE, name, shape, &nd);
    assert_int_equal(nd, 2);
    assert_int_equal(shape[0], d0);
    assert_int_equal(shape[1], d1);
    return x;
}

static bool close_to(const char *name, const float *got, const float *want, size_t n, double atol, double rtol)
{
    char what[256];
    snprintf(what, sizeof what, FIXTURE " %s on %s", name, mm_backend_name(mm_runtime_backend(g_rt)));
    return test_allclose(what, got, want, n, atol, rtol);
}

/* Stored pixel values and ids -> image and text embeddings (as projected
 * and normalised), logits_per_image and the softmax probabilities. */
static void test_fixture_parity(void **state)
{
    (void)state;
    mm_model *m = load_model(fixture_dir());
    mm_embedder *e = embedder_of(m);
    assert_string_equal(mm_embedder_plugin(e)->name, "clip");
    /* text_config has no max_position_embeddings nor vocab_size: the
     * CLIPTextConfig defaults; projection_dim 32 and logit_scale ln(100). */
    int32_t n_embd = mm_embedder_n_embd(e);
    assert_int_equal(n_embd, 32);
    assert_int_equal(mm_embedder_n_ctx(e), 77);
    assert_int_equal(mm_embedder_n_vocab(e), 49408);
    assert_true(fabsf(mm_embedder_logit_scale(e) - 100.0f) < 1e-3f);

    int64_t shape[4];
    int32_t nd;
    float *pixels = test_load_expected(FIXTURE, "pixel_values", shape, &nd);
    int32_t n_img = (int32_t)shape[0];
    mm_shape want_shape;
    assert_int_equal(mm_embedder_image_shape(e, n_img, &want_shape), MM_OK);
    assert_int_equal(want_shape.n_dims, nd);
    for (int i = 0; i < nd; i++)
        assert_int_equal(want_shape.ne[i], shape[nd - 1 - i]);
    fixture_texts tx;
    load_texts(&tx);

    float *img = malloc((size_t)n_img * (size_t)n_embd * sizeof *img);
    float *txt = malloc((size_t)tx.n * (size_t)n_embd * sizeof *txt);
    float *logits = malloc((size_t)n_img * (size_t)tx.n * sizeof *logits);
    float *probs = malloc((size_t)n_img * (size_t)tx.n * sizeof *probs);
    if (mm_embedder_image(e, pixels, n_img, img) != MM_OK)
        fail_msg("mm_embedder_image: %s", mm_error_message());
    if (mm_embedder_text(e, tx.ids, tx.n_tokens, tx.n, tx.len, txt) != MM_OK)
        fail_msg("mm_embedder_text: %s", mm_error_message());
    if (mm_embedder_logits(e, img, n_img, txt, tx.n, logits) != MM_OK)
        fail_msg("mm_embedder_logits: %s", mm_error_message());
    for (int32_t i = 0; i < n_img; i++) {
        float *row = probs + (size_t)i * (size_t)tx.n;
        mm_log_softmax(logits + (size_t)i * (size_t)tx.n, tx.n, row);
        for (int32_t t = 0; t < tx.n; t++)
            row[t] = expf(row[t]);
    }

    float *w_img = expected("image_embeds_unnormalized", n_img, n_embd);
    float *w_txt = expected("text_embeds_unnormalized", tx.n, n_embd);
    float *w_img_n = expected("image_embeds", n_img, n_embd);
    float *w_txt_n = expected("text_embeds", tx.n, n_embd);
    float *w_logits = expected("logits_per_image", n_img, tx.n);
    float *w_probs = expected("probs", n_img, tx.n);
    size_t ni = (size_t)n_img * (size_t)n_embd, nt = (size_t)tx.n * (size_t)n_embd, nl = (size_t)n_img * (size_t)tx.n;
    bool ok = close_to("image_embeds_unnormalized", img, w_img, ni, 1e-4, 1e-4);
    ok &= close_to("text_embeds_unnormalized", txt, w_txt, nt, 1e-4, 1e-4);
    ok &= close_to("logits_per_image", logits, w_logits, nl, 5e-4, 1e-4);
    ok &= close_to("probs", probs, w_probs, nl, 5e-5, 1e-4);
    mm_embedder_normalize(img, n_img, n_embd);
    mm_embedder_normalize(txt, tx.n, n_embd);
    ok &= close_to("image_embeds", img, w_img_n, ni, 1e-4, 1e-4);
    ok &= close_to("text_embeds", txt, w_txt_n, nt, 1e-4, 1e-4);
    /* Normalised embeddings give the same logits. */
    float *again = malloc(nl * sizeof *again);
    assert_int_equal(mm_embedder_logits(e, img, n_img, txt, tx.n, again), MM_OK);
    ok &= close_to("logits_per_image from normalised embeddings", again, w_logits, nl, 5e-4, 1e-4);

    free(again);
    free(w_img), free(w_txt), free(w_img_n), free(w_txt_n), free(w_logits), free(w_probs);
    free(img), free(txt), free(logits), free(probs), free(pixels);
    mm_embedder_free(e);
    mm_model_free(m);
    assert_true(ok);
}

/* A batch gives each item what it gives alone: images one at a time and
 * in another order; texts alone and unpadded (their own length), and the
 * padded batch reversed (the pooled rows move with the batch index). */
static void test_batch_matches_single(void **state)
{
    (void)state;
    mm_model *m = load_model(fixture_dir());
    mm_embedder *e = embedder_of(m);
    int32_t n_embd = mm_embedder_n_embd(e);
    int64_t shape[4];
    int32_t nd;
    float *pixels = test_load_expected(FIXTURE, "pixel_values", shape, &nd);
    int32_t n_img = (int32_t)shape[0];
    size_t px = (size_t)(shape[1] * shape[2] * shape[3]);
    fixture_texts tx;
    load_texts(&tx);

    float *batch = malloc((size_t)MAX_TEXTS * (size_t)n_embd * sizeof *batch);
    float *one = malloc((size_t)MAX_TEXTS * (size_t)n_embd * sizeof *one);
    float *rev_px = malloc((size_t)n_img * px * sizeof *rev_px);
    bool ok = true;

    assert_int_equal(mm_embedder_image(e, pixels, n_img, batch), MM_OK);
    for (int32_t i = 0; i < n_img; i++)
        assert_int_equal(mm_embedder_image(e, pixels + (size_t)i * px, 1, one + (size_t)i * (size_t)n_embd), MM_OK);
    ok &= close_to("images one at a time vs batched", one, batch, (size_t)n_img * (size_t)n_embd, 1e-5, 1e-5);
    for (int32_t i = 0; i < n_img; i++)
        memcpy(rev_px + (size_t)i * px, pixels + (size_t)(n_img - 1 - i) * px, px * sizeof *rev_px);
    assert_int_equal(mm_embedder_image(e, rev_px, n_img, one), MM_OK);
    for (int32_t i = 0; i < n_img; i++)
        ok &= close_to("images reversed vs batched", one + (size_t)i * (size_t)n_embd,
                       batch + (size_t)(n_img - 1 - i) * (size_t)n_embd, (size_t)n_embd, 1e-5, 1e-5);

    /* 7 images: the class row reaches every item (7 = 4 + 2 + 1 copies). */
    float *seven_px = malloc(7 * px * sizeof *seven_px), *seven = malloc(7 * (size_t)n_embd * sizeof *seven);
    for (int32_t i = 0; i < 7; i++)
        memcpy(seven_px + (size_t)i * px, pixels + (size_t)(i % n_img) * px, px * sizeof *seven_px);
    assert_int_equal(mm_embedder_image(e, seven_px, 7, seven), MM_OK);
    for (int32_t i = 0; i < 7; i++)
        ok &= close_to("image i of a batch of 7 vs batched", seven + (size_t)i * (size_t)n_embd,
                       batch + (size_t)(i % n_img) * (size_t)n_embd, (size_t)n_embd, 1e-5, 1e-5);
    free(seven_px), free(seven);

    assert_int_equal(mm_embedder_text(e, tx.ids, tx.n_tokens, tx.n, tx.len, batch), MM_OK);
    for (int32_t b = 0; b < tx.n; b++)
        assert_int_equal(mm_embedder_text(e, tx.ids + b * tx.n_tokens, tx.len[b], 1, NULL, one + b * n_embd), MM_OK);
    ok &= close_to("texts alone and unpadded vs padded batch", one, batch, (size_t)tx.n * (size_t)n_embd, 1e-5, 1e-5);
    fixture_texts rev = tx;
    for (int32_t b = 0; b < tx.n; b++) {
        memcpy(rev.ids + b * tx.n_tokens, tx.ids + (tx.n - 1 - b) * tx.n_tokens, (size_t)tx.n_tokens * sizeof *rev.ids);
        rev.len[b] = tx.len[tx.n - 1 - b];
    }
    assert_int_equal(mm_embedder_text(e, rev.ids, tx.n_tokens, tx.n, rev.len, one), MM_OK);
    for (int32_t b = 0; b < tx.n; b++)
        ok &= close_to("texts reversed vs batched", one + b * n_embd, batch + (tx.n - 1 - b) * n_embd, (size_t)n_embd,
                       1e-5, 1e-5);

    free(rev_px), free(one), free(batch), free(pixels);
    mm_embedder_free(e);
    mm_model_free(m);
    assert_true(ok);
}

/* Stage by stage through the plugin's own builders: the towers' last
 * hidden states, the text's at the padding positions too (which only the
 * padding mask makes equal to the reference's). */
static void test_hidden_states(void **state)
{
    (void)state;
    mm_model *m = load_model(fixture_dir());
    const mm_plugin *p = NULL;
    assert_int_equal(mm_runtime_find_plugin(g_rt, "clip", MM_ROLE_EMBEDDER, &p), MM_OK);
    const mm_embedder_ops *ops = p->embedder;
    mm_component c = {.model = m, .config_prefix = "", .weight_prefix = ""};
    void *st = NULL;
    if (ops->load(&c, &st) != MM_OK)
        fail_msg("load: %s", mm_error_message());

    int64_t shape[4];
    int32_t nd;
    float *pixels = test_load_expected(FIXTURE, "pixel_values", shape, &nd);
    int32_t n_img = (int32_t)shape[0];
    fixture_texts tx;
    load_texts(&tx);
    int32_t pos[MAX_TEXTS], pool[MAX_TEXTS];
    float mask[MAX_TEXTS * MAX_TOKENS];
    assert_int_equal(ops->text_pool(st, tx.ids, tx.n_tokens, tx.n, tx.len, pos), MM_OK);
    for (int32_t b = 0; b < tx.n; b++) {
        /* the first <|endoftext|>: legacy argmax pooling, as the reference */
        assert_int_equal(tx.ids[b * tx.n_tokens + pos[b]], 49407);
        assert_int_equal(pos[b], tx.len[b] - 1);
        pool[b] = b * tx.n_tokens + pos[b];
        for (int32_t i = 0; i < tx.n_tokens; i++)
            mask[b * tx.n_tokens + i] = i < tx.len[b] ? 0.0f : -INFINITY;
    }

    mm_shape in;
    assert_int_equal(ops->image_input_shape(st, n_img, &in), MM_OK);
    mm_graph *g = mm_graph_init();
    mm_tensor *px = mm_graph_input(g, MM_DTYPE_F32, in.n_dims, in.ne, pixels);
    mm_embedder_text_inputs ti = {
        .n_tokens = tx.n_tokens,
        .ids = mm_graph_input(g, MM_DTYPE_I32, 2, (int64_t[]){tx.n_tokens, tx.n}, tx.ids),
        .mask = mm_graph_input(g, MM_DTYPE_F32, 4, (int64_t[]){tx.n_tokens, 1, 1, tx.n}, mask),
        .pool = mm_graph_input(g, MM_DTYPE_I32, 1, (int64_t[]){tx.n}, pool),
    };
    mm_tensor *ie, *ih, *te, *th;
    if (ops->build_image(st, g, px, &ie, &ih) != MM_OK || ops->build_text(st, g, &ti, &te, &th) != MM_OK)
        fail_msg("build: %s", mm_error_message());
    mm_graph_output(g, ih);
    mm_graph_output(g, th);
    if (mm_backend_compute(mm_runtime_backend(g_rt), g) != MM_OK)
        fail_msg("compute: %s", mm_error_message());

    int64_t ws[4];
    float *w_ih = test_load_expected(FIXTURE, "vision_last_hidden_state", ws, &nd);
    size_t n_ih = (size_t)(ws[0] * ws[1] * ws[2]);
    assert_int_equal(mm_tensor_nelements(ih), n_ih);
    assert_int_equal(mm_tensor_ne(ih, 1), ws[1]);
    float *w_th = test_load_expected(FIXTURE, "text_last_hidden_state", ws, &nd);
    size_t n_th = (size_t)(ws[0] * ws[1] * ws[2]);
    assert_int_equal(mm_tensor_nelements(th), n_th);
    assert_int_equal(mm_tensor_ne(th, 1), tx.n_tokens);
    float *got_ih = malloc(n_ih * sizeof *got_ih), *got_th = malloc(n_th * sizeof *got_th);
    assert_int_equal(mm_tensor_read(ih, got_ih, n_ih * sizeof *got_ih), MM_OK);
    assert_int_equal(mm_tensor_read(th, got_th, n_th * sizeof *got_th), MM_OK);
    bool ok = close_to("vision_last_hidden_state", got_ih, w_ih, n_ih, 5e-4, 1e-4);
    ok &= close_to("text_last_hidden_state (padding positions included)", got_th, w_th, n_th, 1e-4, 1e-4);

    free(got_ih), free(got_th), free(w_ih), free(w_th), free(pixels);
    mm_graph_free(g);
    ops->free(st);
    mm_model_free(m);
    assert_true(ok);
}

/* An F16 checkpoint (logit_scale included) gives what its values stored as
 * F32 give, and stays near the F32 model. */
static void test_f16_checkpoint(void **state)
{
    (void)state;
    mm_model *m = load_model(fixture_dir());
    char *half = test_model_copy(m, fixture_dir(), MM_DTYPE_F16, true, NULL);
    char *wide = test_model_copy(m, fixture_dir(), MM_DTYPE_F32, true, NULL);
    fixture_texts tx;
    load_texts(&tx);
    int64_t shape[4];
    int32_t nd;
    float *pixels = test_load_expected(FIXTURE, "pixel_values", shape, &nd);
    int32_t n_img = (int32_t)shape[0];
    float logits[2][MAX_TEXTS * 4];
    const char *dirs[2] = {half, wide};
    for (int k = 0; k < 2; k++) {
        mm_model *mk = load_model(dirs[k]);
        mm_embedder *e = embedder_of(mk);
        int32_t n = mm_embedder_n_embd(e);
        float *img = malloc((size_t)n_img * (size_t)n * sizeof *img), *txt = malloc((size_t)tx.n * (size_t)n * sizeof *txt);
        assert_true(n_img * tx.n <= MAX_TEXTS * 4);
        if (mm_embedder_image(e, pixels, n_img, img) != MM_OK ||
            mm_embedder_text(e, tx.ids, tx.n_tokens, tx.n, tx.len, txt) != MM_OK ||
            mm_embedder_logits(e, img, n_img, txt, tx.n, logits[k]) != MM_OK)
            fail_msg("%s: %s", dirs[k], mm_error_message());
        free(img), free(txt);
        mm_embedder_free(e);
        mm_model_free(mk);
    }
    float *want = expected("logits_per_image", n_img, tx.n);
    size_t nl = (size_t)n_img * (size_t)tx.n;
    bool ok = close_to("F16 checkpoint logits vs its values as F32", logits[0], logits[1], nl, 5e-4, 1e-4);
    ok &= close_to("F16 checkpoint logits vs the F32 model's (loose: F16 weights)", logits[0], want, nl, 0.1, 2e-3);
    free(want), free(pixels);
    test_model_copy_remove(half);
    test_model_copy_remove(wide);
    mm_model_free(m);
    assert_true(ok);
}

/* ---- bad configs and inputs ------------------------------------------------------ */

/* A copy of the fixture whose config.json has `key` in `section` ("" for
 * the top level) set to the raw JSON `value` (added when absent). */
static char *edited_copy(const char *section, const char *key, const char *value)
{
    char src[1200], path[1300];
    snprintf(src, sizeof src, "%s/config.json", fixture_dir());
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    static char json[1 << 16];
    size_t n = fread(json, 1, sizeof json - 1, f);
    assert_true(feof(f));
    fclose(f);
    json[n] = '\0';
    char needle[128];
    char *start = json;
    if (section[0]) {
        snprintf(needle, sizeof needle, "\"%s\": {", section);
        start = strstr(json, needle);
        assert_non_null(start);
    }
    start = strchr(start, '{') + 1;
    /* the sections are flat: the first '}' closes this one (or a nested
     * section the top-level keys are not looked for in) */
    char *end = section[0] ? strchr(start, '}') : json + n;
    snprintf(needle, sizeof needle, "\"%s\": ", key);
    char *hit = strstr(start, needle);
    if (hit && !section[0])
        for (char *s = start; s < hit; s++)
            if (*s == '{')
                hit = NULL; /* inside a section: a top-level key is added */
    char *dir = strdup("/tmp/mm-test-embedder-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *o = fopen(path, "wb");
    assert_non_null(o);
    if (hit && hit < end) {
        char *val = hit + strlen(needle);
        fprintf(o, "%.*s%s%s", (int)(val - json), json, value, val + strcspn(val, ",\n}"));
    } else {
        fprintf(o, "%.*s\"%s\": %s, %s", (int)(start - json), json, key, value, start);
    }
    fclose(o);
    snprintf(src, sizeof src, "%s/model.safetensors", fixture_dir());
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(symlink(src, path), 0);
    return dir;
}

static void remove_copy(char *dir)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void expect_init_error(const char *section, const char *key, const char *value, const char *expect)
{
    char *dir = edited_copy(section, key, value);
    mm_model *m = load_model(dir);
    mm_embedder *e = NULL;
    mm_status s = mm_embedder_init(g_rt, m, &e);
    print_message("%s%s%s = %s -> %s: %s\n", section, section[0] ? "." : "", key, value, mm_status_name(s),
                  mm_error_message());
    assert_int_not_equal(s, MM_OK);
    assert_null(e);
    if (!strstr(mm_error_message(), expect))
        fail_msg("error \"%s\" does not mention \"%s\"", mm_error_message(), expect);
    mm_model_free(m);
    remove_copy(dir);
}

/* Each config key that shapes a weight, wrong, names that weight; config
 * errors name the key. */
static void test_bad_config(void **state)
{
    (void)state;
    expect_init_error("text_config", "hidden_size", "48", "text_model.embeddings.token_embedding.weight");
    expect_init_error("vision_config", "hidden_size", "48", "vision_model.embeddings.patch_embedding.weight");
    expect_init_error("vision_config", "intermediate_size", "512", "vision_model.encoder.layers.0.mlp.fc1.weight");
    expect_init_error("text_config", "intermediate_size", "128", "text_model.encoder.layers.0.mlp.fc1.weight");
    expect_init_error("vision_config", "num_hidden_layers", "3", "weight vision_model.encoder.layers.2.");
    expect_init_error("text_config", "num_hidden_layers", "3", "weight text_model.encoder.layers.2.");
    expect_init_error("", "projection_dim", "16", "visual_projection.weight");
    /* absent keys take the CLIP defaults: stated otherwise, they must fit */
    expect_init_error("vision_config", "patch_size", "16", "vision_model.embeddings.patch_embedding.weight");
    expect_init_error("vision_config", "image_size", "256", "vision_model.embeddings.position_embedding.weight");
    expect_init_error("text_config", "max_position_embeddings", "64", "text_model.embeddings.position_embedding.weight");
    expect_init_error("text_config", "vocab_size", "1000", "text_model.embeddings.token_embedding.weight");
    expect_init_error("text_config", "num_attention_heads", "3", "text_config.hidden_size 64 is not divisible");
    expect_init_error("vision_config", "hidden_act", "\"relu\"", "vision_config.hidden_act");
    expect_init_error("text_config", "eos_token_id", "60000", "text_config.eos_token_id");
    expect_init_error("text_config", "layer_norm_eps", "0", "text_config.layer_norm_eps");
    expect_init_error("vision_config", "intermediate_size", "-4", "must be");
}

/* Inputs the model cannot take are refused with the reason, and the
 * embedder still works afterwards. */
static void test_bad_input(void **state)
{
    (void)state;
    mm_model *m = load_model(fixture_dir());
    mm_embedder *e = embedder_of(m);
    int32_t n_ctx = mm_embedder_n_ctx(e);
    int32_t *ids = calloc((size_t)n_ctx + 1, sizeof *ids);
    float out[2 * 64];
    assert_int_equal(mm_embedder_text(e, ids, n_ctx + 1, 1, NULL, out), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "at most 77"));
    ids[1] = mm_embedder_n_vocab(e);
    assert_int_equal(mm_embedder_text(e, ids, 3, 1, NULL, out), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "outside the vocabulary"));
    ids[1] = -1;
    assert_int_equal(mm_embedder_text(e, ids, 3, 1, NULL, out), MM_ERR_INVALID);
    ids[1] = 320;
    int32_t len[2] = {0, 3};
    assert_int_equal(mm_embedder_text(e, ids, 3, 1, len, out), MM_ERR_INVALID);
    len[0] = 4;
    assert_int_equal(mm_embedder_text(e, ids, 3, 1, len, out), MM_ERR_INVALID);
    assert_int_equal(mm_embedder_text(e, ids, 3, 0, NULL, out), MM_ERR_INVALID);
    assert_int_equal(mm_embedder_image(e, NULL, 0, out), MM_ERR_INVALID);
    assert_int_equal(mm_embedder_text(e, ids, 3, 1, NULL, out), MM_OK);
    free(ids);
    mm_embedder_free(e);
    mm_model_free(m);
}

/* A folder of another family has no embedder part. */
static void test_not_an_embedder(void **state)
{
    (void)state;
    char dir[1024], probe[1024];
    TEST_REQUIRE_SHARED(probe, "fixtures/whisper-tiny-random/model.safetensors");
    snprintf(dir, sizeof dir, "%s/fixtures/whisper-tiny-random", test_shared_dir());
    mm_model *m = load_model(dir);
    mm_embedder *e = NULL;
    assert_int_equal(mm_embedder_init(g_rt, m, &e), MM_ERR_UNSUPPORTED);
    assert_null(e);
    assert_non_null(strstr(mm_error_message(), "no plugin runs model_type 'whisper' as embedder"));
    mm_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "cpu") && strcmp(argv[1], "vulkan"))) {
        fprintf(stderr, "usage: %s <cpu|vulkan>\n", argv[0]);
        return 2;
    }
    test_watch_validation();
    int rc = test_runtime_init(argv[1], &g_rt);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_parity),  cmocka_unit_test(test_batch_matches_single),
        cmocka_unit_test(test_hidden_states),   cmocka_unit_test(test_f16_checkpoint),
        cmocka_unit_test(test_bad_config),      cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_not_an_embedder),
    };
    char group[64];
    snprintf(group, sizeof group, "embedder-clip-%s", argv[1]);
    rc = _cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0], NULL, NULL);
    mm_runtime_free(g_rt);
    return test_validation_verdict(rc);
}
