/* Whisper: the whisper-tiny-random fixture's tokenizer cases (ids, token
 * spellings, decoded text with and without special tokens), its prompt and
 * generated ids, special / language / timestamp ids, timestamps in text, a
 * leading <|startofprev|> prompt, a folder written before timestamp tokens
 * were listed (they get the ids transformers gives them), and openai's
 * multilingual files (GPT2Tokenizer, with its empty token 50256). */
#include "tok_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE "whisper-tiny-random"

static void check_cases(const mm_tokenizer *tok, json_object *exp, bool with_special_cases)
{
    json_object *cases = tt_get(exp, "tokenizer_cases");
    size_t n_cases = json_object_array_length(cases);
    assert_true(n_cases >= 10);
    for (size_t i = 0; i < n_cases; i++) {
        json_object *c = json_object_array_get_idx(cases, i);
        const char *text = tt_str(c, "text");
        if (!with_special_cases && strstr(text, "<|"))
            continue;
        char what[64];
        snprintf(what, sizeof what, "case %zu", i);
        int32_t n_want, n;
        int32_t *want = tt_int_array(tt_get(c, "ids"), &n_want);
        int32_t *ids = tt_encode(tok, text, MM_TOKENIZE_SPECIAL, &n);
        tt_assert_ids(what, ids, n, want, n_want);
        json_object *tokens = tt_get(c, "tokens");
        assert_int_equal(json_object_array_length(tokens), (size_t)n);
        for (int32_t k = 0; k < n; k++)
            tt_assert_text(what, mm_tokenizer_token(tok, ids[k]),
                           json_object_get_string(json_object_array_get_idx(tokens, (size_t)k)));
        char *s = tt_decode(tok, ids, n, 0);
        tt_assert_text(what, s, tt_str(c, "decoded_no_cleanup"));
        free(s);
        s = tt_decode(tok, ids, n, mm_tokenizer_cleanup_default(tok) ? MM_DETOKENIZE_CLEANUP : 0);
        tt_assert_text(what, s, tt_str(c, "decoded"));
        free(s);
        s = tt_decode(tok, ids, n, MM_DETOKENIZE_SKIP_SPECIAL);
        tt_assert_text(what, s, tt_str(c, "decoded_skip_special"));
        free(s);
        free(ids);
        free(want);
    }
}

static void test_fixture_cases(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/" FIXTURE);
    json_object *exp = tt_expected(FIXTURE);
    assert_int_equal(mm_tokenizer_get_kind(tok), MM_TOKENIZER_WHISPER);
    check_cases(tok, exp, true);

    int32_t n, n_want;
    int32_t *want = tt_int_array(tt_get(exp, "jfk_ids"), &n_want);
    int32_t *ids = tt_encode(tok, tt_str(exp, "jfk_text"), 0, &n);
    tt_assert_ids("jfk", ids, n, want, n_want);
    free(ids);
    free(want);

    /* The forced prompt, by name. */
    json_object *names = tt_get(exp, "decoder_prompt_tokens");
    want = tt_int_array(tt_get(exp, "decoder_prompt_ids"), &n_want);
    assert_int_equal(json_object_array_length(names), (size_t)n_want);
    for (int32_t i = 0; i < n_want; i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(names, (size_t)i));
        assert_int_equal(mm_tokenizer_token_id(tok, name), want[i]);
        assert_true(mm_tokenizer_is_special(tok, want[i]));
    }
    free(want);

    /* Generated ids: decode(new_ids, skip_special_tokens=True) and the
     * whole sequence with its prompt. */
    const char *runs[] = {"greedy_raw", "greedy_whisper_generate"};
    for (int r = 0; r < 2; r++) {
        json_object *g = tt_get(exp, runs[r]);
        int32_t *nw = tt_int_array(tt_get(g, "new_ids"), &n);
        char *s = tt_decode(tok, nw, n, MM_DETOKENIZE_SKIP_SPECIAL);
        tt_assert_text(runs[r], s, tt_str(g, "decoded"));
        free(s);
        free(nw);
        int32_t *all = tt_int_array(tt_get(g, "ids"), &n);
        s = tt_decode(tok, all, n, MM_DETOKENIZE_SKIP_SPECIAL);
        tt_assert_text(runs[r], s, tt_str(g, "decoded"));
        free(s);
        json_object *ws;
        if (json_object_object_get_ex(g, "decoded_with_special", &ws)) {
            s = tt_decode(tok, all, n, 0);
            tt_assert_text(runs[r], s, json_object_get_string(ws));
            free(s);
        }
        free(all);
    }
    json_object_put(exp);
    mm_tokenizer_free(tok);
}

/* What openai-whisper's tokenizer and transformers agree on. */
static void check_special_ids(const mm_tokenizer *tok)
{
    assert_int_equal(mm_tokenizer_n_vocab(tok), 51865);
    assert_int_equal(mm_tokenizer_eos(tok), 50257);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|endoftext|>"), 50257);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|startoftranscript|>"), 50258);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|en|>"), 50259);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|zh|>"), 50260);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|su|>"), 50357); /* the 99th language */
    assert_int_equal(mm_tokenizer_token_id(tok, "<|translate|>"), 50358);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|transcribe|>"), 50359);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|startoflm|>"), 50360);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|startofprev|>"), 50361);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|nocaptions|>"), 50362);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|notimestamps|>"), 50363);
    assert_int_equal(mm_tokenizer_timestamp_begin(tok), 50364);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|0.00|>"), 50364);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|0.02|>"), 50365);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|1.00|>"), 50414);
    assert_int_equal(mm_tokenizer_token_id(tok, "<|30.00|>"), 51864);
    assert_string_equal(mm_tokenizer_token(tok, 50364 + 750), "<|15.00|>");
    assert_true(mm_tokenizer_is_special(tok, 50258));
    assert_false(mm_tokenizer_is_special(tok, 50364)); /* timestamps are not special */
    assert_null(mm_tokenizer_token(tok, 51865));
}

