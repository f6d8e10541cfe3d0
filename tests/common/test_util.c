#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *test_shared_dir(void)
{
    const char *env = getenv("MM_SHARED_DIR");
    return env && *env ? env : MM_TEST_SHARED_DIR;
}

bool test_fixtures_required(void)
{
    const char *env = getenv("MM_REQUIRE_FIXTURES");
    return env && strcmp(env, "1") == 0;
}

bool test_shared_path(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", test_shared_dir(), rel);
    return access(buf, R_OK) == 0;
}

bool test_allclose(const char *what, const float *got, const float *want, size_t n, double atol, double rtol)
{
    size_t bad = 0, worst = 0;
    double max_abs = 0, worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - (double)want[i]);
        double tol = atol + rtol * fabs((double)want[i]);
        if (isnan(got[i]) != isnan(want[i]))
            diff = INFINITY;
        else if (isnan(want[i]))
            diff = 0;
        if (diff > max_abs)
            max_abs = diff;
        if (diff - tol > worst_excess) {
            worst_excess = diff - tol;
            worst = i;
        }
        if (diff > tol)
            bad++;
    }
    print_message("%s: %zu values, max abs err %.3g (atol %.1g rtol %.1g)%s\n", what, n, max_abs, atol, rtol,
                  bad ? " MISMATCH" : "");
    if (bad)
        print_message("%s: %zu of %zu out of tolerance; worst at %zu: got %.9g want %.9g\n", what, bad, n, worst,
                      got[worst], want[worst]);
    return bad == 0;
}

void test_fill_random(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

float *test_load_expected(const char *fixture, const char *name, int64_t shape[4], int32_t *n_dims)
{
    char rel[512], path[1024];
    snprintf(rel, sizeof rel, "fixtures/%s/expected.safetensors", fixture);
    if (!test_shared_path(path, sizeof path, rel))
        fail_msg("missing %s", path);
    mm_model *st = NULL;
    if (mm_safetensors_open(path, &st) != MM_OK)
        fail_msg("%s: %s", path, mm_error_message());
    const mm_weight *w = mm_model_weight_find(st, name);
    if (!w)
        fail_msg("%s: no tensor %s", path, name);
    assert_int_equal(w->dtype, MM_DTYPE_F32);
    float *copy = malloc(w->nbytes);
    assert_non_null(copy);
    memcpy(copy, w->data, w->nbytes);
    *n_dims = w->n_dims;
    for (int i = 0; i < 4; i++)
        shape[i] = i < w->n_dims ? w->shape[i] : 1;
    mm_model_free(st);
    return copy;
}

static int g_validation_messages;

static void validation_log(mm_log_level level, const char *msg, void *user)
{
    (void)user;
    static const char *tags[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "mmrun: %s: %s\n", tags[level], msg);
    if (level >= MM_LOG_WARN && strncmp(msg, "vulkan validation:", 18) == 0)
        g_validation_messages++;
}

void test_watch_validation(void)
{
    mm_log_set(validation_log, NULL);
}

int test_validation_verdict(int rc)
{
    if (g_validation_messages == 0)
        return rc;
    printf("FAIL: %d Vulkan validation message(s), see stderr\n", g_validation_messages);
    return 1;
}
