/* Logit processors, samplers and beam search (mm/generate.h) on small
 * hand-made distributions whose answers can be worked out on paper. The
 * decoders' fixture tests then check them against transformers' ids. */
#include "test_util.h"

#include "mm/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NINF (-INFINITY)

static void test_log_softmax(void **state)
{
    (void)state;
    float x[4] = {1, 2, 3, NINF}, y[4];
    float lse = mm_log_softmax(x, 4, y);
    assert_float_equal(lse, logf(expf(1) + expf(2) + expf(3)), 1e-6);
    double sum = 0;
    for (int i = 0; i < 3; i++)
        sum += exp(y[i]);
    assert_float_equal(sum, 1.0, 1e-6);
    assert_true(y[3] == NINF);
    float all[3] = {NINF, NINF, NINF};
    assert_true(mm_log_softmax(all, 3, all) == NINF);
    assert_int_equal(mm_argmax_f32((const float[]){1, 5, 5, 2}, 4), 1); /* first on ties */
}

static void test_processors(void **state)
{
    (void)state;
    float l[6] = {1, -2, 3, 0.5f, -1, 2};
    mm_logits_suppress(l, 6, (const int32_t[]){2, 7, -1, 4}, 4); /* out-of-range ids ignored */
    assert_true(l[2] == NINF && l[4] == NINF);
    assert_float_equal(l[0], 1, 0);

    float r[4] = {2, -2, 1, 4};
    /* token 0 twice is penalised once; 1 (negative) multiplied */
    mm_logits_repetition_penalty(r, 4, (const int32_t[]){0, 1, 0}, 3, 2.0f);
    assert_float_equal(r[0], 1, 0);
    assert_float_equal(r[1], -4, 0);
    assert_float_equal(r[2], 1, 0);

    /* history 5 6 7 5 6: the 3-gram "5 6 7" was seen, so after "5 6" token 7 is banned */
    float g[10];
    for (int i = 0; i < 10; i++)
        g[i] = 0;
    mm_logits_no_repeat_ngram(g, 10, (const int32_t[]){5, 6, 7, 5, 6}, 5, 3);
    for (int i = 0; i < 10; i++)
        assert_true(i == 7 ? g[i] == NINF : g[i] == 0);
    /* bigram: after "6", what followed 6 before (7) is banned */
    for (int i = 0; i < 10; i++)
        g[i] = 0;
    mm_logits_no_repeat_ngram(g, 10, (const int32_t[]){5, 6, 7, 5, 6}, 5, 2);
    for (int i = 0; i < 10; i++)
        assert_true(i == 7 ? g[i] == NINF : g[i] == 0);
    /* too short a history bans nothing */
    mm_logits_no_repeat_ngram(g, 10, (const int32_t[]){5}, 1, 3);
}

/* A toy Whisper vocabulary: text 0..7, eot 8, notimestamps 9, timestamps 10..19. */
static const mm_whisper_timestamp_rules TS = {.timestamp_begin = 10, .eot = 8, .no_timestamps = 9,
                                              .max_initial_timestamp_index = 2};

static void flat(float *l)
{
    for (int i = 0; i < 20; i++)
        l[i] = 0;
}

static void test_whisper_timestamps(void **state)
{
    (void)state;
    float l[20];
    /* first token: a timestamp no later than index 2 */
    flat(l);
    mm_logits_whisper_timestamps(l, 20, NULL, 0, &TS);
    for (int i = 0; i < 20; i++)
        assert_true((i >= 10 && i <= 12) == (l[i] > NINF));
    /* <|0.00|> text: the pair is open, text may follow, earlier stamps may not */
    flat(l);
    l[3] = 5.0f; /* a likely text token (flat text would lose to the timestamps' mass) */
    mm_logits_whisper_timestamps(l, 20, (const int32_t[]){10, 3}, 2, &TS);
    assert_true(l[9] == NINF);
    assert_true(l[10] == NINF);
    assert_true(l[3] > NINF && l[11] > NINF);
    /* ... text <|0.40|>: the last is a timestamp after text: text is banned,
     * the same stamp may close the pair, earlier ones may not */
    flat(l);
    l[8] = 5.0f;
    mm_logits_whisper_timestamps(l, 20, (const int32_t[]){10, 3, 14}, 3, &TS);
    for (int i = 0; i < 8; i++)
        assert_true(l[i] == NINF);
    assert_true(l[8] > NINF && l[14] > NINF && l[13] == NINF);
    /* ... <|0.40|><|0.40|>: a pair just closed: no timestamp next */
    flat(l);
    mm_logits_whisper_timestamps(l, 20, (const int32_t[]){10, 3, 14, 14}, 4, &TS);
    for (int i = 10; i < 20; i++)
        assert_true(l[i] == NINF);
    assert_true(l[0] > NINF);
    /* timestamps that together outweigh the best text token win */
    flat(l);
    l[2] = 1.0f; /* best text: e^1 = 2.72 < 10 timestamps of e^0 = 10 */
    mm_logits_whisper_timestamps(l, 20, (const int32_t[]){3}, 1, &TS);
    for (int i = 0; i < 10; i++)
        assert_true(l[i] == NINF);
    flat(l);
    l[2] = 3.0f; /* e^3 = 20.1 > 10: text stays */
    mm_logits_whisper_timestamps(l, 20, (const int32_t[]){3}, 1, &TS);
    assert_true(l[2] == 3.0f);
}