static void test_special_ids(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/" FIXTURE);
    check_special_ids(tok);

    /* Timestamp tokens are found in text without MM_TOKENIZE_SPECIAL (they
     * are not special); decode drops them unless asked to keep them. */
    int32_t n;
    int32_t *ids = tt_encode(tok, "<|0.00|> Hello<|1.00|>", 0, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 50364);
    assert_int_equal(ids[1], mm_tokenizer_token_id(tok, "\xc4\xa0Hello"));
    assert_int_equal(ids[2], 50414);
    char *s = tt_decode(tok, ids, n, 0);
    tt_assert_text("timestamps dropped", s, " Hello");
    free(s);
    s = tt_decode(tok, ids, n, MM_DETOKENIZE_TIMESTAMPS);
    tt_assert_text("timestamps kept", s, "<|0.00|> Hello<|1.00|>");
    free(s);
    free(ids);

    /* Special tokens' text is plain text unless MM_TOKENIZE_SPECIAL. */
    ids = tt_encode(tok, "<|en|>", 0, &n);
    assert_true(n > 1);
    for (int32_t i = 0; i < n; i++)
        assert_true(ids[i] < 50257);
    s = tt_decode(tok, ids, n, MM_DETOKENIZE_SKIP_SPECIAL);
    tt_assert_text("<|en|> as text", s, "<|en|>");
    free(s);
    free(ids);

    /* A leading <|startofprev|> prompt is dropped with the special tokens,
     * up to <|startoftranscript|> (WhisperTokenizer._strip_prompt). */
    int32_t prev = 50361, sot = 50258;
    int32_t p[] = {prev, 15947, 11, sot, 50259, 50359, 50363, 1002, 0, 50257};
    s = tt_decode(tok, p, 10, MM_DETOKENIZE_SKIP_SPECIAL);
    tt_assert_text("prompt stripped", s, " world!");
    free(s);
    s = tt_decode(tok, p, 10, 0);
    tt_assert_text("prompt kept",
                   s, "<|startofprev|>Hello,<|startoftranscript|><|en|><|transcribe|><|notimestamps|> world!<|endoftext|>");
    free(s);
    s = tt_decode(tok, p, 3, MM_DETOKENIZE_SKIP_SPECIAL); /* a prompt with no transcript: nothing */
    tt_assert_text("prompt only", s, "");
    free(s);
    mm_tokenizer_free(tok);
}

static void link_file(const char *src, const char *dir, const char *name)
{
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/%s", src, name);
    snprintf(b, sizeof b, "%s/%s", dir, name);
    assert_int_equal(symlink(a, b), 0);
}

/* A Whisper folder whose added tokens stop at <|notimestamps|> (written
 * before transformers listed the timestamps): the timestamp tokens get the
 * ids after it, and every fixture case encodes as before. */
static void test_timestamps_synthesised(void **state)
{
    (void)state;
    char src[1024];
    TEST_REQUIRE_SHARED(src, "fixtures/" FIXTURE);
    char dir[] = "/tmp/mm-tok-whisper-XXXXXX";
    assert_non_null(mkdtemp(dir));
    link_file(src, dir, "vocab.json");
    link_file(src, dir, "merges.txt");
    link_file(src, dir, "special_tokens_map.json");
    /* added_tokens.json without the timestamps. */
    char path[1100];
    snprintf(path, sizeof path, "%s/added_tokens.json", src);
    json_object *added = json_object_from_file(path);
    assert_non_null(added);
    json_object *kept = json_object_new_object();
    json_object_object_foreach(added, key, val)
    {
        if (json_object_get_int(val) < 50364)
            json_object_object_add(kept, key, json_object_get(val));
    }
    assert_int_equal(json_object_object_length(kept), 107);
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    assert_int_equal(json_object_to_file(path, kept), 0);
    json_object_put(kept);
    json_object_put(added);
    tt_write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"WhisperTokenizer\", \"model_max_length\": 1024}");

    mm_tokenizer *tok = NULL;
    if (mm_tokenizer_load(dir, &tok) != MM_OK)
        fail_msg("%s", mm_error_message());
    check_special_ids(tok);
    json_object *exp = tt_expected(FIXTURE);
    check_cases(tok, exp, true);
    json_object_put(exp);
    mm_tokenizer_free(tok);
    tt_remove_folder(dir);
}

/* openai-whisper's multilingual files before tiktoken: GPT2Tokenizer with
 * <|endoftext|> added at 50257 after an empty token at 50256. */
static void test_openai_multilingual(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("data/openai-whisper-old-assets/multilingual");
    assert_int_equal(mm_tokenizer_get_kind(tok), MM_TOKENIZER_GPT2);
    assert_int_equal(mm_tokenizer_n_vocab(tok), 50258);
    assert_int_equal(mm_tokenizer_eos(tok), 50257);
    assert_string_equal(mm_tokenizer_token(tok, 50256), "");
    json_object *exp = tt_expected(FIXTURE);
    check_cases(tok, exp, false); /* the same BPE; no Whisper special tokens here */
    json_object_put(exp);
    int32_t empty = 50256;
    char *s = tt_decode(tok, &empty, 1, 0);
    tt_assert_text("empty token", s, "");
    free(s);
    mm_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_cases),
        cmocka_unit_test(test_special_ids),
        cmocka_unit_test(test_timestamps_synthesised),
        cmocka_unit_test(test_openai_multilingual),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
