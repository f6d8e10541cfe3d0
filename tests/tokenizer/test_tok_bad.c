/* Bad tokenizer files and bad input: each is refused with a status and a
 * message naming the file and the fault, never a crash. Each case writes a
 * small folder: a five-token byte-level vocabulary that loads when intact. */
#include "tok_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char k_vocab[] = "{\"a\": 0, \"b\": 1, \"ab\": 2, \"\xc4\xa0\": 3, \"<|endoftext|>\": 4}";
static const char k_merges[] = "#version: 0.2\na b\n";

typedef struct folder {
    char dir[64];
} folder;

static void put(folder *f, const char *name, const char *text)
{
    tt_write_file(f->dir, name, text);
}

static void make(folder *f, const char *vocab, const char *merges)
{
    strcpy(f->dir, "/tmp/mm-tok-bad-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (vocab)
        put(f, "vocab.json", vocab);
    if (merges)
        put(f, "merges.txt", merges);
}

static void drop(folder *f)
{
    tt_remove_folder(f->dir);
}

/* Loading fails with `want`, and the message contains each of `words`. */
static void expect_refused(folder *f, mm_status want, const char *w1, const char *w2)
{
    mm_tokenizer *tok = (mm_tokenizer *)1;
    mm_status st = mm_tokenizer_load(f->dir, &tok);
    print_message("  refused: %s\n", mm_error_message());
    assert_int_equal(st, want);
    assert_null(tok);
    assert_non_null(strstr(mm_error_message(), f->dir));
    if (w1 && !strstr(mm_error_message(), w1))
        fail_msg("message lacks \"%s\"", w1);
    if (w2 && !strstr(mm_error_message(), w2))
        fail_msg("message lacks \"%s\"", w2);
    drop(f);
}

static void test_intact_loads(void **state)
{
    (void)state;
    folder f;
    make(&f, k_vocab, k_merges);
    put(&f, "special_tokens_map.json", "{\"eos_token\": \"<|endoftext|>\"}");
    mm_tokenizer *tok = NULL;
    if (mm_tokenizer_load(f.dir, &tok) != MM_OK)
        fail_msg("%s", mm_error_message());
    int32_t n;
    int32_t *ids = tt_encode(tok, "ab a", 0, &n);
    int32_t want[] = {2, 3, 0}; /* "ab", "Ġ" ("a" does not merge with a space here), "a" */
    tt_assert_ids("intact", ids, n, want, 3);
    free(ids);
    assert_int_equal(mm_tokenizer_eos(tok), 4);
    mm_tokenizer_free(tok);
    drop(&f);
}

static void test_missing_files(void **state)
{
    (void)state;
    folder f;
    make(&f, NULL, NULL);
    expect_refused(&f, MM_ERR_IO, "no tokenizer files", NULL);
    make(&f, k_vocab, NULL);
    expect_refused(&f, MM_ERR_IO, "merges.txt", NULL);
    mm_tokenizer *tok = (mm_tokenizer *)1;
    assert_int_equal(mm_tokenizer_load("/nonexistent/mm-tok", &tok), MM_ERR_IO);
    assert_null(tok);
    assert_int_equal(mm_tokenizer_load(NULL, &tok), MM_ERR_INVALID);
    assert_int_equal(mm_tokenizer_load("/tmp", NULL), MM_ERR_INVALID);
}

static void test_corrupt_vocab(void **state)
{
    (void)state;
    folder f;
    make(&f, "{\"a\": 0, \"b\": ", k_merges); /* truncated */
    expect_refused(&f, MM_ERR_FORMAT, "vocab.json", "invalid JSON");
    make(&f, "[1, 2, 3]", k_merges);
    expect_refused(&f, MM_ERR_FORMAT, "vocab.json", "not a JSON object");
    make(&f, "{\"a\": \"zero\", \"b\": 1}", k_merges);
    expect_refused(&f, MM_ERR_FORMAT, "vocab.json", "not an integer");
    make(&f, "{\"a\": -1, \"b\": 1}", k_merges);
    expect_refused(&f, MM_ERR_FORMAT, "vocab.json", "out of range");
    make(&f, "{\"a\": 0, \"b\": 99999999999}", k_merges);
    expect_refused(&f, MM_ERR_FORMAT, "vocab.json", "out of range");
    make(&f, "{\"a\": 0, \"b\": 0}", k_merges);
    expect_refused(&f, MM_ERR_FORMAT, "vocab.json", "two tokens");
    make(&f, "{}", k_merges);
    expect_refused(&f, MM_ERR_FORMAT, "vocab.json", "empty");
    make(&f, "", k_merges);
    expect_refused(&f, MM_ERR_FORMAT, "vocab.json", NULL);
}

static void test_bad_merges(void **state)
{
    (void)state;
    folder f;
    make(&f, k_vocab, "#version: 0.2\na b\nb q\n");
    expect_refused(&f, MM_ERR_FORMAT, "merges.txt", "\"q\"");
    make(&f, k_vocab, "#version: 0.2\nb a\n"); /* "ba" is not a token */
    expect_refused(&f, MM_ERR_FORMAT, "merges.txt", "\"ba\"");
    make(&f, k_vocab, "#version: 0.2\na b c\n");
    expect_refused(&f, MM_ERR_FORMAT, "merges.txt", "line 2");
    make(&f, k_vocab, "#version: 0.2\nab\n");
    expect_refused(&f, MM_ERR_FORMAT, "merges.txt", "line 2");
    make(&f, k_vocab, "#version: 0.2\n");
    expect_refused(&f, MM_ERR_FORMAT, "merges.txt", "no merges");
    make(&f, k_vocab, "\xff\xfe\x00\x01 \x02");
    expect_refused(&f, MM_ERR_FORMAT, "merges.txt", NULL);
}

static void test_bad_tokenizer_json(void **state)
{
    (void)state;
    folder f;
    make(&f, NULL, NULL);
    put(&f, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a x\"]}}");
    expect_refused(&f, MM_ERR_FORMAT, "tokenizer.json", "\"x\"");
    make(&f, NULL, NULL);
    put(&f, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [[\"a\"]]}}");
    expect_refused(&f, MM_ERR_FORMAT, "tokenizer.json", "merges[0]");
    make(&f, NULL, NULL);
    put(&f, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
    expect_refused(&f, MM_ERR_UNSUPPORTED, "tokenizer.json", "WordPiece");
    make(&f, NULL, NULL);
    put(&f, "tokenizer.json", "{\"version\": \"1.0\"}");
    expect_refused(&f, MM_ERR_FORMAT, "tokenizer.json", "model");
}

static void test_bad_config(void **state)
{
    (void)state;
    folder f;
    make(&f, k_vocab, k_merges);
    put(&f, "tokenizer_config.json", "{\"tokenizer_class\": \"BertTokenizer\"}");
    expect_refused(&f, MM_ERR_UNSUPPORTED, "BertTokenizer", "GPT2Tokenizer");
    make(&f, k_vocab, k_merges);
    put(&f, "tokenizer_config.json", "{\"tokenizer_class\": ");
    expect_refused(&f, MM_ERR_FORMAT, "tokenizer_config.json", NULL);
    make(&f, k_vocab, k_merges);
    put(&f, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"x7\": {\"content\": \"<|a|>\"}}}");
    expect_refused(&f, MM_ERR_FORMAT, "added_tokens_decoder", "x7");
    make(&f, k_vocab, k_merges);
    put(&f, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"1\": {\"content\": \"<|a|>\"}}}");
    expect_refused(&f, MM_ERR_FORMAT, "id 1", NULL); /* id 1 is "b" */
    make(&f, k_vocab, k_merges);
    put(&f, "added_tokens.json", "{\"<|a|>\": \"five\"}");
    expect_refused(&f, MM_ERR_FORMAT, "added_tokens.json", NULL);
    make(&f, k_vocab, k_merges);
    put(&f, "special_tokens_map.json", "{\"eos_token\": 7}");
    expect_refused(&f, MM_ERR_FORMAT, "eos_token", NULL);
    /* A CLIP folder whose vocabulary lacks CLIP's special tokens. */
    make(&f, k_vocab, k_merges);
    put(&f, "tokenizer_config.json", "{\"tokenizer_class\": \"CLIPTokenizer\"}");
    expect_refused(&f, MM_ERR_FORMAT, "startoftext", NULL);
}

static void test_bad_input(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/vit-gpt2-tiny-random");
    int32_t ids[8], n = -1;
    const char *bad[] = {"abc\xff", "\xc3", "a\xed\xa0\x80", "\xc0\xaf", "ok \xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mm_tokenizer_encode(tok, bad[i], 0, ids, 8, &n), MM_ERR_INVALID);
        assert_non_null(strstr(mm_error_message(), "UTF-8"));
        assert_int_equal(n, 0);
    }
    assert_int_equal(mm_tokenizer_encode(tok, NULL, 0, ids, 8, &n), MM_ERR_INVALID);
    assert_int_equal(mm_tokenizer_encode(tok, "a", 0, NULL, 8, &n), MM_ERR_INVALID);
    assert_int_equal(mm_tokenizer_encode(tok, "a", 0, ids, -1, &n), MM_ERR_INVALID);
    assert_int_equal(mm_tokenizer_encode(tok, "", 0, ids, 8, &n), MM_OK);
    assert_int_equal(n, 0);

    int32_t out_of_range[] = {50, 50257};
    size_t len = 1;
    char text[64];
    assert_int_equal(mm_tokenizer_decode(tok, out_of_range, 2, 0, text, sizeof text, &len), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "50257"));
    out_of_range[1] = -3;
    assert_int_equal(mm_tokenizer_decode(tok, out_of_range, 2, 0, text, sizeof text, &len), MM_ERR_INVALID);
    assert_int_equal(mm_tokenizer_decode(tok, NULL, 2, 0, text, sizeof text, &len), MM_ERR_INVALID);
    assert_int_equal(mm_tokenizer_decode(tok, out_of_range, -1, 0, text, sizeof text, &len), MM_ERR_INVALID);
    assert_int_equal(mm_tokenizer_decode(tok, out_of_range, 0, 0, text, sizeof text, &len), MM_OK);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");

    /* Batches: GPT-2 has a pad token but its folder gives a length; NULL texts. */
    const char *texts[] = {"a", NULL};
    int32_t row = -1, rows[2 * 8];
    assert_int_equal(mm_tokenizer_encode_batch(tok, texts, 2, 8, 0, rows, NULL, &row), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "text 1"));
    assert_int_equal(mm_tokenizer_encode_batch(tok, texts, 0, 8, 0, rows, NULL, &row), MM_ERR_INVALID);
    texts[1] = "bad \xff";
    assert_int_equal(mm_tokenizer_encode_batch(tok, texts, 2, 8, 0, rows, NULL, &row), MM_ERR_INVALID);
    assert_non_null(strstr(mm_error_message(), "UTF-8"));
    mm_detokenizer *d = (mm_detokenizer *)1;
    assert_int_equal(mm_detokenizer_init(NULL, 0, &d), MM_ERR_INVALID);
    assert_null(d);
    mm_tokenizer_free(tok);
    mm_tokenizer_free(NULL);
    mm_detokenizer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact_loads),   cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_corrupt_vocab),  cmocka_unit_test(test_bad_merges),
        cmocka_unit_test(test_bad_tokenizer_json), cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
