/* Internals of mm_tokenizer, shared by the files of runtime/tokenizer/:
 *   tok_util.c    growable buffers, hash maps, UTF-8 and byte-level helpers
 *   tok_load.c    reading a model folder's tokenizer files
 *   tok_tables.c  tables derived from them (decode pieces, added tokens)
 *   tok_bpe.c     BPE merges by rank and the word cache
 *   tok_clip.c    CLIPTokenizer's text cleanup (BasicTokenizer, libunistring)
 *   tok_encode.c  added tokens, pre-tokenisation (PCRE2), encode
 *   tok_decode.c  decode and the incremental decoder */
#ifndef MM_TOK_IMPL_H
#define MM_TOK_IMPL_H

#include "mm/tokenizer.h"

#include <pthread.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- growable byte / id buffers ----------------------------------------- */

typedef struct tok_buf {
    char *p;
    size_t n, cap;
    bool oom; /* a failed append: callers check once at the end */
} tok_buf;

void tok_buf_put(tok_buf *b, const void *data, size_t n);
void tok_buf_putc(tok_buf *b, char c);
void tok_buf_free(tok_buf *b);

typedef struct tok_ids {
    int32_t *p;
    size_t n, cap;
    bool oom;
} tok_ids;

void tok_ids_push(tok_ids *v, int32_t id);
void tok_ids_free(tok_ids *v);

/* ---- hash maps ------------------------------------------------------------ */

/* String -> int32. Keys are not copied: they must outlive the map. */
typedef struct tok_strmap {
    struct tok_strslot {
        const char *key; /* NULL: empty */
        uint32_t len, hash;
        int32_t value;
    } *slots;
    uint32_t mask, count;
} tok_strmap;

uint32_t tok_hash(const void *data, size_t n);
/* Inserts or overwrites. False when out of memory. */
bool tok_strmap_put(tok_strmap *m, const char *key, uint32_t len, int32_t value);
/* Pointer to the value, or NULL. */
int32_t *tok_strmap_get(const tok_strmap *m, const char *key, uint32_t len);
void tok_strmap_clear(tok_strmap *m);
void tok_strmap_free(tok_strmap *m);

/* A merge: (left id, right id) -> rank and the merged token's id. */
typedef struct tok_pairmap {
    struct tok_pairslot {
        uint64_t key; /* UINT64_MAX: empty */
        int32_t rank, result;
    } *slots;
    uint32_t mask, count;
} tok_pairmap;

bool tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t result);
const struct tok_pairslot *tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b);
void tok_pairmap_free(tok_pairmap *m);

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Appends the UTF-8 encoding of code point c (c < 0x110000). */
void tok_utf8_put(tok_buf *b, uint32_t c);
/* Decodes in[0..n) as Python's bytes.decode("utf-8", errors="replace")
 * does: each maximal invalid subpart becomes one U+FFFD. When `final` is
 * false, a valid but incomplete sequence at the end is not decoded: the
 * number of bytes consumed is returned (the rest is to be retried with
 * more bytes). */
size_t tok_utf8_decode_replace(const uint8_t *in, size_t n, bool final, tok_buf *out);

/* Python's str.isspace() (what str.split() and str.strip() cut at). */
bool tok_py_isspace(uint32_t c);

/* GPT-2's bytes_to_unicode(): every byte maps to a printable code point. */
uint32_t tok_byte_to_cp(uint8_t b);
/* The inverse; -1 for code points no byte maps to. */
int tok_cp_to_byte(uint32_t cp);

/* ---- the tokenizer --------------------------------------------------------- */

enum {
    TOKF_SPECIAL = 1u << 0, /* skipped by MM_DETOKENIZE_SKIP_SPECIAL               */
    TOKF_ADDED = 1u << 1,   /* matched in the text before pre-tokenisation         */
    TOKF_SEPARATE = 1u << 2, /* decoded as its own piece, not byte-decoded with its
                                neighbours (transformers' "legacy added tokens")   */
    TOKF_LSTRIP = 1u << 3,  /* eats the white space on its left                    */
    TOKF_RSTRIP = 1u << 4,  /* eats the white space on its right                   */
    TOKF_ADDITIONAL = 1u << 5, /* in additional_special_tokens (used while loading)  */
};

typedef struct tok_added {
    int32_t id;
    uint32_t len;
    const char *text; /* the token's content (points at tokens[id]) */
} tok_added;

struct mm_tokenizer {
    mm_tokenizer_kind kind;

    /* id -> spelling; NULL where no token has the id. Spellings live in
     * `strings` (one allocation). */
    int32_t n_ids, ids_cap;
    char **tokens;
    uint32_t *token_len;
    uint8_t *flags;          /* TOKF_* per id */
    int32_t n_vocab_file;    /* entries of vocab.json (transformers' vocab_size) */
    struct tok_arena *arena; /* the spellings (blocks that never move) */

    /* id -> bytes it decodes to (the byte-level mapping undone); points into
     * `pieces`. Added tokens decode to their own text. */
    uint32_t *piece_off, *piece_len;
    char *pieces;

    tok_strmap vocab; /* spelling -> id, every id */
    tok_pairmap merges;
    int32_t n_merges;
    int32_t byte_sym[256];     /* id of each byte's character, -1 if none        */
    int32_t byte_sym_end[256]; /* CLIP: id of each byte's character + "</w>"     */

    /* Added tokens sorted by first byte, then longest first: the candidates
     * at a text position are added[first[c] .. first[c + 1]). */
    tok_added *added;
    int32_t n_added;
    int32_t added_first[257];

    pcre2_code *pattern; /* pre-tokenisation                                   */
    pcre2_code *timestamp_pattern; /* Whisper decode: "<|1.00|>" removal      */

    int32_t bos, eos, pad, unk, timestamp_begin, max_length;
    int32_t clip_sot, clip_eot; /* ids of <|startoftext|>, <|endoftext|>  */
    bool add_prefix_space, add_bos, cleanup;

    /* Word cache: word bytes -> ids (cache_ids[off .. off + n]). Guarded by
     * cache_lock: encode runs on a const tokenizer from any thread. */
    pthread_mutex_t cache_lock;
    tok_strmap cache;
    tok_buf cache_keys;
    tok_ids cache_ids;
    struct tok_cache_val {
        uint32_t off, n;
    } *cache_vals;
    uint32_t cache_n, cache_cap;
};

/* tok_load.c: adds a token spelling for `id` (growing the id space). */
mm_status tok_set_token(mm_tokenizer *t, int32_t id, const char *s, size_t len, uint8_t flags);

/* tok_tables.c: the decode pieces, the added-token index and the byte
 * symbols, once every token is known. */
mm_status tok_build_tables(mm_tokenizer *t);

/* tok_bpe.c */
/* Byte-level BPE of one pre-token `word` (raw text bytes); appends its ids
 * to `out`. CLIP: the last symbol carries "</w>". */
mm_status tok_bpe_word(const mm_tokenizer *t, const char *word, size_t len, tok_ids *out);
void tok_cache_free(mm_tokenizer *t);

/* tok_clip.c: CLIPTokenizer's cleanup without ftfy (transformers'
 * BasicTokenizer: drop control characters, white space to " ", spaces
 * around CJK ideographs, NFC, split on white space, lower case, join with
 * " "). */
mm_status tok_clip_clean(const char *text, size_t len, tok_buf *out);

/* tok_encode.c */
mm_status tok_compile_patterns(mm_tokenizer *t);

#endif
