/* Encoding: added tokens are found in the text first (leftmost, longest),
 * the text between them is pre-tokenised by the class's regular expression
 * (PCRE2, UTF + Unicode properties), and each pre-token goes through BPE.
 * CLIP cleans its text up first (tok_clip.c). */
#include "tok_impl.h"

#include <stdlib.h>
#include <string.h>
#include <unistr.h>

/* Python's `regex` module, which transformers uses, takes \s as the
 * Unicode White_Space property; PCRE2's \s with UCP also counts U+180E.
 * The class is spelled out so that both agree. */
#define WS "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

/* GPT2Tokenizer / WhisperTokenizer:
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static const char k_gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS
                                     "]+(?![^" WS "])|[" WS "]+";
/* CLIPTokenizer (re.IGNORECASE):
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ */
static const char k_clip_pattern[] = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^" WS
                                     "\\p{L}\\p{N}]+";
/* WhisperTokenizer.decode removes timestamps from the text with
 * <\|(\d+\.\d+)\|> (Python's \d: any decimal digit, as PCRE2's with UCP). */
static const char k_timestamp_pattern[] = "<\\|\\d+\\.\\d+\\|>";

static mm_status compile(const char *pattern, uint32_t options, pcre2_code **out)
{
    int err;
    PCRE2_SIZE at;
    *out = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | options, &err, &at, NULL);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return mm_error_set(MM_ERR_UNSUPPORTED, "PCRE2 refuses the pre-tokenisation pattern at %zu: %s", (size_t)at,
                            (const char *)msg);
    }
    /* JIT where the platform has it; the interpreter otherwise. */
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
    return MM_OK;
}

mm_status tok_compile_patterns(mm_tokenizer *t)
{
    mm_status st = t->kind == MM_TOKENIZER_CLIP ? compile(k_clip_pattern, PCRE2_CASELESS, &t->pattern)
                                                 : compile(k_gpt2_pattern, 0, &t->pattern);
    if (!st && t->kind == MM_TOKENIZER_WHISPER)
        st = compile(k_timestamp_pattern, 0, &t->timestamp_pattern);
    return st;
}

/* Splits s[0..n) (valid UTF-8) into pre-tokens and BPEs each one. */
static mm_status pretokenize(const mm_tokenizer *t, const char *s, size_t n, tok_ids *out)
{
    if (n == 0)
        return MM_OK;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->pattern, NULL);
    if (!md)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    mm_status st = MM_OK;
    for (size_t off = 0; off < n && !st;) {
        int rc = pcre2_match(t->pattern, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            st = mm_error_set(MM_ERR_INVALID, "pre-tokenisation failed at byte %zu: %s", off, (const char *)msg);
            break;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) { /* no alternative matches empty; guard anyway */
            off = a + 1;
            while (off < n && ((uint8_t)s[off] & 0xC0) == 0x80)
                off++;
            continue;
        }
        if (t->kind == MM_TOKENIZER_CLIP && b - a == 15 && memcmp(s + a, "<|startoftext|>", 15) == 0)
            tok_ids_push(out, t->clip_sot); /* CLIPTokenizer's cache maps them to themselves */
        else if (t->kind == MM_TOKENIZER_CLIP && b - a == 13 && memcmp(s + a, "<|endoftext|>", 13) == 0)
            tok_ids_push(out, t->clip_eot);
        else
            st = tok_bpe_word(t, s + a, b - a, out);
        off = b;
    }
    pcre2_match_data_free(md);
    return st;
}

/* Encodes text between added tokens. */
static mm_status encode_chunk(const mm_tokenizer *t, const char *s, size_t n, tok_ids *out)
{
    if (n == 0)
        return MM_OK;
    if (t->kind != MM_TOKENIZER_CLIP)
        return pretokenize(t, s, n, out);
    tok_buf clean = {0};
    mm_status st = tok_clip_clean(s, n, &clean);
    if (!st)
        st = pretokenize(t, clean.p, clean.n, out);
    tok_buf_free(&clean);
    return st;
}

/* Python's str.isspace() for the code point starting at s[i]; *w its length. */
static bool space_at(const char *s, size_t n, size_t i, int *w)
{
    ucs4_t c;
    *w = u8_mbtouc_unsafe(&c, (const uint8_t *)s + i, n - i);
    if (*w <= 0)
        *w = 1;
    return tok_py_isspace(c);
}

