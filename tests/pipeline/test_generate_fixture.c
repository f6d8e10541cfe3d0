/* The decoding loop (mm_generate) on the vit-gpt2 fixture's decoder, from
 * the stored encoder states: greedy ids of both images decoded as one
 * batch, and beam search (3 beams, 16 tokens) ids and scores equal to
 * transformers' generate.
 *
 *     test_generate_fixture <cpu|vulkan> */
#include "test_runtime.h"
#include "test_util.h"

#include "mm/generate.h"
#include "mm/runtime.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE "vit-gpt2-tiny-random"
#define START 50256

static mm_runtime *g_rt;
static mm_model *g_model;
static json_object *g_expected;
static float *g_states; /* [2][197][64] */
static mm_shape g_shape;

/* results[i].ids of expected.json's `section` (greedy or beam) as new tokens. */
static int32_t reference(const char *section, int image, int32_t *ids, double *score, int32_t *upto)
{
    json_object *sec, *res, *r, *a, *v;
    assert_true(json_object_object_get_ex(g_expected, section, &sec));
    assert_true(json_object_object_get_ex(sec, "results", &res));
    r = json_object_array_get_idx(res, (size_t)image);
    assert_true(json_object_object_get_ex(r, "ids", &a));
    int32_t n = (int32_t)json_object_array_length(a) - 1; /* without the start token */
    for (int32_t i = 0; i < n; i++)
        ids[i] = json_object_get_int(json_object_array_get_idx(a, (size_t)i + 1));
    if (score)
        *score = json_object_object_get_ex(r, "sequence_score", &v) ? json_object_get_double(v) : NAN;
    if (upto)
        *upto = json_object_object_get_ex(r, "compare_ids_up_to_step", &v) ? json_object_get_int(v) : n;
    return n;
}

/* A decoder of n_seq sequences reading the first n_src stored images. */
static mm_decoder *decoder(int32_t n_seq, int32_t n_src, const int32_t *src_of_seq)
{
    mm_decoder *d = NULL;
    mm_shape shape = g_shape;
    shape.ne[2] = n_src;
    if (mm_decoder_init(g_rt, g_model, &(mm_decoder_params){.n_seq = n_seq, .n_ctx = 32}, &d) != MM_OK ||
        mm_decoder_set_source(d, g_states, &shape, src_of_seq) != MM_OK)
        fail_msg("decoder: %s", mm_error_message());
    return d;
}

static void test_greedy_batch(void **state)
{
    (void)state;
    mm_decoder *d = decoder(2, 2, NULL);
    mm_gen_params p = mm_gen_default_params();
    p.max_new_tokens = 16;
    p.eos_id = START;
    mm_gen_result r[2];
    const int32_t prompt[1] = {START};
    if (mm_generate(d, &p, prompt, 1, 0, 2, r) != MM_OK)
        fail_msg("generate: %s", mm_error_message());
    for (int b = 0; b < 2; b++) {
        int32_t want[32], upto;
        int32_t n = reference("greedy", b, want, NULL, &upto);
        print_message("image %d: %d tokens, comparing %d\n", b, r[b].n_tokens, upto);
        assert_int_equal(r[b].n_tokens, n);
        for (int32_t i = 0; i < upto; i++)
            if (r[b].tokens[i] != want[i])
                fail_msg("image %d step %d: %d, reference %d", b, i, r[b].tokens[i], want[i]);
        mm_gen_result_clear(&r[b]);
    }
    mm_decoder_free(d);
}

/* Both images, 3 beams each, as one batch of 6 sequences; beams reorder
 * their caches on the backend. */
