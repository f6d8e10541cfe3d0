/* CLIP: the clip-tiny-random fixture's tokenizer cases (transformers' slow
 * CLIPTokenizer without ftfy: ids, token spellings, decoded text), the
 * padded batch CLIPProcessor made for the text tower (input_ids and
 * attention_mask), truncation to the model's length, and the cleanup steps
 * (control characters, CJK, NFC, full lower-casing). */
#include "tok_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE "clip-tiny-random"

static void test_fixture_cases(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/" FIXTURE);
    json_object *exp = tt_expected(FIXTURE);
    assert_int_equal(mm_tokenizer_get_kind(tok), MM_TOKENIZER_CLIP);
    assert_int_equal(mm_tokenizer_n_vocab(tok), 49408);
    assert_int_equal(mm_tokenizer_bos(tok), 49406);
    assert_int_equal(mm_tokenizer_eos(tok), 49407);
    assert_int_equal(mm_tokenizer_pad(tok), 49407);
    assert_int_equal(mm_tokenizer_max_length(tok), 77);
    assert_true(mm_tokenizer_cleanup_default(tok));
    json_object *cases = tt_get(exp, "tokenizer_cases");
    size_t n_cases = json_object_array_length(cases);
    assert_true(n_cases >= 10);
    for (size_t i = 0; i < n_cases; i++) {
        json_object *c = json_object_array_get_idx(cases, i);
        char what[64];
        snprintf(what, sizeof what, "case %zu", i);
        int32_t n_want, n;
        int32_t *want = tt_int_array(tt_get(c, "ids_hf_slow"), &n_want);
        int32_t *ids = tt_encode(tok, tt_str(c, "text"), MM_TOKENIZE_SPECIAL | MM_TOKENIZE_ADD_SPECIAL, &n);
        tt_assert_ids(what, ids, n, want, n_want);
        json_object *tokens = tt_get(c, "tokens_hf_slow");
        for (int32_t k = 0; k < n; k++)
            tt_assert_text(what, mm_tokenizer_token(tok, ids[k]),
                           json_object_get_string(json_object_array_get_idx(tokens, (size_t)k)));
        char *s = tt_decode(tok, ids, n, MM_DETOKENIZE_SKIP_SPECIAL | MM_DETOKENIZE_CLEANUP);
        tt_assert_text(what, s, tt_str(c, "decoded_hf"));
        free(s);
        free(ids);
        free(want);
    }
    json_object_put(exp);
    mm_tokenizer_free(tok);
}

/* CLIPProcessor(text=texts, padding=True): rows padded with <|endoftext|>
 * to the longest, mask 0 on the padding. */
static void test_fixture_batch(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/" FIXTURE);
    json_object *exp = tt_expected(FIXTURE);
    json_object *texts_j = tt_get(tt_get(exp, "inputs"), "texts");
    json_object *rows = tt_get(exp, "input_ids"), *masks = tt_get(exp, "attention_mask");
    int32_t n_texts = (int32_t)json_object_array_length(texts_j);
    assert_int_equal(n_texts, 5);
    const char *texts[5];
    for (int32_t i = 0; i < n_texts; i++)
        texts[i] = json_object_get_string(json_object_array_get_idx(texts_j, (size_t)i));
    int32_t ids[5 * 77], mask[5 * 77], len = 0;
    if (mm_tokenizer_encode_batch(tok, texts, n_texts, 0, MM_TOKENIZE_SPECIAL | MM_TOKENIZE_ADD_SPECIAL, ids, mask,
                                  &len) != MM_OK)
        fail_msg("%s", mm_error_message());
    assert_int_equal(len, 7);
    for (int32_t i = 0; i < n_texts; i++) {
        int32_t n;
        int32_t *want = tt_int_array(json_object_array_get_idx(rows, (size_t)i), &n);
        int32_t *want_mask = tt_int_array(json_object_array_get_idx(masks, (size_t)i), &n);
        tt_assert_ids("input_ids row", ids + i * len, len, want, n);
        tt_assert_ids("attention_mask row", mask + i * len, len, want_mask, n);
        free(want);
        free(want_mask);
    }
    json_object_put(exp);
    mm_tokenizer_free(tok);
}