/* Length of s[0..n) without its trailing white space (str.rstrip()). */
static size_t rstrip_len(const char *s, size_t n)
{
    size_t end = 0;
    for (size_t i = 0; i < n;) {
        int w;
        bool sp = space_at(s, n, i, &w);
        i += (size_t)w;
        if (!sp)
            end = i;
    }
    return end;
}

/* The added token at text[i], longest first; NULL when none. Special ones
 * only with MM_TOKENIZE_SPECIAL. */
static const tok_added *added_at(const mm_tokenizer *t, const char *text, size_t n, size_t i, uint32_t flags)
{
    uint8_t c = (uint8_t)text[i];
    for (int32_t k = t->added_first[c]; k < t->added_first[c + 1]; k++) {
        const tok_added *a = &t->added[k];
        if (a->len > n - i || memcmp(text + i, a->text, a->len) != 0)
            continue;
        if ((t->flags[a->id] & TOKF_SPECIAL) && !(flags & MM_TOKENIZE_SPECIAL))
            continue;
        return a;
    }
    return NULL;
}

static mm_status encode_text(const mm_tokenizer *t, const char *text, size_t n, uint32_t flags, tok_ids *out)
{
    size_t chunk = 0; /* start of text not yet encoded */
    mm_status st = MM_OK;
    for (size_t i = 0; i < n && !st;) {
        const tok_added *a = t->n_added ? added_at(t, text, n, i, flags) : NULL;
        if (!a) {
            i++;
            continue;
        }
        uint8_t f = t->flags[a->id];
        size_t end = i;
        if (f & TOKF_LSTRIP) /* the token eats the white space on its left */
            end = chunk + rstrip_len(text + chunk, i - chunk);
        if ((st = encode_chunk(t, text + chunk, end - chunk, out)))
            break;
        tok_ids_push(out, a->id);
        i += a->len;
        if (f & TOKF_RSTRIP) {
            int w;
            while (i < n && space_at(text, n, i, &w))
                i += (size_t)w;
        }
        chunk = i;
    }
    if (!st)
        st = encode_chunk(t, text + chunk, n - chunk, out);
    if (!st && out->oom)
        st = mm_error_set(MM_ERR_NOMEM, "out of memory");
    return st;
}

/* Ids add_special_tokens=True puts before and after the text. */
static mm_status special_ends(const mm_tokenizer *t, int32_t *head, int32_t *tail)
{
    *head = *tail = -1;
    if (t->kind == MM_TOKENIZER_CLIP) {
        if (t->bos < 0 || t->eos < 0)
            return mm_error_set(MM_ERR_INVALID, "this CLIP tokenizer has no bos_token or eos_token");
        *head = t->bos;
        *tail = t->eos;
    } else if (t->kind == MM_TOKENIZER_GPT2 && t->add_bos) {
        if (t->bos < 0)
            return mm_error_set(MM_ERR_INVALID, "add_bos_token is set but there is no bos_token");
        *head = t->bos;
    }
    return MM_OK;
}

/* Encodes `text` into `out`: content ids, with the special ends when asked,
 * the whole cut to `max_len` ids, special tokens kept (0: no limit). */
static mm_status encode_one(const mm_tokenizer *t, const char *text, uint32_t flags, int32_t max_len, tok_ids *out)
{
    size_t n = strlen(text);
    const uint8_t *bad = u8_check((const uint8_t *)text, n);
    if (bad)
        return mm_error_set(MM_ERR_INVALID, "text is not valid UTF-8 (byte %zu: 0x%02x)",
                            (size_t)(bad - (const uint8_t *)text), *bad);
    int32_t head = -1, tail = -1;
    mm_status st = MM_OK;
    if ((flags & MM_TOKENIZE_ADD_SPECIAL) && (st = special_ends(t, &head, &tail)))
        return st;
    if (head >= 0)
        tok_ids_push(out, head);
    size_t start = out->n;
    if (t->add_prefix_space) {
        /* GPT2Tokenizer.prepare_for_tokenization: " " + text. */
        char *p = malloc(n + 2);
        if (!p)
            return mm_error_set(MM_ERR_NOMEM, "out of memory");
        p[0] = ' ';
        memcpy(p + 1, text, n + 1);
        st = encode_text(t, p, n + 1, flags, out);
        free(p);
    } else
        st = encode_text(t, text, n, flags, out);
    if (st)
        return st;
    if (max_len > 0) {
        /* transformers' truncation keeps the special tokens. */
        size_t room = (size_t)max_len - (head >= 0) - (tail >= 0);
        if (out->n - start > room)
            out->n = start + room;
    }
    if (tail >= 0)
        tok_ids_push(out, tail);
    return out->oom ? mm_error_set(MM_ERR_NOMEM, "out of memory") : MM_OK;
}

