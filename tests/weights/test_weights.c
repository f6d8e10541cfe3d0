/* Weight sets (mm_weights): a model's weights belong to whoever loaded it,
 * never to a cache the backend keys by address.
 *
 *     test_weights <cpu|vulkan>      (Vulkan variants through the environment)
 *
 * - stale weights: in one runtime, encode with F16 folder A, free it, then
 *   folder B (A with every layer-norm weight halved, often mapped where A
 *   was): B's states must equal B's in a fresh runtime.
 * - 50 models loaded, run and freed in one runtime: the backend's weight
 *   memory returns to zero each time and its working memory stays flat.
 * - a compute that fails after weight uploads were queued (staging path):
 *   the same weights used again give the right numbers.
 * - a graph bound to a weight set reading another model's weight, or a set
 *   computed on another backend, is refused with a message. */
#include "test_model_copy.h"
#include "test_util.h"

#include "mm/runtime.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE "vit-gpt2-tiny-random"

static mm_backend_kind g_kind;

static mm_runtime *runtime_new(void)
{
    mm_runtime_params p = mm_runtime_default_params();
    p.backend.kind = g_kind;
    mm_runtime *rt = NULL;
    if (mm_runtime_init(&p, &rt) != MM_OK)
        fail_msg("mm_runtime_init: %s", mm_error_message());
    return rt;
}

static const char *fixture_dir(void)
{
    static char dir[1024];
    char probe[1024];
    TEST_REQUIRE_SHARED(probe, "fixtures/" FIXTURE "/model.safetensors");
    snprintf(dir, sizeof dir, "%s/fixtures/" FIXTURE, test_shared_dir());
    return dir;
}

static float halve_layer_norms(const char *name, float v)
{
    size_t n = strlen(name);
    bool ln_weight = strstr(name, "layernorm") && n > 7 && strcmp(name + n - 7, ".weight") == 0;
    return ln_weight ? v * 0.5f : v;
}

/* F16 copies of the fixture: A as it is, B with halved layer norms. */
static void make_folders(char **a, char **b)
{
    mm_model *m = NULL;
    if (mm_model_load(fixture_dir(), &m) != MM_OK)
        fail_msg("%s: %s", fixture_dir(), mm_error_message());
    *a = test_model_copy(m, fixture_dir(), MM_DTYPE_F16, true, NULL);
    *b = test_model_copy(m, fixture_dir(), MM_DTYPE_F16, true, halve_layer_norms);
    mm_model_free(m);
}

/* Encodes the stored pixel values with folder dir in rt; a malloc'd result.
 * *addr receives where the first weight was mapped. */
