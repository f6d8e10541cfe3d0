/* mm_config_* on a config.json written at test time: dotted paths through
 * objects and arrays, number conversions, null as absent, wrong types. */
#include "st_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *config_text =
    "{\n"
    "  \"model_type\": \"toy\",\n"
    "  \"d_model\": 384,\n"
    "  \"two\": 2.0,\n"
    "  \"half\": 0.5,\n"
    "  \"big\": 9223372036854775807,\n"
    "  \"too_big\": 18446744073709551615,\n"
    "  \"neg\": -3,\n"
    "  \"eps\": 1e-12,\n"
    "  \"flag\": true,\n"
    "  \"name\": \"tiny\",\n"
    "  \"nothing\": null,\n"
    "  \"suppress_tokens\": [1, 2, 7, 50359],\n"
    "  \"nested\": {\"list\": [{\"k\": 11}, [5, 6]], \"inner\": {\"deep\": {\"x\": 1.25}}},\n"
    "  \"empty\": []\n"
    "}\n";

static char *g_dir;
static mm_model *g_model;

static int setup(void **state)
{
    char path[1024];
    g_dir = st_tmpdir();
    st_write_text(st_join(path, sizeof path, g_dir, "config.json"), config_text);
    st_builder b;
    float x = 1;
    stb_init(&b);
    stb_add(&b, "x", "F32", 0, NULL, &x, 4);
    stb_write(&b, st_join(path, sizeof path, g_dir, "model.safetensors"), 0);
    stb_free(&b);
    if (mm_model_load(g_dir, &g_model) != MM_OK) {
        print_error("%s\n", mm_error_message());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    mm_model_free(g_model);
    st_rmtree(g_dir);
    return 0;
}

static int64_t get_int(const char *path)
{
    int64_t v = 0;
    if (mm_config_int(g_model, path, &v) != MM_OK)
        fail_msg("%s: %s", path, mm_error_message());
    return v;
}

static void test_config_ints(void **state)
{
    assert_int_equal(get_int("d_model"), 384);
    assert_int_equal(get_int("two"), 2);
    assert_int_equal(get_int("neg"), -3);
    assert_true(get_int("big") == INT64_MAX);
    assert_int_equal(get_int("suppress_tokens.3"), 50359);
    assert_int_equal(get_int("nested.list.0.k"), 11);
    assert_int_equal(get_int("nested.list.1.1"), 6);
    int64_t v;
    st_expect_error(mm_config_int(g_model, "half", &v), MM_ERR_FORMAT, "config.json", "\"half\" is 0.5",
                    "not an integer", NULL);
    st_expect_error(mm_config_int(g_model, "name", &v), MM_ERR_FORMAT, "\"name\" is \"tiny\"", NULL);
    st_expect_error(mm_config_int(g_model, "flag", &v), MM_ERR_FORMAT, "\"flag\"", NULL);
    st_expect_error(mm_config_int(g_model, "too_big", &v), MM_ERR_FORMAT, "\"too_big\"", "64-bit", NULL);
    st_expect_error(mm_config_int(g_model, "nested", &v), MM_ERR_FORMAT, "\"nested\"", NULL);
    st_expect_error(mm_config_int(g_model, "suppress_tokens.4", &v), MM_ERR_FORMAT, "missing", "suppress_tokens.4",
                    NULL);
    st_expect_error(mm_config_int(g_model, "nothing", &v), MM_ERR_FORMAT, "missing \"nothing\"", NULL);
    st_expect_error(mm_config_int(NULL, "d_model", &v), MM_ERR_INVALID, NULL);
}

static void test_config_floats(void **state)
{
    double d = 0;
    assert_int_equal(mm_config_float(g_model, "eps", &d), MM_OK);
    assert_true(d == 1e-12);
    assert_int_equal(mm_config_float(g_model, "d_model", &d), MM_OK); /* ints are numbers */
    assert_true(d == 384.0);
    assert_int_equal(mm_config_float(g_model, "nested.inner.deep.x", &d), MM_OK);
    assert_true(d == 1.25);
    st_expect_error(mm_config_float(g_model, "name", &d), MM_ERR_FORMAT, "\"name\"", "not a number", NULL);
    assert_int_equal(mm_config_float_or(g_model, "absent.path", 0.75, &d), MM_OK);
    assert_true(d == 0.75);
    assert_int_equal(mm_config_float_or(g_model, "nothing", 0.125, &d), MM_OK);
    assert_true(d == 0.125);
    assert_int_equal(mm_config_float_or(g_model, "half", 9, &d), MM_OK);
    assert_true(d == 0.5);
    st_expect_error(mm_config_float_or(g_model, "flag", 9, &d), MM_ERR_FORMAT, "\"flag\"", NULL);
}

static void test_config_defaults(void **state)
{
    int64_t v = 0;
    assert_int_equal(mm_config_int_or(g_model, "d_model", 1, &v), MM_OK);
    assert_int_equal(v, 384);
    assert_int_equal(mm_config_int_or(g_model, "missing", -5, &v), MM_OK);
    assert_int_equal(v, -5);
    assert_int_equal(mm_config_int_or(g_model, "suppress_tokens.9", 4, &v), MM_OK);
    assert_int_equal(v, 4);
    assert_int_equal(mm_config_int_or(g_model, "d_model.x", 3, &v), MM_OK); /* through a number: absent */
    assert_int_equal(v, 3);
    st_expect_error(mm_config_int_or(g_model, "half", 1, &v), MM_ERR_FORMAT, "\"half\"", NULL);
}

static void test_config_other_types(void **state)
{
    const char *s = NULL;
    assert_int_equal(mm_config_string(g_model, "name", &s), MM_OK);
    assert_string_equal(s, "tiny");
    assert_int_equal(mm_config_string(g_model, "model_type", &s), MM_OK);
    assert_string_equal(s, mm_model_type(g_model));
    st_expect_error(mm_config_string(g_model, "d_model", &s), MM_ERR_FORMAT, "\"d_model\" is 384", "not a string",
                    NULL);
    bool b = false;
    assert_int_equal(mm_config_bool(g_model, "flag", &b), MM_OK);
    assert_true(b);
    st_expect_error(mm_config_bool(g_model, "d_model", &b), MM_ERR_FORMAT, "\"d_model\"", NULL);
    st_expect_error(mm_config_bool(g_model, "nope", &b), MM_ERR_FORMAT, "nope", NULL);

    assert_int_equal(mm_config_array_len(g_model, "suppress_tokens"), 4);
    assert_int_equal(mm_config_array_len(g_model, "nested.list"), 2);
    assert_int_equal(mm_config_array_len(g_model, "nested.list.1"), 2);
    assert_int_equal(mm_config_array_len(g_model, "empty"), 0);
    assert_int_equal(mm_config_array_len(g_model, "name"), 0);
    assert_int_equal(mm_config_array_len(g_model, "absent"), 0);

    assert_true(mm_config_has(g_model, "empty"));
    assert_true(mm_config_has(g_model, "suppress_tokens.0"));
    assert_false(mm_config_has(g_model, "suppress_tokens.-1"));
    assert_false(mm_config_has(g_model, "suppress_tokens.x"));
    assert_false(mm_config_has(g_model, "suppress_tokens.01x"));
    assert_false(mm_config_has(g_model, "suppress_tokens."));
    assert_false(mm_config_has(g_model, "nothing"));
    assert_false(mm_config_has(g_model, ""));
    assert_false(mm_config_has(g_model, NULL));
    assert_false(mm_config_has(NULL, "d_model"));
    char longkey[600];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_false(mm_config_has(g_model, longkey));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_ints),
        cmocka_unit_test(test_config_floats),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_other_types),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
