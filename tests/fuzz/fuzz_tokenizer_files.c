/* libFuzzer target: arbitrary tokenizer files. The input is split at "\x00\x00"
 * into vocab.json, merges.txt, tokenizer_config.json, added_tokens.json,
 * special_tokens_map.json and tokenizer.json (absent when the input has
 * fewer parts or the part is empty), written to a scratch folder and loaded. Loading must succeed or be refused with a
 * message; a loaded tokenizer must encode and decode text without fault.
 * Run: fuzz_tokenizer_files -dict=tests/fuzz/tokenizer_files.dict corpus */
#include "tok_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64];
static const char *const k_names[] = {"vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json",
                                      "special_tokens_map.json", "tokenizer.json"};
#define N_FILES (sizeof k_names / sizeof *k_names)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mm_log_set_level(MM_LOG_ERROR);
    if (!g_dir[0]) {
        strcpy(g_dir, "/tmp/mm-fuzz-tok-XXXXXX");
        if (!mkdtemp(g_dir))
            __builtin_trap();
    }
    size_t start = 0;
    for (size_t f = 0; f < N_FILES; f++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", g_dir, k_names[f]);
        unlink(path);
        if (start > size)
            continue;
        size_t end = start;
        while (end + 1 < size && !(data[end] == 0 && data[end + 1] == 0))
            end++;
        if (end + 1 >= size)
            end = size;
        if (end == start) {
            start = end + 2;
            continue;
        }
        FILE *fp = fopen(path, "wb");
        if (!fp)
            __builtin_trap();
        fwrite(data + start, 1, end - start, fp);
        fclose(fp);
        start = end + 2;
    }
    mm_tokenizer *tok = NULL;
    mm_status st = mm_tokenizer_load(g_dir, &tok);
    if (st != MM_OK) {
        if (tok || !mm_error_message()[0])
            __builtin_trap();
        return 0;
    }
    static const char *const texts[] = {"Hello, world! it's 3.14 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x8e\x89",
                                        "<|endoftext|>  a<|startoftext|>b ", ""};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t ids[256], n = 0;
        if (mm_tokenizer_encode(tok, texts[i], MM_TOKENIZE_SPECIAL | MM_TOKENIZE_ADD_SPECIAL, ids, 256, &n) == MM_OK) {
            char out[4096];
            size_t len;
            mm_tokenizer_decode(tok, ids, n < 256 ? n : 256, 0, out, sizeof out, &len);
        }
    }
    int32_t all[64];
    for (int32_t i = 0; i < 64; i++)
        all[i] = i % (mm_tokenizer_n_vocab(tok) ? mm_tokenizer_n_vocab(tok) : 1);
    char out[4096];
    size_t len;
    mm_tokenizer_decode(tok, all, 64, MM_DETOKENIZE_SKIP_SPECIAL | MM_DETOKENIZE_CLEANUP, out, sizeof out, &len);
    mm_tokenizer_free(tok);
    return 0;
}
