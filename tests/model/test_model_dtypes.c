/* F16/BF16/I32 tensors, scalars, skipped dtypes and misaligned data
 * sections, from safetensors files written at test time; the half-precision
 * conversions against exact known values. */
#include "cpu/vec.h"
#include "st_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint16_t f16_bits[8] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x3c00, 0x7c00, 0xfc00, 0x3555};
static const uint16_t bf16_bits[6] = {0x3f80, 0xc040, 0x8000, 0x0001, 0x7f80, 0x4049};
static const int32_t i32_vals[4] = {-7, 0, 2147483647, -2147483647 - 1};
static const int64_t i64_vals[4] = {0, 1, 2, 3};

/* Writes a file with every loaded dtype plus skipped ones; data_mod picks
 * the data section's alignment. */
static char *write_mixed(char *path, size_t size, size_t data_mod)
{
    char *dir = st_tmpdir();
    st_builder b;
    stb_init(&b);
    float scalar = 0.25f, f32[3] = {1.5f, -2.0f, 3.0e-8f};
    uint8_t mask6[2] = {1, 0};
    stb_add(&b, "half", "F16", 2, (int64_t[]){2, 4}, f16_bits, sizeof f16_bits);
    stb_add(&b, "brain", "BF16", 1, (int64_t[]){6}, bf16_bits, sizeof bf16_bits);
    stb_add(&b, "ids", "I32", 2, (int64_t[]){2, 2}, i32_vals, sizeof i32_vals);
    stb_add(&b, "position_ids", "I64", 2, (int64_t[]){1, 4}, i64_vals, sizeof i64_vals);
    stb_add(&b, "scale", "F32", 0, NULL, &scalar, sizeof scalar);
    stb_add(&b, "empty", "F32", 2, (int64_t[]){0, 3}, NULL, 0);
    stb_add(&b, "vec", "F32", 1, (int64_t[]){3}, f32, sizeof f32);
    stb_add(&b, "mask6d", "U8", 6, (int64_t[]){1, 1, 1, 1, 1, 2}, mask6, sizeof mask6);
    stb_write(&b, st_join(path, size, dir, "mixed.safetensors"), data_mod);
    stb_free(&b);
    return dir;
}

static const mm_weight *need(const mm_model *m, const char *name, mm_dtype dtype, int32_t n_dims)
{
    const mm_weight *w = NULL;
    if (mm_model_weight_get(m, name, &w) != MM_OK)
        fail_msg("%s", mm_error_message());
    assert_string_equal(w->name, name);
    assert_int_equal(w->dtype, dtype);
    assert_int_equal(w->n_dims, n_dims);
    return w;
}

static void check_mixed(const mm_model *m)
{
    assert_int_equal(mm_model_weight_count(m), 6); /* I64 and U8 skipped */
    const mm_weight *w = need(m, "half", MM_DTYPE_F16, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 4);
    assert_int_equal(w->nbytes, sizeof f16_bits);
    assert_memory_equal(w->data, f16_bits, sizeof f16_bits);

    w = need(m, "brain", MM_DTYPE_BF16, 1);
    assert_int_equal(w->shape[0], 6);
    assert_int_equal(w->nbytes, sizeof bf16_bits);
    assert_memory_equal(w->data, bf16_bits, sizeof bf16_bits);

    w = need(m, "ids", MM_DTYPE_I32, 2);
    assert_int_equal(w->nbytes, sizeof i32_vals);
    assert_int_equal((uintptr_t)w->data % 4, 0);
    assert_memory_equal(w->data, i32_vals, sizeof i32_vals);
    assert_int_equal(((const int32_t *)w->data)[3], INT32_MIN);

    w = need(m, "scale", MM_DTYPE_F32, 0); /* shape []: one element */
    assert_int_equal(w->nbytes, 4);
    assert_true(*(const float *)w->data == 0.25f);

    w = need(m, "empty", MM_DTYPE_F32, 2);
    assert_int_equal(w->shape[0], 0);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(w->nbytes, 0);

    w = need(m, "vec", MM_DTYPE_F32, 1);
    assert_int_equal((uintptr_t)w->data % 4, 0);
    const float *v = w->data;
    assert_true(v[0] == 1.5f && v[1] == -2.0f && v[2] == 3.0e-8f);

    /* skipped dtypes are not in the map; _get says why */
    assert_null(mm_model_weight_find(m, "position_ids"));
    assert_null(mm_model_weight_find(m, "mask6d"));
    const mm_weight *out = NULL;
    st_expect_error(mm_model_weight_get(m, "position_ids", &out), MM_ERR_UNSUPPORTED, "position_ids", NULL);
    st_expect_error(mm_model_weight_get(m, "nope", &out), MM_ERR_FORMAT, "'nope'", NULL);

    /* sorted by name, reachable by index */
    const char *names[] = {"brain", "empty", "half", "ids", "scale", "vec"};
    for (int32_t i = 0; i < 6; i++)
        assert_string_equal(mm_model_weight_at(m, i)->name, names[i]);
    assert_null(mm_model_weight_at(m, 6));
    assert_null(mm_model_weight_at(m, -1));
}

