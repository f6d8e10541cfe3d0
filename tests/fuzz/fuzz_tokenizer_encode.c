/* libFuzzer target: arbitrary bytes as text for a fixture's tokenizer
 * (FUZZ_MODEL_DIR; one build per fixture). The first byte picks the encode
 * flags, the rest is the text. Invalid UTF-8 must be refused; valid text
 * must encode, and for the byte-level tokenizers decode back to itself
 * exactly, whole and piece by piece (each piece valid UTF-8). Any id
 * sequence (the input read as ids) must decode without fault. Run:
 *   fuzz_tokenizer_encode_whisper -dict=tests/fuzz/tokenizer_encode_whisper.dict -max_total_time=60 corpus */
#include "tok_impl.h"

#include <stdlib.h>
#include <string.h>
#include <unistr.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static mm_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (mm_tokenizer_load(FUZZ_MODEL_DIR, &g_tok) != MM_OK)
        __builtin_trap();
    return 0;
}

static void check_decode(const int32_t *ids, int32_t n, uint32_t dflags, const char *want)
{
    size_t len = 0;
    if (mm_tokenizer_decode(g_tok, ids, n, dflags, NULL, 0, &len) != MM_OK)
        __builtin_trap();
    char *text = malloc(len + 1);
    size_t len2 = 0;
    if (!text || mm_tokenizer_decode(g_tok, ids, n, dflags, text, len + 1, &len2) != MM_OK || len2 != len)
        __builtin_trap();
    if (u8_check((const uint8_t *)text, len) || (want && strcmp(text, want) != 0))
        __builtin_trap();
    /* Pieces join to the whole decode, except where whole decodes do more:
     * clean-up, and Whisper's removal of timestamp-like text. */
    bool joinable = !(dflags & MM_DETOKENIZE_CLEANUP) &&
                    (mm_tokenizer_get_kind(g_tok) != MM_TOKENIZER_WHISPER || (dflags & MM_DETOKENIZE_TIMESTAMPS));
    /* The same, piece by piece. */
    mm_detokenizer *d = NULL;
    if (mm_detokenizer_init(g_tok, dflags, &d) != MM_OK)
        __builtin_trap();
    size_t off = 0;
    for (int32_t i = 0; i <= n; i++) {
        const char *piece;
        size_t plen;
        if ((i < n ? mm_detokenizer_push(d, ids[i], &piece, &plen) : mm_detokenizer_flush(d, &piece, &plen)) != MM_OK)
            __builtin_trap();
        if (u8_check((const uint8_t *)piece, plen))
            __builtin_trap();
        if (joinable && (off + plen > len || memcmp(text + off, piece, plen) != 0))
            __builtin_trap();
        off += plen;
    }
    if (joinable && off != len)
        __builtin_trap();
    mm_detokenizer_free(d);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint32_t flags = data[0] & (MM_TOKENIZE_SPECIAL | MM_TOKENIZE_ADD_SPECIAL);
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    size_t n_text = strlen(text);
    bool valid = u8_check((const uint8_t *)text, n_text) == NULL;

    int32_t n = -1, ids[4096];
    mm_status st = mm_tokenizer_encode(g_tok, text, flags, ids, 4096, &n);
    if (valid != (st == MM_OK) || n < 0)
        __builtin_trap();
    if (st == MM_OK && n <= 4096) {
        bool lossless = mm_tokenizer_get_kind(g_tok) != MM_TOKENIZER_CLIP && !(flags & MM_TOKENIZE_ADD_SPECIAL);
        check_decode(ids, n, MM_DETOKENIZE_TIMESTAMPS, lossless ? text : NULL);
        check_decode(ids, n, MM_DETOKENIZE_SKIP_SPECIAL, NULL);
    }
    /* The input as ids (valid ones), decoded with flags from the data. */
    int32_t m = 0;
    for (size_t i = 0; i + 2 < size && m < 4096; i += 3) {
        int32_t id = (int32_t)(data[i] | data[i + 1] << 8 | (data[i + 2] & 0x7F) << 16);
        if (id < mm_tokenizer_n_vocab(g_tok) && mm_tokenizer_token(g_tok, id))
            ids[m++] = id;
    }
    check_decode(ids, m, data[0] >> 4 & 7, NULL);
    free(text);
    return 0;
}
