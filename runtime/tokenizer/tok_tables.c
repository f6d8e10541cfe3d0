/* Tables derived from a loaded vocabulary, made once at load: which ids
 * decode on their own, the bytes each id decodes to, the added tokens
 * indexed by first byte for matching in text, and the symbol BPE starts
 * from for each byte. */
#include "tok_impl.h"

#include <stdlib.h>
#include <string.h>

static int added_cmp(const void *pa, const void *pb)
{
    const tok_added *a = pa, *b = pb;
    uint8_t ca = (uint8_t)a->text[0], cb = (uint8_t)b->text[0];
    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1; /* longest first */
    return a->id < b->id ? -1 : a->id > b->id;
}

mm_status tok_build_tables(mm_tokenizer *t)
{
    /* Which ids decode as pieces of their own (see tok_decode.c). */
    int32_t n_added = 0;
    for (int32_t i = 0; i < t->n_ids; i++) {
        uint8_t f = t->flags[i];
        bool sep;
        if (t->kind == MM_TOKENIZER_WHISPER)
            sep = f & TOKF_ADDED; /* WhisperTokenizer._decode: every added token */
        else
            sep = ((f & TOKF_ADDED) && !(f & TOKF_SPECIAL)) ||
                  ((f & TOKF_ADDITIONAL) && i >= t->n_vocab_file); /* legacy_added_tokens */
        if (sep)
            t->flags[i] |= TOKF_SEPARATE;
        n_added += (f & TOKF_ADDED) && t->tokens[i] && t->token_len[i] > 0;
    }

    /* Bytes each id decodes to. */
    tok_buf pieces = {0};
    t->piece_off = malloc((size_t)t->n_ids * sizeof *t->piece_off);
    t->piece_len = malloc((size_t)t->n_ids * sizeof *t->piece_len);
    if (!t->piece_off || !t->piece_len)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < t->n_ids; i++) {
        t->piece_off[i] = (uint32_t)pieces.n;
        const char *s = t->tokens[i];
        uint32_t n = s ? t->token_len[i] : 0;
        if ((t->flags[i] & TOKF_SEPARATE) || ((t->flags[i] & TOKF_ADDED) && i >= t->n_vocab_file)) {
            tok_buf_put(&pieces, s, n);
        } else {
            /* Undo bytes_to_unicode; a character outside it (no real
             * vocabulary has one) stands for itself. */
            for (uint32_t k = 0; k < n;) {
                uint8_t c = (uint8_t)s[k];
                uint32_t cp = c, w = 1;
                if (c >= 0xC0 && c < 0xE0 && k + 1 < n) {
                    cp = (uint32_t)(c & 0x1F) << 6 | ((uint8_t)s[k + 1] & 0x3F);
                    w = 2;
                }
                int b = c >= 0x80 && w == 1 ? -1 : tok_cp_to_byte(cp);
                if (b >= 0) {
                    char ch = (char)b;
                    tok_buf_put(&pieces, &ch, 1);
                    k += w;
                } else {
                    tok_buf_put(&pieces, s + k, 1);
                    k++;
                }
            }
        }
        t->piece_len[i] = (uint32_t)pieces.n - t->piece_off[i];
    }
    if (pieces.oom) {
        tok_buf_free(&pieces);
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    }
    t->pieces = pieces.p;

    /* Added tokens, bucketed by first byte for matching in text. */
    t->added = malloc((size_t)(n_added ? n_added : 1) * sizeof *t->added);
    if (!t->added)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < t->n_ids; i++) {
        if ((t->flags[i] & TOKF_ADDED) && t->tokens[i] && t->token_len[i] > 0) {
            /* Only the id the spelling maps to (an added token that shadows
             * a vocabulary token is matched once, as itself). */
            int32_t *id = tok_strmap_get(&t->vocab, t->tokens[i], t->token_len[i]);
            if (id && *id == i)
                t->added[t->n_added++] = (tok_added){i, t->token_len[i], t->tokens[i]};
        }
    }
    qsort(t->added, (size_t)t->n_added, sizeof *t->added, added_cmp);
    int32_t k = 0;
    for (int c = 0; c <= 256; c++) {
        while (k < t->n_added && (uint8_t)t->added[k].text[0] < c)
            k++;
        t->added_first[c] = k;
    }

    /* The symbols BPE starts from: one per byte (CLIP: the last one with
     * "</w>"). */
    for (int b = 0; b < 256; b++) {
        tok_buf s = {0};
        tok_utf8_put(&s, tok_byte_to_cp((uint8_t)b));
        size_t n = s.n;
        tok_buf_put(&s, "</w>", 4);
        if (s.oom) {
            tok_buf_free(&s);
            return mm_error_set(MM_ERR_NOMEM, "out of memory");
        }
        int32_t *id = tok_strmap_get(&t->vocab, s.p, (uint32_t)n);
        int32_t *id_end = tok_strmap_get(&t->vocab, s.p, (uint32_t)s.n);
        t->byte_sym[b] = id ? *id : -1;
        t->byte_sym_end[b] = id_end ? *id_end : -1;
        tok_buf_free(&s);
    }
    return MM_OK;
}
