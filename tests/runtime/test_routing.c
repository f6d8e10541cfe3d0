/* The routing table through the public API: each fixture folder maps to
 * its parts (role, model_type, config and weight prefixes), and the
 * prefixes really hold that part's config and weights. */
#include "test_util.h"

#include "mm/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct want_part {
    uint32_t role;
    const char *model_type, *config_prefix, *weight_prefix;
    const char *weight; /* a weight of this part, relative to its prefix */
    const char *key;    /* a config key of this part, relative to its prefix */
} want_part;

static mm_model *load_fixture(const char *name)
{
    char rel[256], probe[1024], dir[1024];
    snprintf(rel, sizeof rel, "fixtures/%s/config.json", name);
    TEST_REQUIRE_SHARED(probe, rel);
    snprintf(dir, sizeof dir, "%s/fixtures/%s", test_shared_dir(), name);
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        fail_msg("%s: %s", dir, mm_error_message());
    return m;
}

static void expect_route(const char *fixture, const char *family, const want_part *want, int32_t n)
{
    mm_model *m = load_fixture(fixture);
    mm_route r;
    if (mm_model_route(m, &r) != MM_OK)
        fail_msg("%s: %s", fixture, mm_error_message());
    assert_string_equal(r.family, family);
    assert_int_equal(r.n_parts, n);
    for (int32_t i = 0; i < n; i++) {
        const mm_model_part *p = &r.parts[i];
        assert_int_equal(p->role, want[i].role);
        assert_string_equal(p->model_type, want[i].model_type);
        assert_string_equal(p->config_prefix, want[i].config_prefix);
        assert_string_equal(p->weight_prefix, want[i].weight_prefix);
        assert_ptr_equal(mm_route_part(&r, want[i].role), p);
        char name[256];
        snprintf(name, sizeof name, "%s%s", p->weight_prefix, want[i].weight);
        if (!mm_model_weight_find(m, name))
            fail_msg("%s %s: weight %s absent", fixture, mm_plugin_role_name(p->role), name);
        snprintf(name, sizeof name, "%s%s", p->config_prefix, want[i].key);
        if (!mm_config_has(m, name))
            fail_msg("%s %s: config key %s absent", fixture, mm_plugin_role_name(p->role), name);
    }
    /* Roles the folder does not have. */
    for (uint32_t role = 1; role & MM_ROLE_ALL; role <<= 1) {
        bool has = false;
        for (int32_t i = 0; i < n; i++)
            has = has || want[i].role == role;
        if (!has)
            assert_null(mm_route_part(&r, role));
    }
    mm_model_free(m);
}

static void test_whisper(void **state)
{
    (void)state;
    const want_part want[] = {
        {MM_ROLE_ENCODER, "whisper", "", "model.encoder.", "conv1.weight", "encoder_layers"},
        {MM_ROLE_DECODER, "whisper", "", "model.decoder.", "embed_tokens.weight", "decoder_layers"},
    };
    expect_route("whisper-tiny-random", "whisper", want, 2);
}

static void test_vision_encoder_decoder(void **state)
{
    (void)state;
    const want_part want[] = {
        {MM_ROLE_ENCODER, "vit", "encoder.", "encoder.", "embeddings.cls_token", "hidden_size"},
        {MM_ROLE_DECODER, "gpt2", "decoder.", "decoder.", "transformer.wte.weight", "n_embd"},
    };
    expect_route("vit-gpt2-tiny-random", "vision-encoder-decoder", want, 2);
}

/* One embedder part over the whole folder: both towers and the shared
 * projections/logit_scale sit at the top level. */
static void test_clip(void **state)
{
    (void)state;
    const want_part want[] = {
        {MM_ROLE_EMBEDDER, "clip", "", "", "logit_scale", "vision_config.hidden_size"},
    };
    expect_route("clip-tiny-random", "clip", want, 1);
    mm_model *m = load_fixture("clip-tiny-random");
    assert_true(mm_config_has(m, "text_config.hidden_size"));
    assert_non_null(mm_model_weight_find(m, "text_projection.weight"));
    mm_model_free(m);
}

/* A folder like `src` whose config.json has one value replaced (a JSON
 * fragment, or NULL to delete the key); weights linked. Returns the dir. */
