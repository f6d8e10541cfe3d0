/* GPT-2 byte-level BPE: llama.cpp's 46 GPT-2 cases (made with transformers'
 * GPT-2 tokenizer) encode to their ids and decode back to their text; the
 * vit-gpt2 fixture's decoded strings; a tokenizer.json-only folder in both
 * merge spellings gives the same ids; transformers' merge order where a
 * naive priority queue differs; the 50k vocabulary loads in well under a
 * second. */
#include "tok_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GPT2_DIR "data/openai-whisper-old-assets/gpt2"

/* The .inp file: inputs separated by "\n__ggml_vocab_test__\n" (the file
 * ends with one); the .out file: one line of ids per input. */
static void run_llamacpp_cases(const mm_tokenizer *tok, int32_t *n_cases)
{
    char inp_path[1024], out_path[1024];
    TEST_REQUIRE_SHARED(inp_path, "data/llama.cpp/ggml-vocab-gpt-2.gguf.inp");
    TEST_REQUIRE_SHARED(out_path, "data/llama.cpp/ggml-vocab-gpt-2.gguf.out");
    char *inp = tt_slurp(inp_path), *out = tt_slurp(out_path);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *text = inp, *line = out;
    int32_t n = 0;
    for (char *end; (end = strstr(text, sep)); text = end + strlen(sep)) {
        *end = '\0';
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        int32_t want[1024], n_want = 0;
        for (char *p = line, *q; n_want < 1024; p = q) {
            long v = strtol(p, &q, 10);
            if (q == p)
                break;
            want[n_want++] = (int32_t)v;
        }
        char what[64];
        snprintf(what, sizeof what, "llama.cpp GPT-2 case %d", n);
        int32_t n_got;
        int32_t *got = tt_encode(tok, text, MM_TOKENIZE_SPECIAL, &n_got);
        tt_assert_ids(what, got, n_got, want, n_want);
        char *back = tt_decode(tok, got, n_got, 0);
        tt_assert_text(what, back, text);
        free(back);
        free(got);
        line = nl + 1;
        n++;
    }
    free(inp);
    free(out);
    *n_cases = n;
}

static void test_llamacpp_cases(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load(GPT2_DIR);
    assert_int_equal(mm_tokenizer_get_kind(tok), MM_TOKENIZER_GPT2);
    int32_t n = 0;
    run_llamacpp_cases(tok, &n);
    assert_int_equal(n, 46);
    mm_tokenizer_free(tok);
}

static void test_vocab_facts(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/vit-gpt2-tiny-random");
    assert_int_equal(mm_tokenizer_n_vocab(tok), 50257);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|endoftext|>"), 50256);
    assert_int_equal(mm_tokenizer_bos(tok), 50256);
    assert_int_equal(mm_tokenizer_eos(tok), 50256);
    assert_int_equal(mm_tokenizer_pad(tok), 50256);
    assert_int_equal(mm_tokenizer_unk(tok), 50256);
    assert_int_equal(mm_tokenizer_timestamp_begin(tok), -1);
    assert_int_equal(mm_tokenizer_max_length(tok), 1024);
    assert_true(mm_tokenizer_is_special(tok, 50256));
    assert_false(mm_tokenizer_is_special(tok, 220));
    assert_string_equal(mm_tokenizer_token(tok, 220), "\xc4\xa0"); /* "Ġ", a space */
    assert_null(mm_tokenizer_token(tok, 50257));
    assert_null(mm_tokenizer_token(tok, -1));
    assert_int_equal(mm_tokenizer_token_id(tok, "no such token"), -1);
    /* Special-token text: a token with MM_TOKENIZE_SPECIAL, plain text without. */
    int32_t n;
    int32_t *ids = tt_encode(tok, "a<|endoftext|>b", MM_TOKENIZE_SPECIAL, &n);
    int32_t want[] = {64, 50256, 65};
    tt_assert_ids("special parsed", ids, n, want, 3);
    free(ids);
    ids = tt_encode(tok, "a<|endoftext|>b", 0, &n);
    assert_true(n > 3);
    for (int32_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], 50256);
    char *text = tt_decode(tok, ids, n, 0);
    tt_assert_text("special as text", text, "a<|endoftext|>b");
    free(text);
    free(ids);
    /* Skipping special tokens; snprintf-style truncation of the output. */
    text = tt_decode(tok, want, 3, MM_DETOKENIZE_SKIP_SPECIAL);
    tt_assert_text("skip special", text, "ab");
    free(text);
    char small[4];
    size_t len = 0;
    assert_int_equal(mm_tokenizer_decode(tok, want, 3, 0, small, sizeof small, &len), MM_OK);
    assert_int_equal(len, strlen("a<|endoftext|>b"));
    assert_string_equal(small, "a<|");
    int32_t two[2];
    assert_int_equal(mm_tokenizer_encode(tok, "a<|endoftext|>b", MM_TOKENIZE_SPECIAL, two, 2, &n), MM_OK);
    assert_int_equal(n, 3);
    assert_int_equal(two[0], 64);
    assert_int_equal(two[1], 50256);
    mm_tokenizer_free(tok);
}