mm_status mm_tokenizer_encode(const mm_tokenizer *t, const char *text, uint32_t flags, int32_t *ids, int32_t cap,
                              int32_t *n)
{
    if (n)
        *n = 0;
    if (!t || !text || !n || cap < 0 || (cap > 0 && !ids))
        return mm_error_set(MM_ERR_INVALID, "mm_tokenizer_encode: NULL argument or negative capacity");
    tok_ids out = {0};
    mm_status st = encode_one(t, text, flags, 0, &out);
    if (!st && out.n > INT32_MAX)
        st = mm_error_set(MM_ERR_INVALID, "text needs more than 2^31 tokens");
    if (!st) {
        *n = (int32_t)out.n;
        size_t k = out.n < (size_t)cap ? out.n : (size_t)cap;
        if (k)
            memcpy(ids, out.p, k * sizeof *ids);
    }
    tok_ids_free(&out);
    return st;
}

mm_status mm_tokenizer_encode_batch(const mm_tokenizer *t, const char *const *texts, int32_t n_texts, int32_t max_len,
                                    uint32_t flags, int32_t *ids, int32_t *mask, int32_t *row_len)
{
    if (row_len)
        *row_len = 0;
    if (!t || !texts || !ids || !row_len || n_texts <= 0)
        return mm_error_set(MM_ERR_INVALID, "mm_tokenizer_encode_batch: NULL argument or no texts");
    if (max_len <= 0)
        max_len = t->max_length;
    if (max_len <= 0)
        return mm_error_set(MM_ERR_INVALID, "no maximum length given and tokenizer_config.json has no model_max_length");
    int32_t head, tail;
    mm_status st = (flags & MM_TOKENIZE_ADD_SPECIAL) ? special_ends(t, &head, &tail) : MM_OK;
    if (st)
        return st;
    if ((flags & MM_TOKENIZE_ADD_SPECIAL) && max_len < (head >= 0) + (tail >= 0) + 1)
        return mm_error_set(MM_ERR_INVALID, "maximum length %d leaves no room for text", max_len);

    tok_ids all = {0};
    size_t *start = malloc(((size_t)n_texts + 1) * sizeof *start);
    if (!start)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    size_t longest = 0;
    for (int32_t i = 0; i < n_texts && !st; i++) {
        start[i] = all.n;
        if (!texts[i])
            st = mm_error_set(MM_ERR_INVALID, "text %d is NULL", i);
        else if ((st = encode_one(t, texts[i], flags, max_len, &all)))
            st = mm_error_wrap(st, "text %d", i);
        if (!st && all.n - start[i] > longest)
            longest = all.n - start[i];
    }
    start[n_texts] = all.n;
    bool ragged = false;
    for (int32_t i = 0; i < n_texts && !st; i++)
        ragged |= start[i + 1] - start[i] != longest;
    if (!st && ragged && t->pad < 0)
        st = mm_error_set(MM_ERR_INVALID, "texts of different lengths need a pad_token, which this tokenizer lacks");
    if (!st) {
        for (int32_t i = 0; i < n_texts; i++) {
            size_t len = start[i + 1] - start[i];
            for (size_t k = 0; k < longest; k++) {
                ids[(size_t)i * longest + k] = k < len ? all.p[start[i] + k] : t->pad;
                if (mask)
                    mask[(size_t)i * longest + k] = k < len;
            }
        }
        *row_len = (int32_t)longest;
    }
    free(start);
    tok_ids_free(&all);
    return st;
}