static void test_beam_search(void **state)
{
    (void)state;
    const int32_t src[6] = {0, 0, 0, 1, 1, 1};
    mm_decoder *d = decoder(6, 2, src);
    mm_gen_params p = mm_gen_default_params();
    p.max_new_tokens = 16;
    p.eos_id = START;
    p.n_beams = 3;
    p.length_penalty = 1.0f;
    p.early_stopping = MM_EARLY_STOPPING_HEURISTIC;
    mm_gen_result r[2];
    const int32_t prompt[1] = {START};
    if (mm_generate(d, &p, prompt, 1, 0, 2, r) != MM_OK)
        fail_msg("generate: %s", mm_error_message());
    for (int b = 0; b < 2; b++) {
        int32_t want[32];
        double score;
        int32_t n = reference("beam", b, want, &score, NULL);
        print_message("image %d: beam score %.6f, reference %.6f\n", b, r[b].score, score);
        assert_int_equal(r[b].n_tokens, n);
        assert_memory_equal(r[b].tokens, want, (size_t)n * sizeof *want);
        assert_true(fabs(r[b].score - score) < 1e-3);
        mm_gen_result_clear(&r[b]);
    }
    mm_decoder_free(d);
}

/* Sampling: the same seed gives the same ids; top-k 1 is greedy. */
static void test_sampling(void **state)
{
    (void)state;
    mm_decoder *d = decoder(1, 1, NULL);
    const int32_t prompt[1] = {START};
    mm_gen_params p = mm_gen_default_params();
    p.max_new_tokens = 8;
    p.eos_id = START;
    p.sampling = (mm_sampling_params){.temperature = 1.0f, .top_k = 50, .top_p = 0.9f, .seed = 7};
    mm_gen_result a, b, g;
    assert_int_equal(mm_generate(d, &p, prompt, 1, 0, 1, &a), MM_OK);
    assert_int_equal(mm_generate(d, &p, prompt, 1, 0, 1, &b), MM_OK);
    assert_int_equal(a.n_tokens, b.n_tokens);
    assert_memory_equal(a.tokens, b.tokens, (size_t)a.n_tokens * sizeof *a.tokens);
    p.sampling.top_k = 1;
    assert_int_equal(mm_generate(d, &p, prompt, 1, 0, 1, &g), MM_OK);
    int32_t want[32];
    reference("greedy", 0, want, NULL, NULL);
    assert_memory_equal(g.tokens, want, 8 * sizeof *want);
    mm_gen_result_clear(&a);
    mm_gen_result_clear(&b);
    mm_gen_result_clear(&g);
    /* a decoder of the wrong size is refused */
    p.n_beams = 3;
    p.sampling = mm_sampling_default_params();
    assert_int_equal(mm_generate(d, &p, prompt, 1, 0, 1, &a), MM_ERR_INVALID);
    mm_decoder_free(d);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "cpu") && strcmp(argv[1], "vulkan"))) {
        fprintf(stderr, "usage: %s <cpu|vulkan>\n", argv[0]);
        return 2;
    }
    char dir[1024], path[1200];
    if (!test_shared_path(dir, sizeof dir, "fixtures/" FIXTURE "/config.json")) {
        if (test_fixtures_required())
            return 1;
        printf("SKIP: fixtures missing\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "%s/fixtures/" FIXTURE, test_shared_dir());
    snprintf(path, sizeof path, "%s/expected.json", dir);
    g_expected = json_object_from_file(path);
    int64_t shape[4];
    int32_t nd;
    g_states = test_load_expected(FIXTURE, "encoder_last_hidden_state", shape, &nd);
    g_shape = (mm_shape){.n_dims = 3, .ne = {shape[2], shape[1], shape[0], 1}};
    test_watch_validation();
    int rc = test_runtime_init(argv[1], &g_rt);
    if (rc)
        return rc;
    if (!g_expected || mm_model_load(dir, &g_model) != MM_OK) {
        fprintf(stderr, "FAIL: %s: %s\n", dir, mm_error_message());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_batch),
        cmocka_unit_test(test_beam_search),
        cmocka_unit_test(test_sampling),
    };
    char group[64];
    snprintf(group, sizeof group, "generate-vitgpt2-%s", argv[1]);
    rc = _cmocka_run_group_tests(group, tests, 3, NULL, NULL);
    mm_model_free(g_model);
    mm_runtime_free(g_rt);
    json_object_put(g_expected);
    free(g_states);
    return test_validation_verdict(rc);
}
