/* Corrupt safetensors files and broken model folders, written at test time:
 * each must be refused with the right mm_status and a message that names the
 * file, the tensor and the problem. */
#include "st_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { RAW, BYTES, SPARSE, TRUNCATE } bad_kind;

typedef struct bad_case {
    const char *name;
    bad_kind kind;
    uint64_t hlen;      /* RAW: length field (ST_AUTO: the header's)   */
    const char *header; /* RAW: header text; BYTES: the file contents  */
    size_t data_len;    /* RAW: zero bytes after the header; BYTES: size */
    mm_status want;
    const char *s1, *s2; /* substrings of the message besides the file */
} bad_case;

#define ENTRY(dtype, shape, offs) "{\"w\": {\"dtype\": " dtype ", \"shape\": " shape ", \"data_offsets\": " offs "}}"

static const bad_case cases[] = {
    {"empty_file", BYTES, 0, "", 0, MM_ERR_FORMAT, "0 bytes", "too short"},
    {"short_file", BYTES, 0, "\x10\0\0\0\0", 5, MM_ERR_FORMAT, "5 bytes", "too short"},
    {"header_length_past_end", RAW, 1000, "{}", 0, MM_ERR_FORMAT, "header length 1000", "past the end of the file"},
    {"header_length_huge", RAW, 0xffffffffffffff00ull, "{}", 0, MM_ERR_FORMAT, "18446744073709551360",
     "past the end of the file"},
    {"header_length_absurd", SPARSE, 100000001, "", 0, MM_ERR_FORMAT, "header length 100000001", "implausibly large"},
    {"bad_json", RAW, ST_AUTO, "{\"w\": {\"dtype\": \"F32\", \"shape\": [2]", 0, MM_ERR_FORMAT, "not valid JSON",
     "unexpected end"},
    {"bad_json_syntax", RAW, ST_AUTO, "{\"w\": {dtype: F32}}", 0, MM_ERR_FORMAT, "not valid JSON", "at byte"},
    {"trailing_garbage", RAW, ST_AUTO, "{}  xyz", 0, MM_ERR_FORMAT, "not valid JSON", "trailing data"},
    {"header_not_object", RAW, ST_AUTO, "[1, 2]", 0, MM_ERR_FORMAT, "not a JSON object", NULL},
    {"entry_not_object", RAW, ST_AUTO, "{\"w\": 5}", 0, MM_ERR_FORMAT, "'w'", "not an object"},
    {"missing_dtype", RAW, ST_AUTO, "{\"w\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, MM_ERR_FORMAT, "'w'",
     "missing \"dtype\""},
    {"missing_shape", RAW, ST_AUTO, "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", 8, MM_ERR_FORMAT,
     "'w'", "missing \"shape\""},
    {"missing_data_offsets", RAW, ST_AUTO, "{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, MM_ERR_FORMAT, "'w'",
     "missing \"data_offsets\""},
    {"data_offsets_not_pair", RAW, ST_AUTO, ENTRY("\"F32\"", "[2]", "[8]"), 8, MM_ERR_FORMAT, "'w'",
     "\"data_offsets\" [begin, end]"},
    {"dtype_not_string", RAW, ST_AUTO, ENTRY("4", "[2]", "[0, 8]"), 8, MM_ERR_FORMAT, "'w'", "\"dtype\" string"},
    {"unknown_dtype", RAW, ST_AUTO, ENTRY("\"F31\"", "[2]", "[0, 8]"), 8, MM_ERR_FORMAT, "'w'",
     "unknown dtype \"F31\""},
    {"negative_dim", RAW, ST_AUTO, ENTRY("\"F32\"", "[2, -2]", "[0, 8]"), 8, MM_ERR_FORMAT, "'w'",
     "dimension 1 is not a non-negative integer"},
    {"fractional_dim", RAW, ST_AUTO, ENTRY("\"F32\"", "[2.5]", "[0, 8]"), 8, MM_ERR_FORMAT, "'w'",
     "dimension 0 is not a non-negative integer"},
    {"string_dim", RAW, ST_AUTO, ENTRY("\"F32\"", "[\"2\"]", "[0, 8]"), 8, MM_ERR_FORMAT, "'w'",
     "dimension 0 is not a non-negative integer"},
    {"too_many_dims", RAW, ST_AUTO, ENTRY("\"F32\"", "[1, 1, 1, 1, 2]", "[0, 8]"), 8, MM_ERR_UNSUPPORTED, "'w'",
     "5 dimensions; at most 4"},
    {"huge_shape", RAW, ST_AUTO, ENTRY("\"F32\"", "[4294967296, 4294967296, 16]", "[0, 8]"), 8, MM_ERR_NOMEM, "'w'",
     "implausibly large"},
    {"huge_dim", RAW, ST_AUTO, ENTRY("\"F32\"", "[18446744073709551615]", "[0, 8]"), 8, MM_ERR_NOMEM, "'w'",
     "implausibly large"},
    {"wrong_dtype_size", RAW, ST_AUTO, ENTRY("\"F32\"", "[2]", "[0, 4]"), 8, MM_ERR_FORMAT, "'w'",
     "needs 8 bytes but data_offsets [0, 4] hold 4 (wrong dtype size?)"},
    {"begin_after_end", RAW, ST_AUTO, ENTRY("\"F32\"", "[2]", "[8, 0]"), 8, MM_ERR_FORMAT, "'w'",
     "[8, 0] have begin > end"},
    {"negative_offset", RAW, ST_AUTO, ENTRY("\"F32\"", "[2]", "[-8, 0]"), 8, MM_ERR_FORMAT, "'w'",
     "not non-negative integers"},
    {"offsets_past_end", RAW, ST_AUTO, ENTRY("\"F32\"", "[4]", "[0, 16]"), 8, MM_ERR_FORMAT, "'w'",
     "past the end of the data section (8 bytes)"},
    {"truncated_data", TRUNCATE, ST_AUTO, ENTRY("\"F32\"", "[4]", "[0, 16]"), 16, MM_ERR_FORMAT, "'w'",
     "file truncated?"},
    {"overlapping", RAW, ST_AUTO,
     "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
     " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
     12, MM_ERR_FORMAT, "'a' [0, 8] and 'b' [4, 12]", "overlap"},
    {"overlap_contained", RAW, ST_AUTO,
     "{\"c\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]},"
     " \"big\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
     " \"d\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]}}",
     16, MM_ERR_FORMAT, "'big' [0, 16] and 'c' [8, 12]", "overlap"},
    /* tensors that are not loaded are still validated */
    {"skipped_dtype_wrong_size", RAW, ST_AUTO, ENTRY("\"I64\"", "[2]", "[0, 8]"), 8, MM_ERR_FORMAT, "'w'",
     "I64 needs 16 bytes"},
    {"skipped_dtype_past_end", RAW, ST_AUTO, ENTRY("\"U8\"", "[1, 1, 1, 1, 1, 16]", "[0, 16]"), 8, MM_ERR_FORMAT,
     "'w'", "past the end of the data section"},
    {"subbyte_dtype_partial_byte", RAW, ST_AUTO, ENTRY("\"F4\"", "[3]", "[0, 2]"), 8, MM_ERR_FORMAT, "'w'",
     "not a whole number of bytes"},
};