static void test_dtypes_loaded(void **state)
{
    char path[1024];
    char *dir = write_mixed(path, sizeof path, 0);
    mm_model *m = NULL;
    if (mm_safetensors_open(path, &m) != MM_OK)
        fail_msg("%s", mm_error_message());
    check_mixed(m);
    assert_string_equal(mm_model_dir(m), dir);
    assert_null(mm_model_type(m)); /* no config.json */
    assert_false(mm_config_has(m, "model_type"));
    int64_t v;
    st_expect_error(mm_config_int(m, "d_model", &v), MM_ERR_FORMAT, "d_model", NULL);
    /* the data section was aligned: tensors point into one mapping */
    const uint8_t *half = mm_model_weight_find(m, "half")->data;
    const uint8_t *vec = mm_model_weight_find(m, "vec")->data;
    assert_int_equal(vec - half, 16 + 12 + 16 + 32 + 4);
    mm_model_free(m);
    st_rmtree(dir);
}

/* A header whose length leaves the data section at an odd offset: floats
 * must still come back aligned and exact. */
static void test_dtypes_misaligned(void **state)
{
    for (size_t mod = 1; mod < 8; mod++) {
        char path[1024];
        char *dir = write_mixed(path, sizeof path, mod);
        mm_model *m = NULL;
        if (mm_safetensors_open(path, &m) != MM_OK)
            fail_msg("data_mod %zu: %s", mod, mm_error_message());
        check_mixed(m);
        mm_model_free(m);
        st_rmtree(dir);
    }
}

static void expect_f(float got, float want)
{
    if (!(got == want && signbit(got) == signbit(want)) && !(isnan(got) && isnan(want)))
        fail_msg("got %.9g want %.9g", got, want);
}

