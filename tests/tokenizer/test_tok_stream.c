/* The incremental decoder: text whose characters are split across tokens
 * (emoji, CJK, accented Latin) decoded one token at a time gives pieces that
 * are each valid UTF-8, never end inside a character, and join to the text;
 * invalid byte sequences become U+FFFD as Python's errors="replace" makes
 * them (one per maximal invalid subpart); flush, reset and the flags. */
#include "tok_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strict UTF-8 check (no surrogates, no overlong forms), written here
 * independently of the library's decoder. */
static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return false;
        unsigned long cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        static const unsigned long min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
            return false;
        i += len;
    }
    return true;
}

/* Encodes text, decodes it token by token; checks each piece and the whole.
 * Returns how many tokens produced less text than their bytes (held back). */
static int stream_roundtrip(const mm_tokenizer *tok, const char *text, uint32_t dflags, const char *want)
{
    int32_t n;
    int32_t *ids = tt_encode(tok, text, MM_TOKENIZE_SPECIAL, &n);
    mm_detokenizer *d = NULL;
    assert_int_equal(mm_detokenizer_init(tok, dflags, &d), MM_OK);
    char *all = calloc(strlen(text) * 3 + 64, 1);
    assert_non_null(all);
    size_t total = 0;
    int held = 0;
    for (int32_t i = 0; i <= n; i++) {
        const char *piece = NULL;
        size_t len = 0;
        mm_status st = i < n ? mm_detokenizer_push(d, ids[i], &piece, &len) : mm_detokenizer_flush(d, &piece, &len);
        if (st)
            fail_msg("%s", mm_error_message());
        assert_non_null(piece);
        assert_int_equal(strlen(piece), len);
        if (!valid_utf8(piece, len))
            fail_msg("piece %d of \"%s\" is not valid UTF-8", i, text);
        memcpy(all + total, piece, len);
        total += len;
        /* Every piece so far is a prefix of the expected text. */
        if (strncmp(all, want, total) != 0)
            fail_msg("after token %d the pieces \"%.*s\" are not a prefix of \"%s\"", i, (int)total, all, want);
        if (i < n) {
            const char *sp = mm_tokenizer_token(tok, ids[i]);
            held += len < strlen(sp) && len == 0;
        }
    }
    tt_assert_text("pieces joined", all, want);
    char *whole = tt_decode(tok, ids, n, dflags);
    tt_assert_text("whole decode", whole, want);
    free(whole);
    free(all);
    mm_detokenizer_free(d);
    free(ids);
    return held;
}

static void test_split_characters(void **state)
{
    (void)state;
    const char *dirs[] = {"fixtures/whisper-tiny-random", "fixtures/vit-gpt2-tiny-random"};
    const char *texts[] = {
        "emoji \xf0\x9f\x8e\x89\xf0\x9f\x9a\x80 tab\there\nnew line",          /* 🎉🚀 */
        "\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd\xe3\x81\xae\xe5\xa4\xa9\xe6\xb0\x97", /* 東京都の天気 */
        "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb r\xc3\xa9sum\xc3\xa9 \xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87",
    };
    for (int k = 0; k < 2; k++) {
        mm_tokenizer *tok = tt_load(dirs[k]);
        int held = 0;
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
            held += stream_roundtrip(tok, texts[i], 0, texts[i]);
        /* Some tokens end inside a character: their bytes were held back. */
        assert_true(held > 0);
        mm_tokenizer_free(tok);
    }
}

/* Special tokens in the stream, with and without SKIP_SPECIAL. */
static void test_special_in_stream(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/whisper-tiny-random");
    const char *text = "<|startoftranscript|><|en|> caf\xc3\xa9<|0.00|> \xe6\x9d\xb1<|endoftext|>";
    stream_roundtrip(tok, text, MM_DETOKENIZE_TIMESTAMPS, text);
    stream_roundtrip(tok, text, MM_DETOKENIZE_SKIP_SPECIAL | MM_DETOKENIZE_TIMESTAMPS,
                     " caf\xc3\xa9<|0.00|> \xe6\x9d\xb1");
    stream_roundtrip(tok, text, MM_DETOKENIZE_SKIP_SPECIAL, " caf\xc3\xa9 \xe6\x9d\xb1");
    mm_tokenizer_free(tok);
    /* CLIP: each word end becomes a space, the last one dropped. */
    tok = tt_load("fixtures/clip-tiny-random");
    stream_roundtrip(tok, "A photo of a \xe6\x9d\xb1 dog!", MM_DETOKENIZE_SKIP_SPECIAL, "a photo of a \xe6\x9d\xb1 dog !");
    mm_tokenizer_free(tok);
}