static void write_case(const bad_case *c, const char *path)
{
    FILE *f;
    switch (c->kind) {
    case RAW: {
        char *zeros = calloc(1, c->data_len + 1);
        st_write_raw(path, c->hlen, c->header, zeros, c->data_len);
        free(zeros);
        break;
    }
    case BYTES:
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(c->header, 1, c->data_len, f), c->data_len);
        assert_int_equal(fclose(f), 0);
        break;
    case SPARSE: /* a length field that fits the file but is absurd; no disk used */
        st_write_raw(path, c->hlen, "", NULL, 0);
        assert_int_equal(truncate(path, (off_t)(8 + c->hlen)), 0);
        break;
    case TRUNCATE: {
        char *zeros = calloc(1, c->data_len);
        st_write_raw(path, c->hlen, c->header, zeros, c->data_len);
        free(zeros);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(truncate(path, sb.st_size - 4), 0);
        break;
    }
    }
}

static void test_bad_file(void **state)
{
    const bad_case *c = *state;
    char *dir = st_tmpdir(), path[1024];
    st_join(path, sizeof path, dir, "bad.safetensors");
    write_case(c, path);
    mm_model *m = (mm_model *)dir; /* must come back NULL */
    st_expect_error(mm_safetensors_open(path, &m), c->want, path, c->s1, c->s2, NULL);
    assert_null(m);
    st_rmtree(dir);
}