/* vit-gpt2: what GPT2Tokenizer.decode(skip_special_tokens=True) gave for
 * the generated ids. */
static void test_fixture_decoded(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/vit-gpt2-tiny-random");
    json_object *exp = tt_expected("vit-gpt2-tiny-random");
    uint32_t flags = MM_DETOKENIZE_SKIP_SPECIAL | (mm_tokenizer_cleanup_default(tok) ? MM_DETOKENIZE_CLEANUP : 0);
    assert_true(mm_tokenizer_cleanup_default(tok)); /* clean_up_tokenization_spaces: true */
    int checked = 0;
    const char *groups[] = {"greedy", "beam"};
    for (int g = 0; g < 2; g++) {
        json_object *res = tt_get(tt_get(exp, groups[g]), "results");
        for (size_t i = 0; i < json_object_array_length(res); i++) {
            json_object *r = json_object_array_get_idx(res, i);
            int32_t n;
            int32_t *ids = tt_int_array(tt_get(r, "ids"), &n);
            char *text = tt_decode(tok, ids, n, flags);
            char what[64];
            snprintf(what, sizeof what, "%s result %zu", groups[g], i);
            tt_assert_text(what, text, tt_str(r, "decoded"));
            free(text);
            free(ids);
            checked++;
        }
    }
    assert_int_equal(checked, 4);
    json_object_put(exp);
    mm_tokenizer_free(tok);
}

/* A folder holding only tokenizer.json (as many HF repositories do), with
 * the merges as "a b" strings or as ["a", "b"] pairs: same ids. */
static void test_tokenizer_json(void **state)
{
    (void)state;
    char src[1024];
    TEST_REQUIRE_SHARED(src, GPT2_DIR);
    for (int pairs = 0; pairs < 2; pairs++) {
        char dir[] = "/tmp/mm-tok-json-XXXXXX";
        assert_non_null(mkdtemp(dir));
        tt_write_tokenizer_json(src, dir, pairs, NULL,
                                "[{\"id\": 50256, \"content\": \"<|endoftext|>\", \"special\": true}]");
        tt_write_file(dir, "tokenizer_config.json",
                      "{\"tokenizer_class\": \"GPT2TokenizerFast\", \"eos_token\": \"<|endoftext|>\"}");
        mm_tokenizer *tok = NULL;
        if (mm_tokenizer_load(dir, &tok) != MM_OK)
            fail_msg("%s", mm_error_message());
        assert_int_equal(mm_tokenizer_n_vocab(tok), 50257);
        assert_int_equal(mm_tokenizer_eos(tok), 50256);
        assert_true(mm_tokenizer_is_special(tok, 50256));
        int32_t n = 0;
        run_llamacpp_cases(tok, &n);
        assert_int_equal(n, 46);
        mm_tokenizer_free(tok);
        tt_remove_folder(dir);
    }
}

/* transformers merges every occurrence of the best pair before it looks at
 * the pairs those merges made. With merges "ab a" (rank 0) and "a b"
 * (rank 1), "abab" is [ab, ab]: a heap that merged "ab a" as soon as it
 * appeared would give [aba, b]. */
