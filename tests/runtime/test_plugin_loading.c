/* Plugin discovery and ABI checks through the public runtime API. */
#include "test_util.h"

#include "mm/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mm_runtime *runtime_with_path(const char *path)
{
    mm_runtime_params p = mm_runtime_default_params();
    p.backend.kind = MM_BACKEND_CPU;
    p.plugin_path = path;
    mm_runtime *rt = NULL;
    if (mm_runtime_init(&p, &rt) != MM_OK)
        fail_msg("runtime init: %s", mm_error_message());
    return rt;
}

static const mm_plugin_info *find_info(const mm_runtime *rt, const char *file)
{
    for (int32_t i = 0; i < mm_runtime_plugin_count(rt); i++) {
        const mm_plugin_info *pi = mm_runtime_plugin_at(rt, i);
        const char *slash = strrchr(pi->path, '/');
        if (strcmp(slash ? slash + 1 : pi->path, file) == 0)
            return pi;
    }
    return NULL;
}

/* The real plugins load, each serving exactly the roles it has tables for:
 * every plugin has its model code: clip runs the clip folders as embedder;
 * whisper's encoder is audio's and its decoder textdec's. */
static void test_real_plugins_found(void **state)
{
    (void)state;
    mm_runtime *rt = runtime_with_path(REAL_PLUGIN_DIR);
    static const struct { const char *file, *name, *type; uint32_t role; } want[] = {
        {"mmplugin_vit.so", "vit", "vit", MM_ROLE_ENCODER},
        {"mmplugin_audio.so", "audio", "whisper", MM_ROLE_ENCODER},
        {"mmplugin_clip.so", "clip", "clip", MM_ROLE_EMBEDDER},
        {"mmplugin_textdec.so", "textdec", "whisper", MM_ROLE_DECODER},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const mm_plugin_info *pi = find_info(rt, want[i].file);
        if (!pi)
            fail_msg("%s not found in %s", want[i].file, REAL_PLUGIN_DIR);
        if (!pi->plugin)
            fail_msg("%s refused: %s", want[i].file, pi->error);
        assert_string_equal(pi->plugin->name, want[i].name);
        assert_int_equal(pi->plugin->abi_version, MM_PLUGIN_ABI_VERSION);
        if (!want[i].type) {
            assert_null(pi->plugin->model_types[0].model_type);
            assert_null(pi->plugin->encoder);
            assert_null(pi->plugin->decoder);
            assert_null(pi->plugin->embedder);
            continue;
        }
        assert_string_equal(pi->plugin->model_types[0].model_type, want[i].type);
        assert_int_equal(pi->plugin->model_types[0].roles, want[i].role);
        if (want[i].role == MM_ROLE_DECODER) { /* textdec: whisper, then gpt2 */
            assert_string_equal(pi->plugin->model_types[1].model_type, "gpt2");
            assert_int_equal(pi->plugin->model_types[1].roles, MM_ROLE_DECODER);
            assert_null(pi->plugin->model_types[2].model_type);
            assert_non_null(pi->plugin->decoder);
        } else {
            assert_null(pi->plugin->model_types[1].model_type);
        }
        const mm_plugin *p = NULL;
        assert_int_equal(mm_runtime_find_plugin(rt, want[i].type, want[i].role, &p), MM_OK);
        assert_ptr_equal(p, pi->plugin);
    }
    /* Two plugins serve whisper, each in its own role; gpt2 decodes. */
    const mm_plugin *p = NULL, *enc = NULL;
    assert_int_equal(mm_runtime_find_plugin(rt, "whisper", MM_ROLE_ENCODER, &enc), MM_OK);
    assert_string_equal(enc->name, "audio");
    assert_int_equal(mm_runtime_find_plugin(rt, "whisper", MM_ROLE_DECODER, &p), MM_OK);
    assert_string_equal(p->name, "textdec");
    assert_int_equal(mm_runtime_find_plugin(rt, "gpt2", MM_ROLE_DECODER, &p), MM_OK);
    assert_string_equal(p->name, "textdec");
    /* Roles no plugin implements find none. */
    p = NULL;
    assert_int_equal(mm_runtime_find_plugin(rt, "gpt2", MM_ROLE_ENCODER, &p), MM_ERR_UNSUPPORTED);
    assert_non_null(strstr(mm_error_message(), "no plugin runs model_type 'gpt2' as encoder"));
    assert_int_equal(mm_runtime_find_plugin(rt, "clip", MM_ROLE_DECODER, &p), MM_ERR_UNSUPPORTED);
    assert_null(p);
    mm_runtime_free(rt);
}

static void test_unknown_model_type_names_plugins(void **state)
{
    (void)state;
    mm_runtime *rt = runtime_with_path(REAL_PLUGIN_DIR);
    const mm_plugin *p = NULL;
    assert_int_equal(mm_runtime_find_plugin(rt, "mamba", MM_ROLE_ENCODER, &p), MM_ERR_UNSUPPORTED);
    assert_null(p);
    const char *msg = mm_error_message();
    assert_non_null(strstr(msg, "'mamba'"));
    assert_non_null(strstr(msg, "audio"));
    assert_non_null(strstr(msg, "vit"));
    /* A known type in a role nobody serves is refused too. */
    assert_int_equal(mm_runtime_find_plugin(rt, "clip", MM_ROLE_DECODER, &p), MM_ERR_UNSUPPORTED);
    mm_runtime_free(rt);
}