/* The same check through mm_model_load: the message names the weights file. */
static void test_bad_weights_in_folder(void **state)
{
    char *dir = st_tmpdir(), path[1024];
    st_write_text(st_join(path, sizeof path, dir, "config.json"), "{\"model_type\": \"toy\"}");
    st_write_raw(st_join(path, sizeof path, dir, "model.safetensors"), ST_AUTO, ENTRY("\"F32\"", "[4]", "[0, 16]"),
                 "12345678", 8);
    mm_model *m = NULL;
    st_expect_error(mm_model_load(dir, &m), MM_ERR_FORMAT, path, "'w'", "past the end of the data section", NULL);
    assert_null(m);
    st_rmtree(dir);
}

static void test_weights_not_regular_file(void **state)
{
    char *dir = st_tmpdir(), path[1024];
    st_write_text(st_join(path, sizeof path, dir, "config.json"), "{\"model_type\": \"toy\"}");
    assert_int_equal(mkdir(st_join(path, sizeof path, dir, "model.safetensors"), 0700), 0);
    mm_model *m = NULL;
    st_expect_error(mm_model_load(dir, &m), MM_ERR_IO, path, "not a regular file", NULL);
    st_rmtree(dir);
}

/* A folder with config.json `config` (NULL: none) and no weights unless
 * `weights`; mm_model_load must fail with `want` and both substrings. */
static void folder_fails(const char *config, bool weights, mm_status want, const char *s1, const char *s2)
{
    char *dir = st_tmpdir(), path[1024];
    if (config)
        st_write_text(st_join(path, sizeof path, dir, "config.json"), config);
    if (weights) {
        st_builder b;
        float x = 1;
        stb_init(&b);
        stb_add(&b, "x", "F32", 1, (int64_t[]){1}, &x, 4);
        stb_write(&b, st_join(path, sizeof path, dir, "model.safetensors"), 0);
        stb_free(&b);
    }
    mm_model *m = (mm_model *)dir;
    st_expect_error(mm_model_load(dir, &m), want, dir, s1, s2, NULL);
    assert_null(m);
    st_rmtree(dir);
}

static void test_missing_config(void **state)
{
    folder_fails(NULL, true, MM_ERR_IO, "/config.json", "No such file");
}

static void test_config_bad_json(void **state)
{
    folder_fails("{\"model_type\": \"toy\",\n \"x\": }", true, MM_ERR_FORMAT, "config.json: invalid JSON", "line 2");
}

static void test_config_not_object(void **state)
{
    folder_fails("[\"model_type\"]", true, MM_ERR_FORMAT, "config.json", "not a JSON object");
}

static void test_config_without_model_type(void **state)
{
    folder_fails("{\"d_model\": 64}", true, MM_ERR_FORMAT, "config.json", "no \"model_type\" string");
}

static void test_config_model_type_not_string(void **state)
{
    folder_fails("{\"model_type\": 3}", true, MM_ERR_FORMAT, "config.json", "no \"model_type\" string");
}

static void test_missing_weights(void **state)
{
    folder_fails("{\"model_type\": \"toy\"}", false, MM_ERR_IO, "model.safetensors nor",
                 "model.safetensors.index.json");
}

static void test_missing_folder(void **state)
{
    mm_model *m = NULL;
    st_expect_error(mm_model_load("/nonexistent/mmrun-model", &m), MM_ERR_IO, "/nonexistent/mmrun-model/config.json",
                    "No such file", NULL);
    st_expect_error(mm_safetensors_open("/nonexistent/x.safetensors", &m), MM_ERR_IO, "/nonexistent/x.safetensors",
                    "No such file", NULL);
    st_expect_error(mm_model_load(NULL, &m), MM_ERR_INVALID, NULL);
    st_expect_error(mm_safetensors_open("x", NULL), MM_ERR_INVALID, NULL);
}

int main(void)
{
    enum { N = sizeof cases / sizeof cases[0] };
    struct CMUnitTest tests[N + 10];
    for (size_t i = 0; i < N; i++)
        tests[i] = (struct CMUnitTest){cases[i].name, test_bad_file, NULL, NULL, (void *)&cases[i]};
    const struct CMUnitTest more[] = {
        cmocka_unit_test(test_bad_weights_in_folder),     cmocka_unit_test(test_weights_not_regular_file),
        cmocka_unit_test(test_missing_config),            cmocka_unit_test(test_config_bad_json),
        cmocka_unit_test(test_config_not_object),         cmocka_unit_test(test_config_without_model_type),
        cmocka_unit_test(test_config_model_type_not_string), cmocka_unit_test(test_missing_weights),
        cmocka_unit_test(test_missing_folder),
    };
    size_t n = N;
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        tests[n++] = more[i];
    return _cmocka_run_group_tests("model_bad", tests, n, NULL, NULL);
}