/* GPT-2's byte-level character for byte b (bytes_to_unicode), as UTF-8. */
static void byte_char(unsigned b, char out[3])
{
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    unsigned cp = b;
    if (!printable) {
        cp = 256;
        for (unsigned x = 0; x < b; x++)
            cp += !((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE));
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* Decodes single-byte tokens both ways and compares with `want`. */
static void check_bytes(const mm_tokenizer *tok, const unsigned char *bytes, int n, const char *want)
{
    int32_t ids[16];
    for (int i = 0; i < n; i++) {
        char c[3];
        byte_char(bytes[i], c);
        ids[i] = mm_tokenizer_token_id(tok, c);
        assert_true(ids[i] >= 0);
    }
    char *s = tt_decode(tok, ids, n, 0);
    tt_assert_text("bytes decoded", s, want);
    free(s);
    mm_detokenizer *d = NULL;
    assert_int_equal(mm_detokenizer_init(tok, 0, &d), MM_OK);
    char all[256] = "";
    for (int i = 0; i <= n; i++) {
        const char *piece;
        size_t len;
        assert_int_equal(i < n ? mm_detokenizer_push(d, ids[i], &piece, &len) : mm_detokenizer_flush(d, &piece, &len),
                         MM_OK);
        assert_true(valid_utf8(piece, len));
        strcat(all, piece);
    }
    tt_assert_text("bytes streamed", all, want);
    mm_detokenizer_free(d);
}

#define FFFD "\xef\xbf\xbd"

static void test_invalid_bytes(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/vit-gpt2-tiny-random");
    /* What Python's bytes.decode("utf-8", "replace") gives. */
    check_bytes(tok, (const unsigned char[]){0xFF}, 1, FFFD);
    check_bytes(tok, (const unsigned char[]){0xF0, 0x9F, 'A'}, 3, FFFD "A");           /* cut 4-byte sequence */
    check_bytes(tok, (const unsigned char[]){0xF0, 0x9F}, 2, FFFD);                    /* cut at the end */
    check_bytes(tok, (const unsigned char[]){0xC0, 0x80}, 2, FFFD FFFD);               /* overlong */
    check_bytes(tok, (const unsigned char[]){0xED, 0xA0, 0x80}, 3, FFFD FFFD FFFD);    /* surrogate */
    check_bytes(tok, (const unsigned char[]){0xE2, 0x82, 0xAC, 0x80}, 4, "\xe2\x82\xac" FFFD); /* € + stray */
    check_bytes(tok, (const unsigned char[]){0xF4, 0x90, 0x80, 0x80}, 4, FFFD FFFD FFFD FFFD); /* > U+10FFFF */
    check_bytes(tok, (const unsigned char[]){0xE6, 0x9D, 0xB1}, 3, "\xe6\x9d\xb1");
    mm_tokenizer_free(tok);
}

/* Reset starts a new stream: held bytes are dropped. */
static void test_reset(void **state)
{
    (void)state;
    mm_tokenizer *tok = tt_load("fixtures/vit-gpt2-tiny-random");
    char c[3];
    byte_char(0xF0, c);
    int32_t f0 = mm_tokenizer_token_id(tok, c);
    int32_t hello = mm_tokenizer_token_id(tok, "Hello");
    mm_detokenizer *d = NULL;
    assert_int_equal(mm_detokenizer_init(tok, 0, &d), MM_OK);
    const char *piece;
    size_t len;
    assert_int_equal(mm_detokenizer_push(d, f0, &piece, &len), MM_OK);
    assert_int_equal(len, 0);
    mm_detokenizer_reset(d);
    assert_int_equal(mm_detokenizer_push(d, hello, &piece, &len), MM_OK);
    assert_string_equal(piece, "Hello");
    assert_int_equal(mm_detokenizer_push(d, -5, &piece, &len), MM_ERR_INVALID);
    assert_int_equal(mm_detokenizer_push(d, mm_tokenizer_n_vocab(tok), &piece, &len), MM_ERR_INVALID);
    mm_detokenizer_free(d);
    mm_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_characters),
        cmocka_unit_test(test_special_in_stream),
        cmocka_unit_test(test_invalid_bytes),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