static void expect_refused(const char *file, mm_status status, const char *needle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", FAKE_PLUGIN_DIR, file);
    const mm_plugin *p = (const mm_plugin *)1;
    void *h = (void *)1;
    assert_int_equal(mm_plugin_open(path, &p, &h), status);
    assert_null(p);
    assert_null(h);
    if (!strstr(mm_error_message(), needle))
        fail_msg("%s: message '%s' lacks '%s'", file, mm_error_message(), needle);
    assert_non_null(strstr(mm_error_message(), file));
}

static void test_wrong_abi_refused(void **state)
{
    (void)state;
    char needle[128];
    snprintf(needle, sizeof needle, "was built for plugin ABI %u; this runtime needs ABI %u",
             MM_PLUGIN_ABI_VERSION + 41, MM_PLUGIN_ABI_VERSION);
    expect_refused("mmplugin_bad_abi.so", MM_ERR_PLUGIN, needle);
}

/* A plugin built for ABI 1 is refused with a message naming both versions. */
static void test_abi_v1_refused(void **state)
{
    (void)state;
    assert_int_equal(MM_PLUGIN_ABI_VERSION, 2);
    char needle[4200];
    snprintf(needle, sizeof needle, "plugin %s/mmplugin_abi_v1.so was built for plugin ABI 1; this runtime needs ABI 2",
             FAKE_PLUGIN_DIR);
    expect_refused("mmplugin_abi_v1.so", MM_ERR_PLUGIN, needle);
}

static void test_missing_entry_refused(void **state)
{
    (void)state;
    expect_refused("mmplugin_no_entry.so", MM_ERR_PLUGIN, "no mm_plugin_entry symbol");
}

/* Declared roles must match the tables given, both ways. */
static void test_role_without_table_refused(void **state)
{
    (void)state;
    expect_refused("mmplugin_no_encoder.so", MM_ERR_PLUGIN, "declares 'vit' as encoder but has no encoder table");
    expect_refused("mmplugin_no_decoder.so", MM_ERR_PLUGIN, "declares 'gpt2' as decoder but has no decoder table");
    expect_refused("mmplugin_no_embedder.so", MM_ERR_PLUGIN, "declares 'clip' as embedder but has no embedder table");
    expect_refused("mmplugin_undeclared_decoder.so", MM_ERR_PLUGIN,
                   "has a decoder table but no model type declares the decoder role");
}

static void test_missing_and_garbage_files(void **state)
{
    (void)state;
    expect_refused("mmplugin_does_not_exist.so", MM_ERR_IO, "cannot read");
    char dir[] = "/tmp/mm-plugins-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/mmplugin_garbage.so", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an ELF file\n", f);
    fclose(f);
    const mm_plugin *p = NULL;
    void *h = NULL;
    assert_int_equal(mm_plugin_open(path, &p, &h), MM_ERR_PLUGIN);
    assert_non_null(strstr(mm_error_message(), "cannot load"));

    /* The registry lists the broken file with its reason and carries on. */
    mm_runtime *rt = runtime_with_path(dir);
    const mm_plugin_info *pi = find_info(rt, "mmplugin_garbage.so");
    assert_non_null(pi);
    assert_null(pi->plugin);
    assert_non_null(strstr(pi->error, "cannot load"));
    mm_runtime_free(rt);
    unlink(path);
    rmdir(dir);
}

static void test_registry_lists_broken_beside_good(void **state)
{
    (void)state;
    char path[8192];
    snprintf(path, sizeof path, "%s:%s", FAKE_PLUGIN_DIR, REAL_PLUGIN_DIR);
    mm_runtime *rt = runtime_with_path(path);
    const mm_plugin_info *bad = find_info(rt, "mmplugin_bad_abi.so");
    assert_non_null(bad);
    assert_null(bad->plugin);
    assert_non_null(strstr(bad->error, "ABI"));
    /* Every fake is refused (listed with its reason), none is used. */
    static const char *const fakes[] = {"mmplugin_abi_v1.so", "mmplugin_no_decoder.so", "mmplugin_no_embedder.so",
                                        "mmplugin_undeclared_decoder.so"};
    for (size_t i = 0; i < sizeof fakes / sizeof fakes[0]; i++) {
        const mm_plugin_info *pi = find_info(rt, fakes[i]);
        assert_non_null(pi);
        assert_null(pi->plugin);
        assert_non_null(pi->error);
    }
    const mm_plugin *p = NULL;
    /* The refused plugins claimed gpt2 and clip: the real plugins serve
     * them (textdec gpt2's decoder, clip the clip embedder), never a fake. */
    assert_int_equal(mm_runtime_find_plugin(rt, "gpt2", MM_ROLE_DECODER, &p), MM_OK);
    assert_string_equal(p->name, "textdec");
    assert_int_equal(mm_runtime_find_plugin(rt, "clip", MM_ROLE_EMBEDDER, &p), MM_OK);
    assert_string_equal(p->name, "clip");
    assert_non_null(strstr(find_info(rt, "mmplugin_clip.so")->path, REAL_PLUGIN_DIR));
    /* The refused plugins claimed whisper; the real audio plugin serves it. */
    assert_int_equal(mm_runtime_find_plugin(rt, "whisper", MM_ROLE_ENCODER, &p), MM_OK);
    assert_string_equal(p->name, "audio");
    assert_non_null(strstr(mm_runtime_plugin_search_path(rt), FAKE_PLUGIN_DIR));
    mm_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_plugins_found),
        cmocka_unit_test(test_unknown_model_type_names_plugins),
        cmocka_unit_test(test_wrong_abi_refused),
        cmocka_unit_test(test_abi_v1_refused),
        cmocka_unit_test(test_missing_entry_refused),
        cmocka_unit_test(test_role_without_table_refused),
        cmocka_unit_test(test_missing_and_garbage_files),
        cmocka_unit_test(test_registry_lists_broken_beside_good),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