/* Truncation keeps <|startoftext|> first and <|endoftext|> last. */
static void test_truncation(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/" FIXTURE);
    char text[2048] = "";
    for (int i = 0; i < 40; i++)
        strcat(text, "a photo of a cat ");
    const char *texts[] = {text, "a dog"};
    int32_t ids[2 * 77], mask[2 * 77], len = 0;
    uint32_t fl = MM_TOKENIZE_ADD_SPECIAL;
    assert_int_equal(mm_tokenizer_encode_batch(tok, texts, 2, 0, fl, ids, mask, &len), MM_OK);
    assert_int_equal(len, 77);
    assert_int_equal(ids[0], 49406);
    assert_int_equal(ids[76], 49407);
    int32_t head[] = {49406, 320, 1125, 539, 320, 2368, 320}; /* a photo of a cat a */
    tt_assert_ids("truncated head", ids, 7, head, 7);
    int32_t dog[] = {49406, 320, 1929, 49407, 49407};
    tt_assert_ids("padded row", ids + 77, 5, dog, 5);
    assert_int_equal(mask[77 + 2], 1);
    assert_int_equal(mask[77 + 3], 1);
    assert_int_equal(mask[77 + 4], 0);
    assert_int_equal(mask[77 + 76], 0);
    /* An explicit length. */
    assert_int_equal(mm_tokenizer_encode_batch(tok, texts, 1, 5, fl, ids, NULL, &len), MM_OK);
    int32_t five[] = {49406, 320, 1125, 539, 49407};
    tt_assert_ids("max_len 5", ids, len, five, 5);
    /* No room for text, and no length at all. */
    assert_int_equal(mm_tokenizer_encode_batch(tok, texts, 1, 2, fl, ids, NULL, &len), MM_ERR_INVALID);
    mm_tokenizer_free(tok);
}

/* A folder with tokenizer.json alone and no tokenizer_config.json: CLIP is
 * recognised by its "</w>" word ends and gives the fixture's ids. */
static void test_tokenizer_json(void **state)
{
    (void)state;
    char src[1024];
    TEST_REQUIRE_SHARED(src, "fixtures/" FIXTURE);
    char dir[] = "/tmp/mm-tok-clipjson-XXXXXX";
    assert_non_null(mkdtemp(dir));
    tt_write_tokenizer_json(src, dir, true, "</w>",
                            "[{\"id\": 49406, \"content\": \"<|startoftext|>\", \"special\": true},"
                            " {\"id\": 49407, \"content\": \"<|endoftext|>\", \"special\": true}]");
    tt_write_file(dir, "special_tokens_map.json",
                  "{\"bos_token\": \"<|startoftext|>\", \"eos_token\": \"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\"}");
    mm_tokenizer *tok = NULL;
    if (mm_tokenizer_load(dir, &tok) != MM_OK)
        fail_msg("%s", mm_error_message());
    assert_int_equal(mm_tokenizer_get_kind(tok), MM_TOKENIZER_CLIP);
    json_object *exp = tt_expected(FIXTURE);
    json_object *cases = tt_get(exp, "tokenizer_cases");
    for (size_t i = 0; i < json_object_array_length(cases); i++) {
        json_object *c = json_object_array_get_idx(cases, i);
        int32_t n_want, n;
        int32_t *want = tt_int_array(tt_get(c, "ids_hf_slow"), &n_want);
        int32_t *ids = tt_encode(tok, tt_str(c, "text"), MM_TOKENIZE_SPECIAL | MM_TOKENIZE_ADD_SPECIAL, &n);
        tt_assert_ids("tokenizer.json case", ids, n, want, n_want);
        free(ids);
        free(want);
    }
    json_object_put(exp);
    mm_tokenizer_free(tok);
    tt_remove_folder(dir);
}

/* The cleanup steps, each checked through the ids it must give. */
static void test_cleanup(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/" FIXTURE);
    struct {
        const char *a, *b; /* must encode alike */
    } same[] = {
        {"A PHOTO OF A DOG", "a photo of a dog"},               /* lower case */
        {"a\tphoto\nof\r\na\xc2\xa0\xe3\x80\x80""dog", "a photo of a dog"}, /* white space, Zs */
        {"a\x01 pho\xe2\x80\x8bto\x7f", "a photo"},              /* Cc, Cf dropped */
        {"cafe\xcc\x81", "caf\xc3\xa9"},                         /* NFC: e + U+0301 */
        {"\xc3\x89T\xc3\x89", "\xc3\xa9t\xc3\xa9"},                  /* lower case beyond ASCII */
        {"\xe6\x9d\xb1\xe4\xba\xac", "\xe6\x9d\xb1 \xe4\xba\xac"},   /* CJK: one word each */
        {"\xce\x9f\xce\xa3", "\xce\xbf\xcf\x82"},                    /* final sigma: ΟΣ -> ος */
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        int32_t na, nb;
        int32_t *a = tt_encode(tok, same[i].a, 0, &na);
        int32_t *b = tt_encode(tok, same[i].b, 0, &nb);
        char what[64];
        snprintf(what, sizeof what, "cleanup pair %zu", i);
        tt_assert_ids(what, a, na, b, nb);
        free(a);
        free(b);
    }
    /* Only white space or control characters: no ids. */
    int32_t n = -1;
    assert_int_equal(mm_tokenizer_encode(tok, " \t\x01\n", 0, NULL, 0, &n), MM_OK);
    assert_int_equal(n, 0);
    mm_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_cases),
        cmocka_unit_test(test_fixture_batch),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_tokenizer_json),
        cmocka_unit_test(test_cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