static char *edited_copy(const char *src, const char *key, const char *section, const char *value)
{
    char rel[256], probe[1024];
    snprintf(rel, sizeof rel, "fixtures/%s/config.json", src);
    TEST_REQUIRE_SHARED(probe, rel);
    char *dir = malloc(64);
    strcpy(dir, "/tmp/mm-routing-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); s=c[sys.argv[3]] if sys.argv[3] else c; "
             "v=sys.argv[4]; (s.pop(sys.argv[2]) if v==\"-\" else s.__setitem__(sys.argv[2], json.loads(v))); "
             "json.dump(c, open(sys.argv[5], \"w\"))' %s/fixtures/%s/config.json '%s' '%s' '%s' %s/config.json && "
             "ln -s %s/fixtures/%s/model.safetensors %s/model.safetensors",
             test_shared_dir(), src, key, section ? section : "", value ? value : "-", dir, test_shared_dir(), src,
             dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

static void remove_copy(char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* The decoder's type comes from decoder.model_type: another value routes
 * there; without it the folder is refused naming the key. */
static void test_part_type_from_config(void **state)
{
    (void)state;
    char *dir = edited_copy("vit-gpt2-tiny-random", "model_type", "decoder", "\"bert\"");
    mm_model *m = NULL;
    assert_int_equal(mm_model_load(dir, &m), MM_OK);
    mm_route r;
    assert_int_equal(mm_model_route(m, &r), MM_OK);
    assert_string_equal(mm_route_part(&r, MM_ROLE_DECODER)->model_type, "bert");
    assert_string_equal(mm_route_part(&r, MM_ROLE_ENCODER)->model_type, "vit");
    mm_model_free(m);
    remove_copy(dir);

    dir = edited_copy("vit-gpt2-tiny-random", "model_type", "decoder", NULL);
    assert_int_equal(mm_model_load(dir, &m), MM_OK);
    assert_int_not_equal(mm_model_route(m, &r), MM_OK);
    if (!strstr(mm_error_message(), "decoder.model_type"))
        fail_msg("message '%s' does not name decoder.model_type", mm_error_message());
    mm_model_free(m);
    remove_copy(dir);
}

/* A type the table does not list is a bare encoder of that type. */
static void test_unlisted_type(void **state)
{
    (void)state;
    char *dir = edited_copy("whisper-tiny-random", "model_type", NULL, "\"mamba\"");
    mm_model *m = NULL;
    assert_int_equal(mm_model_load(dir, &m), MM_OK);
    mm_route r;
    assert_int_equal(mm_model_route(m, &r), MM_OK);
    assert_null(r.family);
    assert_int_equal(r.n_parts, 1);
    assert_int_equal(r.parts[0].role, MM_ROLE_ENCODER);
    assert_string_equal(r.parts[0].model_type, "mamba");
    assert_string_equal(r.parts[0].config_prefix, "");
    assert_string_equal(r.parts[0].weight_prefix, "");
    mm_model_free(m);
    remove_copy(dir);
}

/* The encoder lookup reads the same table: a CLIP folder has no encoder
 * part, and says so. */
static void test_encoder_lookup_uses_table(void **state)
{
    (void)state;
    mm_model *m = load_fixture("clip-tiny-random");
    mm_runtime_params p = mm_runtime_default_params();
    p.backend.kind = MM_BACKEND_CPU;
    p.plugin_path = REAL_PLUGIN_DIR;
    mm_runtime *rt = NULL;
    assert_int_equal(mm_runtime_init(&p, &rt), MM_OK);
    mm_encoder *enc = (mm_encoder *)1;
    assert_int_equal(mm_encoder_init(rt, m, &enc), MM_ERR_UNSUPPORTED);
    assert_null(enc);
    const char *msg = mm_error_message();
    if (!strstr(msg, "no plugin runs model_type 'clip' as encoder") || !strstr(msg, "embedder (clip)"))
        fail_msg("message: %s", msg);
    mm_model_free(m);

    m = load_fixture("vit-gpt2-tiny-random");
    assert_int_equal(mm_encoder_init(rt, m, &enc), MM_OK);
    assert_string_equal(mm_encoder_plugin(enc)->name, "vit");
    mm_encoder_free(enc);
    mm_model_free(m);
    mm_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whisper),
        cmocka_unit_test(test_vision_encoder_decoder),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_part_type_from_config),
        cmocka_unit_test(test_unlisted_type),
        cmocka_unit_test(test_encoder_lookup_uses_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