static void test_merge_order(void **state)
{
    (void)state;
    char dir[] = "/tmp/mm-tok-order-XXXXXX";
    assert_non_null(mkdtemp(dir));
    tt_write_file(dir, "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"aba\": 3, \"c\": 4}");
    tt_write_file(dir, "merges.txt", "#version: 0.2\nab a\na b\n");
    mm_tokenizer *tok = NULL;
    if (mm_tokenizer_load(dir, &tok) != MM_OK)
        fail_msg("%s", mm_error_message());
    int32_t n;
    int32_t *ids = tt_encode(tok, "abab", 0, &n);
    int32_t want[] = {2, 2};
    tt_assert_ids("abab", ids, n, want, 2);
    free(ids);
    ids = tt_encode(tok, "aba", 0, &n); /* [ab, a] -> aba */
    int32_t want2[] = {3};
    tt_assert_ids("aba", ids, n, want2, 1);
    free(ids);
    /* A byte the vocabulary lacks, and no unk_token: a clear error. */
    n = -1;
    assert_int_equal(mm_tokenizer_encode(tok, "abz", 0, NULL, 0, &n), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "0x7a"));
    mm_tokenizer_free(tok);
    tt_remove_folder(dir);
}

/* Encoding from several threads at once (the word cache is shared): every
 * thread gets the ids one thread alone gets. */
typedef struct worker {
    const mm_tokenizer *tok;
    const char *const *texts;
    const int32_t *const *want;
    const int32_t *n_want;
    int n_texts, seed, mismatches;
} worker;

static void *worker_run(void *arg)
{
    worker *w = arg;
    int32_t ids[512];
    for (int round = 0; round < 200; round++) {
        int k = (w->seed * 7 + round * 13) % w->n_texts;
        int32_t n = 0;
        if (mm_tokenizer_encode(w->tok, w->texts[k], 0, ids, 512, &n) != MM_OK || n != w->n_want[k] ||
            memcmp(ids, w->want[k], (size_t)n * sizeof *ids) != 0)
            w->mismatches++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/vit-gpt2-tiny-random");
    /* Distinct words, so that the threads fill the cache as they go. */
    enum { N_TEXTS = 50, N_THREADS = 4 };
    char texts_buf[N_TEXTS][96];
    const char *texts[N_TEXTS];
    int32_t *want[N_TEXTS], n_want[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++) {
        snprintf(texts_buf[i], sizeof texts_buf[i], "word%dx%d glorp%d zz%dq \xc3\xa9t\xc3\xa9%d", i * 31, i, i * i,
                 i + 7, i);
        texts[i] = texts_buf[i];
    }
    mm_tokenizer *fresh = tt_load("fixtures/vit-gpt2-tiny-random");
    for (int i = 0; i < N_TEXTS; i++)
        want[i] = tt_encode(fresh, texts[i], 0, &n_want[i]);
    mm_tokenizer_free(fresh);
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){tok, texts, (const int32_t *const *)want, n_want, N_TEXTS, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    int mismatches = 0;
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        mismatches += w[i].mismatches;
    }
    assert_int_equal(mismatches, 0);
    for (int i = 0; i < N_TEXTS; i++)
        free(want[i]);
    mm_tokenizer_free(tok);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The 50k vocabulary and 50k merges load in well under a second (not
 * asserted under sanitizers, which slow everything down several times). */
static void test_load_time(void **state)
{
    (void)state;
    char dir[1024];
    TEST_REQUIRE_SHARED(dir, "fixtures/whisper-tiny-random");
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        double t0 = now_s();
        mm_tokenizer *tok = NULL;
        assert_int_equal(mm_tokenizer_load(dir, &tok), MM_OK);
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
        mm_tokenizer_free(tok);
    }
    print_message("whisper tokenizer (50257 tokens, 50000 merges, 1608 added): loads in %.1f ms\n", best * 1e3);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    assert_true(best < 0.5);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llamacpp_cases), cmocka_unit_test(test_vocab_facts),
        cmocka_unit_test(test_fixture_decoded), cmocka_unit_test(test_tokenizer_json),
        cmocka_unit_test(test_merge_order),     cmocka_unit_test(test_threads),
        cmocka_unit_test(test_load_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
