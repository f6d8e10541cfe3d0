/* Sharded checkpoints: model.safetensors.index.json + shards written at
 * test time, loaded into one weight map; broken indexes are refused. */
#include "st_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

static const float a_vals[6] = {1, 2, 3, 4, 5, 6};
static const uint16_t b_vals[4] = {0x3c00, 0xc000, 0x3800, 0x0000}; /* F16 1, -2, 0.5, 0 */
static const uint16_t c_vals[4] = {0x3f80, 0x4000, 0x4040, 0x4080}; /* BF16 1, 2, 3, 4 */
static const int64_t pos_vals[4] = {0, 1, 2, 3};

/* Two shards: a.weight + b.bias in the first, c.weight + position_ids (I64,
 * skipped) in the second, and config.json. The index is left to the test. */
static char *write_shards(void)
{
    char *dir = st_tmpdir(), path[1024];
    st_builder b;
    stb_init(&b);
    stb_add(&b, "a.weight", "F32", 2, (int64_t[]){2, 3}, a_vals, sizeof a_vals);
    stb_add(&b, "b.bias", "F16", 1, (int64_t[]){4}, b_vals, sizeof b_vals);
    stb_write(&b, st_join(path, sizeof path, dir, SHARD1), 0);
    stb_free(&b);
    stb_init(&b);
    stb_add(&b, "c.weight", "BF16", 2, (int64_t[]){2, 2}, c_vals, sizeof c_vals);
    stb_add(&b, "position_ids", "I64", 2, (int64_t[]){1, 4}, pos_vals, sizeof pos_vals);
    stb_write(&b, st_join(path, sizeof path, dir, SHARD2), 0);
    stb_free(&b);
    st_write_text(st_join(path, sizeof path, dir, "config.json"),
                  "{\"model_type\": \"toy\", \"hidden\": {\"size\": 2}}\n");
    return dir;
}

static void write_index(const char *dir, const char *weight_map)
{
    char path[1024], text[2048];
    snprintf(text, sizeof text, "{\"metadata\": {\"total_size\": 80}, \"weight_map\": %s}\n", weight_map);
    st_write_text(st_join(path, sizeof path, dir, "model.safetensors.index.json"), text);
}

#define GOOD_MAP                                                                                                     \
    "{\"a.weight\": \"" SHARD1 "\", \"b.bias\": \"" SHARD1 "\", \"c.weight\": \"" SHARD2 "\", "                      \
    "\"position_ids\": \"" SHARD2 "\"}"

static void test_sharded_load(void **state)
{
    char *dir = write_shards();
    write_index(dir, GOOD_MAP);
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        fail_msg("%s", mm_error_message());
    assert_string_equal(mm_model_type(m), "toy");
    int64_t size = 0;
    assert_int_equal(mm_config_int(m, "hidden.size", &size), MM_OK);
    assert_int_equal(size, 2);
    assert_int_equal(mm_model_weight_count(m), 3);

    const mm_weight *w = mm_model_weight_find(m, "a.weight");
    assert_non_null(w);
    assert_int_equal(w->dtype, MM_DTYPE_F32);
    assert_int_equal(w->n_dims, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(w->nbytes, sizeof a_vals);
    assert_memory_equal(w->data, a_vals, sizeof a_vals);

    w = mm_model_weight_find(m, "b.bias");
    assert_non_null(w);
    assert_int_equal(w->dtype, MM_DTYPE_F16);
    assert_true(mm_f16_to_f32(((const uint16_t *)w->data)[1]) == -2.0f);
    assert_memory_equal(w->data, b_vals, sizeof b_vals);

    w = mm_model_weight_find(m, "c.weight");
    assert_non_null(w);
    assert_int_equal(w->dtype, MM_DTYPE_BF16);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 2);
    assert_true(mm_bf16_to_f32(((const uint16_t *)w->data)[3]) == 4.0f);
    assert_memory_equal(w->data, c_vals, sizeof c_vals);
    assert_null(mm_model_weight_find(m, "position_ids"));
    mm_model_free(m);
    st_rmtree(dir);
}