static float *encode(mm_runtime *rt, const char *dir, size_t *n, const void **addr)
{
    int64_t shape[4];
    int32_t dims;
    float *input = test_load_expected(FIXTURE, "pixel_values", shape, &dims);
    mm_model *m = NULL;
    mm_encoder *enc = NULL;
    if (mm_model_load(dir, &m) != MM_OK || mm_encoder_init(rt, m, &enc) != MM_OK)
        fail_msg("%s: %s", dir, mm_error_message());
    if (addr)
        *addr = mm_model_weight_at(m, 0)->data;
    float *out = NULL;
    mm_shape os;
    if (mm_encoder_run(enc, input, (int32_t)shape[0], &out, &os) != MM_OK)
        fail_msg("%s: mm_encoder_run: %s", dir, mm_error_message());
    *n = (size_t)(os.ne[0] * os.ne[1] * os.ne[2]);
    mm_encoder_free(enc);
    mm_model_free(m);
    free(input);
    return out;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void test_stale_weights(void **state)
{
    (void)state;
    char *a, *b;
    make_folders(&a, &b);
    mm_runtime *rt = runtime_new();
    size_t na, nb, nf;
    const void *addr_a, *addr_b;
    float *out_a = encode(rt, a, &na, &addr_a);
    float *out_b = encode(rt, b, &nb, &addr_b);
    mm_runtime_free(rt);
    rt = runtime_new();
    float *fresh_b = encode(rt, b, &nf, NULL);
    mm_runtime_free(rt);
    assert_int_equal(na, nb);
    assert_int_equal(nb, nf);
    print_message("B mapped %s A's address\n", addr_a == addr_b ? "at" : "away from");
    /* the edit matters, so a stale A would show */
    double ab = max_abs_diff(out_a, fresh_b, na);
    print_message("A vs B: max abs difference %.3g\n", ab);
    assert_true(ab > 0.1);
    bool same = test_allclose("B after A in one runtime vs B in a fresh one", out_b, fresh_b, nb, 1e-6, 0);
    free(out_a);
    free(out_b);
    free(fresh_b);
    test_model_copy_remove(a);
    test_model_copy_remove(b);
    assert_true(same);
}

static void test_fifty_models_flat(void **state)
{
    (void)state;
    char *a, *b;
    make_folders(&a, &b);
    mm_runtime *rt = runtime_new();
    mm_backend *be = mm_runtime_backend(rt);
    int64_t shape[4];
    int32_t dims;
    float *input = test_load_expected(FIXTURE, "pixel_values", shape, &dims);
    uint64_t work_first = 0, weights_loaded = 0;
    for (int i = 0; i < 50; i++) {
        mm_model *m = NULL;
        mm_encoder *enc = NULL;
        const char *dir = i % 2 ? b : a;
        if (mm_model_load(dir, &m) != MM_OK || mm_encoder_init(rt, m, &enc) != MM_OK)
            fail_msg("model %d: %s", i, mm_error_message());
        float *out = NULL;
        mm_shape os;
        if (mm_encoder_run(enc, input, (int32_t)shape[0], &out, &os) != MM_OK)
            fail_msg("model %d: %s", i, mm_error_message());
        free(out);
        mm_backend_memory used = mm_backend_memory_used(be);
        /* F16 weights: the layer norms are widened on the CPU, and a GPU
         * holds every weight: a loaded model always costs something */
        assert_true(used.weights > 0);
        if (i == 0) {
            weights_loaded = used.weights;
        } else if (used.weights != weights_loaded) {
            fail_msg("model %d holds %llu weight bytes, the first held %llu", i, (unsigned long long)used.weights,
                     (unsigned long long)weights_loaded);
        }
        mm_encoder_free(enc);
        mm_model_free(m);
        used = mm_backend_memory_used(be);
        if (used.weights != 0)
            fail_msg("model %d freed, the backend still holds %llu weight bytes", i, (unsigned long long)used.weights);
        if (i == 0)
            work_first = used.work;
        else if (used.work > work_first)
            fail_msg("model %d: working memory grew from %llu to %llu bytes", i, (unsigned long long)work_first,
                     (unsigned long long)used.work);
    }
    print_message("50 models: %llu weight bytes each while loaded, 0 after; working memory %llu bytes\n",
                  (unsigned long long)weights_loaded, (unsigned long long)work_first);
    free(input);
    mm_runtime_free(rt);
    test_model_copy_remove(a);
    test_model_copy_remove(b);
}

/* A model with a small F16 matrix "w" {K,N} and a vector "big" whose F32
 * form exceeds lavapipe's 2 GiB allocation limit: a sparse file, so its
 * gigabyte costs no disk and is never read when the upload is refused. */
#define SMALL_K 64
#define SMALL_N 48
#define BIG_N ((INT64_C(1) << 29) + 1024)

static char *write_sparse_model(uint16_t *w_vals)
{
    char *dir = strdup("/tmp/mm-test-weights-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    char path[1200], header[512];
    size_t wbytes = SMALL_K * SMALL_N * 2;
    int hlen = snprintf(header, sizeof header,
                        "{\"w\": {\"dtype\": \"F16\", \"shape\": [%d, %d], \"data_offsets\": [0, %zu]}, "
                        "\"big\": {\"dtype\": \"F16\", \"shape\": [%lld], \"data_offsets\": [%zu, %lld]}}",
                        SMALL_N, SMALL_K, wbytes, (long long)BIG_N, wbytes, (long long)(wbytes + BIG_N * 2));
    while (hlen % 8)
        header[hlen++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    uint64_t len = (uint64_t)hlen;
    assert_int_equal(write(fd, &len, 8), 8);
    assert_int_equal(write(fd, header, (size_t)hlen), hlen);
    assert_int_equal(write(fd, w_vals, wbytes), (ssize_t)wbytes);
    assert_int_equal(ftruncate(fd, (off_t)(8 + hlen + wbytes + BIG_N * 2)), 0);
    close(fd);
    return dir;
}

/* y = w . x for the model's w, computed through the weight set `ws`;
 * with `big`, the graph also outputs big * 1 (after w in node order). */
static mm_status compute_wx(mm_backend *be, mm_weights *ws, const mm_model *m, const float *x, float *y, bool big)
{
    mm_graph *g = mm_graph_init();
    mm_tensor *w = mm_graph_weight(g, mm_model_weight_find(m, "w"));
    mm_tensor *xt = mm_graph_input(g, MM_DTYPE_F32, 2, (int64_t[]){SMALL_K, 3}, x);
    mm_tensor *yt = mm_matmul(g, w, xt);
    mm_graph_output(g, yt);
    if (big)
        mm_graph_output(g, mm_scale(g, mm_graph_weight(g, mm_model_weight_find(m, "big")), 1.0f));
    mm_graph_set_weights(g, ws);
    mm_status s = mm_backend_compute(be, g);
    if (s == MM_OK)
        s = mm_tensor_read(yt, y, SMALL_N * 3 * sizeof *y);
    mm_graph_free(g);
    return s;
}

static void test_failed_upload_retried(void **state)
{
    (void)state;
    if (g_kind != MM_BACKEND_VULKAN)
        skip(); /* the CPU backend reads these weights in place: nothing to upload */
    uint16_t w_vals[SMALL_K * SMALL_N];
    float wf[SMALL_K * SMALL_N], x[SMALL_K * 3], want[SMALL_N * 3], got[SMALL_N * 3];
    test_fill_random(wf, SMALL_K * SMALL_N, 7, -1, 1);
    test_fill_random(x, SMALL_K * 3, 8, -1, 1);
    for (int i = 0; i < SMALL_K * SMALL_N; i++) {
        w_vals[i] = mm_f32_to_f16(wf[i]);
        wf[i] = mm_f16_to_f32(w_vals[i]);
    }
    for (int r = 0; r < 3; r++)
        for (int n = 0; n < SMALL_N; n++) {
            double acc = 0;
            for (int k = 0; k < SMALL_K; k++)
                acc += (double)wf[n * SMALL_K + k] * x[r * SMALL_K + k];
            want[r * SMALL_N + n] = (float)acc;
        }
    char *dir = write_sparse_model(w_vals);
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    mm_model *m = NULL;
    if (mm_safetensors_open(path, &m) != MM_OK)
        fail_msg("%s: %s", path, mm_error_message());
    mm_runtime *rt = runtime_new();
    mm_backend *be = mm_runtime_backend(rt);
    mm_weights *ws = NULL;
    assert_int_equal(mm_weights_init(be, m, &ws), MM_OK);
    mm_status s = compute_wx(be, ws, m, x, got, true);
    if (s == MM_OK) {
        print_message("SKIP: this device allocates a %.1f GiB weight: the failure cannot be provoked\n",
                      BIG_N * 4 / 1073741824.0);
    } else {
        print_message("refused as expected: %s\n", mm_error_message());
        assert_non_null(strstr(mm_error_message(), "big"));
    }
    /* w's upload was queued before big's was refused: used again it must
     * be the real values, not uninitialised device memory */
    if (compute_wx(be, ws, m, x, got, false) != MM_OK)
        fail_msg("compute after the failure: %s", mm_error_message());
    bool ok = test_allclose("w . x after a failed compute", got, want, SMALL_N * 3, 1e-3, 1e-3);
    mm_weights_free(ws);
    mm_runtime_free(rt);
    mm_model_free(m);
    unlink(path);
    rmdir(dir);
    free(dir);
    assert_true(ok);
}

/* A graph bound to A's weight set that reads a weight of B, and a set
 * computed on another backend: both refused with a message. */
static void test_misuse_refused(void **state)
{
    (void)state;
    char *a, *b;
    make_folders(&a, &b);
    mm_model *ma = NULL, *mb = NULL;
    assert_int_equal(mm_model_load(a, &ma), MM_OK);
    assert_int_equal(mm_model_load(b, &mb), MM_OK);
    mm_runtime *rt = runtime_new();
    mm_backend *be = mm_runtime_backend(rt);
    mm_weights *ws = NULL;
    assert_int_equal(mm_weights_init(be, ma, &ws), MM_OK);

    const mm_weight *wb = mm_model_weight_at(mb, 0);
    mm_graph *g = mm_graph_init();
    mm_graph_output(g, mm_scale(g, mm_graph_weight(g, wb), 2.0f));
    mm_graph_set_weights(g, ws);
    assert_int_equal(mm_backend_compute(be, g), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), wb->name));
    assert_int_equal(mm_weights_load(ws, g), MM_ERR_INVALID);
    /* unbound, the same graph streams the weight and computes */
    mm_graph_set_weights(g, NULL);
    assert_int_equal(mm_backend_compute(be, g), MM_OK);

    mm_backend *other = NULL;
    assert_int_equal(mm_backend_init(&(mm_backend_params){.kind = MM_BACKEND_CPU, .n_threads = 1, .vk_device = -1},
                                     &other), MM_OK);
    mm_graph_free(g);
    g = mm_graph_init();
    mm_graph_output(g, mm_scale(g, mm_graph_weight(g, mm_model_weight_at(ma, 0)), 2.0f));
    mm_graph_set_weights(g, ws);
    assert_int_equal(mm_backend_compute(other, g), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "weight set"));
    assert_int_equal(mm_backend_compute(be, g), MM_OK);
    mm_graph_free(g);
    mm_backend_free(other);
    mm_weights_free(ws);
    mm_runtime_free(rt);
    mm_model_free(ma);
    mm_model_free(mb);
    test_model_copy_remove(a);
    test_model_copy_remove(b);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "cpu") && strcmp(argv[1], "vulkan"))) {
        fprintf(stderr, "usage: %s <cpu|vulkan>\n", argv[0]);
        return 2;
    }
    g_kind = strcmp(argv[1], "cpu") == 0 ? MM_BACKEND_CPU : MM_BACKEND_VULKAN;
    test_watch_validation();
    if (g_kind == MM_BACKEND_VULKAN) {
        mm_backend *probe = NULL;
        mm_backend_params p = mm_backend_default_params();
        p.kind = MM_BACKEND_VULKAN;
        if (mm_backend_init(&p, &probe) != MM_OK) {
            const char *req = getenv("MM_REQUIRE_VULKAN");
            if (req && strcmp(req, "1") == 0) {
                fprintf(stderr, "FAIL: no Vulkan backend: %s\n", mm_error_message());
                return 1;
            }
            printf("SKIP: no Vulkan backend: %s\n", mm_error_message());
            return 77;
        }
        mm_backend_free(probe);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_weights),
        cmocka_unit_test(test_fifty_models_flat),
        cmocka_unit_test(test_failed_upload_retried),
        cmocka_unit_test(test_misuse_refused),
    };
    char group[64];
    snprintf(group, sizeof group, "weights-%s", argv[1]);
    return test_validation_verdict(_cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0], NULL, NULL));
}