static void test_f16_values(void **state)
{
    const float want[8] = {0.0f, -0.0f, ldexpf(1, -24), 1023 * ldexpf(1, -24), 1.0f, INFINITY, -INFINITY,
                           0.333251953125f};
    for (int i = 0; i < 8; i++)
        expect_f(mm_f16_to_f32(f16_bits[i]), want[i]);
    expect_f(mm_f16_to_f32(0x7bff), 65504.0f);
    expect_f(mm_f16_to_f32(0x0400), ldexpf(1, -14)); /* smallest normal */
    assert_true(isnan(mm_f16_to_f32(0x7e00)));
    assert_true(isnan(mm_f16_to_f32(0xfc01)));
    /* every non-NaN half survives f16 -> f32 -> f16 */
    for (uint32_t h = 0; h < 0x10000; h++)
        if ((h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0)
            assert_int_equal(mm_f32_to_f16(mm_f16_to_f32((uint16_t)h)), h);
}

/* The CPU backend's in-place conversions (cpu/vec.c), F16C and portable,
 * agree with mm_f16_to_f32 / mm_bf16_to_f32 on every 16-bit pattern. */
static void test_half_vectors(void **state)
{
    (void)state;
    enum { N = 0x10000 };
    static uint16_t h[N];
    static float want[N], got[N], ones[N];
    for (int bf16 = 0; bf16 < 2; bf16++) {
        for (uint32_t i = 0; i < N; i++) {
            h[i] = (uint16_t)i;
            want[i] = bf16 ? mm_bf16_to_f32(h[i]) : mm_f16_to_f32(h[i]);
            ones[i] = 1.0f;
        }
        for (int portable = 0; portable < 2; portable++) {
            memset(got, 0, sizeof got);
            (portable ? mm_vec_widen_portable : mm_vec_widen)(got, h, N - 3, bf16); /* odd length: the tails */
            for (uint32_t i = 0; i < N - 3; i++)
                if (isnan(want[i]) ? !isnan(got[i]) : memcmp(&got[i], &want[i], 4) != 0)
                    fail_msg("%s %s widen of 0x%04x: %g, want %g", portable ? "portable" : "dispatched",
                             bf16 ? "bf16" : "f16", i, got[i], want[i]);
            assert_true(got[N - 3] == 0.0f); /* nothing written past n */
            /* a dot over the finite values of one binade against the exact sum */
            uint16_t lo = bf16 ? 0x3f80 : 0x3c00, n = bf16 ? 0x80 : 0x400; /* [1, 2) */
            double exact = 0;
            for (uint16_t k = 0; k < n; k++)
                exact += want[lo + k];
            float d = (portable ? mm_vec_dot_half_portable : mm_vec_dot_half)(h + lo, bf16, ones, n - 1) +
                      want[lo + n - 1];
            assert_true(fabs(d - exact) <= 1e-6 * exact);
        }
    }
}

static void test_f16_rounding(void **state)
{
    /* ties go to the even neighbour */
    assert_int_equal(mm_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);
    assert_int_equal(mm_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    assert_int_equal(mm_f32_to_f16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)), 0x3c01); /* above the tie */
    assert_int_equal(mm_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(mm_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(mm_f32_to_f16(65520.0f), 0x7c00); /* rounds up to inf */
    assert_int_equal(mm_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(mm_f32_to_f16(ldexpf(1, -25)), 0x0000);     /* tie with 0: even */
    assert_int_equal(mm_f32_to_f16(3 * ldexpf(1, -26)), 0x0001); /* 0.75 ulp up */
    assert_int_equal(mm_f32_to_f16(3 * ldexpf(1, -25)), 0x0002); /* 1.5 ulp: tie to even 2 */
    assert_int_equal(mm_f32_to_f16(-INFINITY), 0xfc00);
    assert_true((mm_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (mm_f32_to_f16(NAN) & 0x3ff) != 0);
}

static void test_bf16_values(void **state)
{
    const float want[6] = {1.0f, -3.0f, -0.0f, ldexpf(1, -133), INFINITY, 3.140625f};
    for (int i = 0; i < 6; i++)
        expect_f(mm_bf16_to_f32(bf16_bits[i]), want[i]);
    assert_int_equal(mm_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80); /* tie: even */
    assert_int_equal(mm_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82);
    assert_int_equal(mm_f32_to_bf16(3.14159265f), 0x4049);
    for (uint32_t h = 0; h < 0x10000; h++)
        if ((h & 0x7f80) != 0x7f80 || (h & 0x7f) == 0)
            assert_int_equal(mm_f32_to_bf16(mm_bf16_to_f32((uint16_t)h)), h);
}

static void test_lookup_no_error(void **state)
{
    char path[1024];
    char *dir = write_mixed(path, sizeof path, 0);
    mm_model *m = NULL;
    assert_int_equal(mm_safetensors_open(path, &m), MM_OK);
    mm_error_set(MM_ERR_INVALID, "sentinel");
    assert_null(mm_model_weight_find(m, "absent"));
    assert_null(mm_model_weight_find(m, ""));
    assert_string_equal(mm_error_message(), "sentinel");
    for (int32_t i = 0; i < mm_model_weight_count(m); i++) {
        const mm_weight *w = mm_model_weight_at(m, i);
        assert_ptr_equal(mm_model_weight_find(m, w->name), w);
    }
    mm_model_free(m);
    mm_model_free(NULL);
    assert_null(mm_model_dir(NULL));
    assert_null(mm_model_type(NULL));
    assert_int_equal(mm_model_weight_count(NULL), 0);
    assert_null(mm_model_weight_find(NULL, "x"));
    st_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes_loaded),   cmocka_unit_test(test_dtypes_misaligned),
        cmocka_unit_test(test_f16_values),      cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_bf16_values),     cmocka_unit_test(test_lookup_no_error),
        cmocka_unit_test(test_half_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