/* model.safetensors wins over an index in the same folder. */
static void test_single_file_preferred(void **state)
{
    char *dir = write_shards(), path[1024];
    write_index(dir, "{\"x\": \"missing.safetensors\"}");
    st_builder b;
    stb_init(&b);
    stb_add(&b, "only", "F32", 1, (int64_t[]){2}, a_vals, 8);
    stb_write(&b, st_join(path, sizeof path, dir, "model.safetensors"), 0);
    stb_free(&b);
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        fail_msg("%s", mm_error_message());
    assert_int_equal(mm_model_weight_count(m), 1);
    assert_non_null(mm_model_weight_find(m, "only"));
    mm_model_free(m);
    st_rmtree(dir);
}

static void load_fails(const char *weight_map, mm_status want, const char *s1, const char *s2)
{
    char *dir = write_shards();
    write_index(dir, weight_map);
    mm_model *m = (mm_model *)dir; /* must be reset to NULL on failure */
    st_expect_error(mm_model_load(dir, &m), want, s1, s2, NULL);
    assert_null(m);
    st_rmtree(dir);
}

static void test_sharded_missing_shard(void **state)
{
    load_fails("{\"a.weight\": \"" SHARD1 "\", \"z\": \"model-00003-of-00003.safetensors\"}", MM_ERR_IO,
               "model-00003-of-00003.safetensors", "No such file");
}

static void test_sharded_tensor_not_in_shard(void **state)
{
    load_fails("{\"a.weight\": \"" SHARD1 "\", \"ghost.weight\": \"" SHARD2 "\"}", MM_ERR_FORMAT, "'ghost.weight'",
               "no shard holds it");
}

static void test_sharded_tensor_in_other_shard(void **state)
{
    load_fails("{\"a.weight\": \"" SHARD2 "\", \"c.weight\": \"" SHARD1 "\"}", MM_ERR_FORMAT, "'a.weight'",
               "found in " SHARD1);
}

static void test_sharded_duplicate_tensor(void **state)
{
    char *dir = write_shards(), path[1024];
    st_builder b; /* shard 2 rewritten to also hold a.weight */
    stb_init(&b);
    stb_add(&b, "c.weight", "BF16", 2, (int64_t[]){2, 2}, c_vals, sizeof c_vals);
    stb_add(&b, "a.weight", "F32", 2, (int64_t[]){2, 3}, a_vals, sizeof a_vals);
    stb_write(&b, st_join(path, sizeof path, dir, SHARD2), 0);
    stb_free(&b);
    write_index(dir, "{\"a.weight\": \"" SHARD1 "\", \"c.weight\": \"" SHARD2 "\"}");
    mm_model *m = NULL;
    st_expect_error(mm_model_load(dir, &m), MM_ERR_FORMAT, "'a.weight' appears twice", SHARD1, SHARD2, NULL);
    st_rmtree(dir);
}

static void test_sharded_no_weight_map(void **state)
{
    char *dir = write_shards(), path[1024];
    st_write_text(st_join(path, sizeof path, dir, "model.safetensors.index.json"), "{\"metadata\": {}}");
    mm_model *m = NULL;
    st_expect_error(mm_model_load(dir, &m), MM_ERR_FORMAT, "model.safetensors.index.json", "weight_map", NULL);
    st_write_text(path, "{\"weight_map\": {\"a\": ");
    st_expect_error(mm_model_load(dir, &m), MM_ERR_FORMAT, "model.safetensors.index.json", "invalid JSON", NULL);
    st_rmtree(dir);
}

static void test_sharded_bad_shard_name(void **state)
{
    load_fails("{\"a.weight\": \"../" SHARD1 "\"}", MM_ERR_FORMAT, "'a.weight'", "not \"../" SHARD1);
    load_fails("{\"a.weight\": 3}", MM_ERR_FORMAT, "'a.weight'", "not 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharded_load),
        cmocka_unit_test(test_single_file_preferred),
        cmocka_unit_test(test_sharded_missing_shard),
        cmocka_unit_test(test_sharded_tensor_not_in_shard),
        cmocka_unit_test(test_sharded_tensor_in_other_shard),
        cmocka_unit_test(test_sharded_duplicate_tensor),
        cmocka_unit_test(test_sharded_no_weight_map),
        cmocka_unit_test(test_sharded_bad_shard_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