static void test_sampler_greedy_and_seeded(void **state)
{
    (void)state;
    enum { V = 50 };
    float base[V], l[V];
    test_fill_random(base, V, 3, -2, 2);
    int32_t want = mm_argmax_f32(base, V);
    mm_sampler *s = NULL;
    mm_sampling_params p = mm_sampling_default_params();
    assert_int_equal(mm_sampler_init(&p, V, &s), MM_OK);
    memcpy(l, base, sizeof l);
    assert_int_equal(mm_sampler_sample(s, l), want);
    mm_sampler_free(s);
    /* top-k 1 and a vanishing temperature are greedy too */
    p = (mm_sampling_params){.temperature = 1.0f, .top_k = 1, .top_p = 1.0f, .seed = 9};
    assert_int_equal(mm_sampler_init(&p, V, &s), MM_OK);
    for (int i = 0; i < 20; i++) {
        memcpy(l, base, sizeof l);
        assert_int_equal(mm_sampler_sample(s, l), want);
    }
    mm_sampler_free(s);
    p = (mm_sampling_params){.temperature = 1e-4f, .top_k = 0, .top_p = 1.0f, .seed = 9};
    assert_int_equal(mm_sampler_init(&p, V, &s), MM_OK);
    for (int i = 0; i < 20; i++) {
        memcpy(l, base, sizeof l);
        assert_int_equal(mm_sampler_sample(s, l), want);
    }
    mm_sampler_free(s);
    /* the same seed gives the same draws; another seed other draws */
    int32_t a[64], b[64], c[64];
    uint64_t seeds[3] = {42, 42, 43};
    int32_t *outs[3] = {a, b, c};
    for (int k = 0; k < 3; k++) {
        p = (mm_sampling_params){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = seeds[k]};
        assert_int_equal(mm_sampler_init(&p, V, &s), MM_OK);
        for (int i = 0; i < 64; i++) {
            memcpy(l, base, sizeof l);
            outs[k][i] = mm_sampler_sample(s, l);
        }
        mm_sampler_free(s);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    /* all banned: an error, not a token */
    float banned[3] = {NINF, NINF, NINF};
    p = mm_sampling_default_params();
    assert_int_equal(mm_sampler_init(&p, 3, &s), MM_OK);
    assert_int_equal(mm_sampler_sample(s, banned), -1);
    mm_sampler_free(s);
    assert_int_equal(mm_sampler_init(&(mm_sampling_params){.temperature = -1, .top_p = 1}, 3, &s), MM_ERR_INVALID);
}

/* Draw frequencies follow the warped distribution: probabilities 0.5, 0.3,
 * 0.15, 0.05; top-p 0.75 keeps {0.5, 0.3} (the tail 0.2 <= 0.25 goes), renormalised
 * to 0.625 / 0.375; top-k 3 keeps three. 40000 seeded draws: deterministic. */
static void test_sampler_distribution(void **state)
{
    (void)state;
    const double prob[4] = {0.5, 0.3, 0.15, 0.05};
    const struct { int32_t top_k; float top_p; double want[4]; } cases[] = {
        {0, 1.0f, {0.5, 0.3, 0.15, 0.05}},
        {0, 0.75f, {0.625, 0.375, 0, 0}},
        {3, 1.0f, {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mm_sampler *s = NULL;
        mm_sampling_params p = {.temperature = 1.0f, .top_k = cases[c].top_k, .top_p = cases[c].top_p, .seed = 5};
        assert_int_equal(mm_sampler_init(&p, 4, &s), MM_OK);
        int count[4] = {0};
        for (int i = 0; i < 40000; i++) {
            float l[4];
            for (int k = 0; k < 4; k++)
                l[k] = (float)log(prob[k]);
            int32_t t = mm_sampler_sample(s, l);
            assert_true(t >= 0 && t < 4);
            count[t]++;
        }
        for (int k = 0; k < 4; k++)
            assert_float_equal(count[k] / 40000.0, cases[c].want[k], 0.01);
        mm_sampler_free(s);
    }
}

/* A toy decoder over 4 tokens (0, 1, 2; 3 ends the text) whose next-token
 * distribution depends on the last token only. */
static void toy_logprobs(int32_t last, float *out)
{
    static const double p[5][4] = {
        {0.30, 0.30, 0.10, 0.30}, /* after 0 */
        {0.05, 0.05, 0.85, 0.05}, /* after 1: 2 is near certain */
        {0.10, 0.10, 0.10, 0.70}, /* after 2: likely the end */
        {0.25, 0.25, 0.25, 0.25}, /* after the end (unused) */
        {0.55, 0.45, 0.00, 0.00}, /* first step (prompt) */
    };
    for (int k = 0; k < 4; k++)
        out[k] = p[last][k] > 0 ? (float)log(p[last][k]) : NINF;
}

static void run_beams(int32_t n_beams, float length_penalty, mm_early_stopping es, int32_t max_new,
                      const int32_t **tokens, int32_t *n, float *score, mm_beam_search **keep)
{
    mm_beam_params p = {.n_beams = n_beams, .eos_id = 3, .max_new_tokens = max_new, .length_penalty = length_penalty,
                        .early_stopping = es};
    mm_beam_search *bs = NULL;
    assert_int_equal(mm_beam_search_init(&p, 4, &bs), MM_OK);
    int32_t last[8], parents[8], next[8];
    for (int b = 0; b < n_beams; b++)
        last[b] = 4;
    while (!mm_beam_search_done(bs)) {
        float lp[8 * 4];
        for (int b = 0; b < n_beams; b++)
            toy_logprobs(last[b], lp + b * 4);
        assert_int_equal(mm_beam_search_step(bs, lp, parents, next), MM_OK);
        for (int b = 0; b < n_beams; b++) {
            assert_true(parents[b] >= 0 && parents[b] < n_beams);
            last[b] = next[b];
        }
    }
    assert_int_equal(mm_beam_search_best(bs, tokens, n, score), MM_OK);
    *keep = bs;
}

static void test_beam_search(void **state)
{
    (void)state;
    const int32_t *t;
    int32_t n;
    float score;
    mm_beam_search *bs;
    /* greedy path: 0 (.55), then 0/1/3 tie at .3 -> 0 (lowest index) ... ;
     * one beam is greedy: 0 0 0 0 for 4 steps, no end */
    run_beams(1, 1.0f, MM_EARLY_STOPPING_HEURISTIC, 4, &t, &n, &score, &bs);
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(t[i], 0);
    assert_float_equal(score, (log(0.55) + 3 * log(0.3)) / 4, 1e-5);
    mm_beam_search_free(bs);
    /* two beams find 1 2 <end>: (.45 * .85 * .70) = 0.268 over 3 tokens,
     * score log(0.268)/3 = -0.439, better than any all-0 path */
    run_beams(2, 1.0f, MM_EARLY_STOPPING_HEURISTIC, 6, &t, &n, &score, &bs);
    assert_int_equal(n, 3);
    assert_int_equal(t[0], 1);
    assert_int_equal(t[1], 2);
    assert_int_equal(t[2], 3);
    assert_float_equal(score, (log(0.45) + log(0.85) + log(0.70)) / 3, 1e-5);
    mm_beam_search_free(bs);
    /* stopping at the first n_beams hypotheses (early_stopping=True) ends sooner */
    run_beams(2, 1.0f, MM_EARLY_STOPPING_ON, 6, &t, &n, &score, &bs);
    assert_true(mm_beam_search_done(bs));
    assert_int_equal(t[n - 1], 3);
    mm_beam_search_free(bs);
    /* a search that hits the length limit competes its open beams: with a
     * limit of 1 token, "0" (.55) beats "1" (.45) */
    run_beams(2, 1.0f, MM_EARLY_STOPPING_HEURISTIC, 1, &t, &n, &score, &bs);
    assert_int_equal(n, 1);
    assert_int_equal(t[0], 0);
    assert_float_equal(score, log(0.55), 1e-6);
    mm_beam_search_free(bs);
    /* bad parameters */
    mm_beam_params p = {.n_beams = 3, .eos_id = 9, .max_new_tokens = 4, .length_penalty = 1};
    assert_int_equal(mm_beam_search_init(&p, 4, &bs), MM_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_softmax),
        cmocka_unit_test(test_processors),
        cmocka_unit_test(test_whisper_timestamps),
        cmocka_unit_test(test_sampler_greedy_and_seeded),
        cmocka_unit_test(test_sampler_distribution),
        cmocka_unit_test(test_beam_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
