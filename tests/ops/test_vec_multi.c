/* The CPU backend's few-vector loops (cpu/vec_multi.c): what runs on this
 * CPU (AVX-512 where it has it) against the one-vector loops other CPUs
 * take, and both against sums in double: every vector count 1..8, F32, F16
 * and BF16 matrices, rows left over after the 3-4-row blocks, K and value
 * widths with and without a tail after the 16-wide loads, row strides
 * wider than a row. The op tests reach only the dispatched path. */
#include "cpu/vec.h"
#include "mm/tensor.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float urand(void)
{
    return (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
}

/* Element i of a matrix of type dt, written from x (rounded for 16 bits). */
static float put(void *m, mm_vec_dtype dt, int64_t i, float x)
{
    switch (dt) {
    case MM_VEC_F16:
        ((uint16_t *)m)[i] = mm_f32_to_f16(x);
        return mm_f16_to_f32(((uint16_t *)m)[i]);
    case MM_VEC_BF16:
        ((uint16_t *)m)[i] = mm_f32_to_bf16(x);
        return mm_bf16_to_f32(((uint16_t *)m)[i]);
    default:
        ((float *)m)[i] = x;
        return x;
    }
}

static bool close_to(const char *what, const float *got, const double *want, int64_t n, double atol)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= atol + 1e-5 * fabs(want[i]))) {
            print_error("%s: element %lld is %.9g, want %.9g\n", what, (long long)i, got[i], want[i]);
            return false;
        }
    return true;
}

static void test_dot_multi(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {{67, 83, 90}, {12, 48, 48}, {5, 16, 20}, {9, 7, 7}}; /* M, K, ldw */
    for (int dt = MM_VEC_F32; dt <= MM_VEC_BF16; dt++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int64_t N = 1; N <= MM_VEC_MULTI_MAX; N++) {
                int64_t M = shapes[s][0], K = shapes[s][1], ldw = shapes[s][2], ldb = K + 3;
                void *W = malloc((size_t)(M * ldw) * 4);
                float *Wf = malloc((size_t)(M * ldw) * sizeof *Wf), *B = malloc((size_t)(N * ldb) * sizeof *B);
                float *C[2] = {calloc((size_t)(N * M), sizeof(float)), calloc((size_t)(N * M), sizeof(float))};
                double *want = calloc((size_t)(N * M), sizeof *want);
                for (int64_t i = 0; i < M * ldw; i++)
                    Wf[i] = put(W, (mm_vec_dtype)dt, i, urand());
                for (int64_t i = 0; i < N * ldb; i++)
                    B[i] = urand();
                for (int64_t n = 0; n < N; n++)
                    for (int64_t m = 0; m < M; m++)
                        for (int64_t k = 0; k < K; k++)
                            want[n * M + m] += (double)Wf[m * ldw + k] * B[n * ldb + k];
                /* rows [1, M): a range that starts mid-block, as a thread's does */
                mm_vec_dot_multi(C[0], M, W, (mm_vec_dtype)dt, ldw, B, ldb, N, 1, M, K);
                mm_vec_dot_multi_portable(C[1], M, W, (mm_vec_dtype)dt, ldw, B, ldb, N, 1, M, K);
                for (int p = 0; p < 2; p++) {
                    char what[128];
                    snprintf(what, sizeof what, "%s dot_multi dtype %d M=%lld K=%lld N=%lld", p ? "portable" : "dispatched",
                             dt, (long long)M, (long long)K, (long long)N);
                    for (int64_t n = 0; n < N; n++) {
                        assert_true(C[p][n * M] == 0.0f); /* row 0 is outside the range */
                        want[n * M] = 0.0;
                    }
                    assert_true(close_to(what, C[p], want, N * M, 1e-5 * (double)K));
                }
                free(W);
                free(Wf);
                free(B);
                free(C[0]);
                free(C[1]);
                free(want);
            }
}

static void test_axpy_multi(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {{40, 64, 64}, {33, 48, 70}, {7, 36, 36}, {5, 5, 9}, {300, 80, 128}}; /* rows, n, ldv */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int64_t N = 1; N <= MM_VEC_MULTI_MAX; N++) {
            int64_t rows = shapes[s][0], n = shapes[s][1], ldv = shapes[s][2], ldp = rows + 2, ldy = n + 5;
            float *V = malloc((size_t)(rows * ldv) * sizeof *V), *P = malloc((size_t)(N * ldp) * sizeof *P);
            float *Y[2] = {malloc((size_t)(N * ldy) * sizeof(float)), malloc((size_t)(N * ldy) * sizeof(float))};
            double *want = calloc((size_t)(N * ldy), sizeof *want);
            for (int64_t i = 0; i < rows * ldv; i++)
                V[i] = urand();
            for (int64_t i = 0; i < N * ldp; i++)
                P[i] = i % 5 == 0 ? 0.0f : urand(); /* zero weights: skipped by the one-vector loop */
            for (int64_t i = 0; i < N * ldy; i++) {
                Y[0][i] = Y[1][i] = urand(); /* sums add onto what is there */
                want[i] = Y[0][i];
            }
            for (int64_t q = 0; q < N; q++)
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t c = 0; c < n; c++)
                        want[q * ldy + c] += (double)P[q * ldp + r] * V[r * ldv + c];
            mm_vec_axpy_multi(Y[0], ldy, P, ldp, V, ldv, N, rows, n);
            mm_vec_axpy_multi_portable(Y[1], ldy, P, ldp, V, ldv, N, rows, n);
            for (int p = 0; p < 2; p++) {
                char what[128];
                snprintf(what, sizeof what, "%s axpy_multi rows=%lld n=%lld N=%lld", p ? "portable" : "dispatched",
                         (long long)rows, (long long)n, (long long)N);
                assert_true(close_to(what, Y[p], want, N * ldy, 1e-5 * (double)rows));
            }
            free(V);
            free(P);
            free(Y[0]);
            free(Y[1]);
            free(want);
        }
}

int main(void)
{
    srand(7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_multi),
        cmocka_unit_test(test_axpy_multi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
