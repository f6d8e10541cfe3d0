/* CLIPTokenizer's text cleanup. transformers' CLIPTokenizer uses ftfy when
 * it is installed; without it (the fixtures' reference, and the common
 * case) it runs BERT's BasicTokenizer(strip_accents=False,
 * do_split_on_punc=False) and joins its words with " ":
 *   1. drop U+0000, U+FFFD and every character of category C* except
 *      \t \n \r; \t \n \r and category Zs become " ";
 *   2. put spaces around CJK ideographs (so each is a word of its own);
 *   3. NFC;
 *   4. split on white space (Python's str.split()), lower-case each word
 *      (Python's str.lower(): full case mapping), join with " ".
 * Unicode categories, NFC and case mapping come from libunistring. */
#include "tok_impl.h"

#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

/* BasicTokenizer._is_chinese_char: the CJK Unified Ideographs blocks. */
static bool is_cjk(ucs4_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

mm_status tok_clip_clean(const char *text, size_t len, tok_buf *out)
{
    const uint8_t *s = (const uint8_t *)text;
    tok_buf a = {0};
    /* Steps 1 and 2. The input is valid UTF-8 (checked by the caller). */
    for (size_t i = 0; i < len;) {
        ucs4_t c;
        int w = u8_mbtouc_unsafe(&c, s + i, len - i);
        if (w <= 0)
            w = 1;
        if (c == '\t' || c == '\n' || c == '\r' || uc_is_general_category(c, UC_CATEGORY_Zs))
            tok_buf_putc(&a, ' ');
        else if (c == 0 || c == 0xFFFD || uc_is_general_category(c, UC_CATEGORY_C))
            ; /* dropped */
        else if (is_cjk(c)) {
            tok_buf_putc(&a, ' ');
            tok_buf_put(&a, s + i, (size_t)w);
            tok_buf_putc(&a, ' ');
        } else
            tok_buf_put(&a, s + i, (size_t)w);
        i += (size_t)w;
    }
    if (a.oom) {
        tok_buf_free(&a);
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    }
    /* Step 3. */
    size_t nlen = 0, alen = a.n;
    uint8_t *nfc = alen ? u8_normalize(UNINORM_NFC, (const uint8_t *)a.p, alen, NULL, &nlen) : NULL;
    tok_buf_free(&a);
    if (alen && !nfc)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    /* Step 4. */
    mm_status st = MM_OK;
    size_t i = 0;
    bool first = true;
    while (i < nlen && !st) {
        ucs4_t c;
        int w = u8_mbtouc_unsafe(&c, nfc + i, nlen - i);
        if (w <= 0)
            w = 1;
        if (tok_py_isspace(c)) {
            i += (size_t)w;
            continue;
        }
        size_t start = i;
        while (i < nlen) {
            w = u8_mbtouc_unsafe(&c, nfc + i, nlen - i);
            if (w <= 0)
                w = 1;
            if (tok_py_isspace(c))
                break;
            i += (size_t)w;
        }
        size_t llen = 0;
        uint8_t *lower = u8_tolower(nfc + start, i - start, NULL, NULL, NULL, &llen);
        if (!lower) {
            st = mm_error_set(MM_ERR_NOMEM, "out of memory");
            break;
        }
        if (!first)
            tok_buf_putc(out, ' ');
        tok_buf_put(out, lower, llen);
        free(lower);
        first = false;
    }
    free(nfc);
    if (!st && out->oom)
        st = mm_error_set(MM_ERR_NOMEM, "out of memory");
    return st;
}
