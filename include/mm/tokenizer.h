/* Tokenizers of Hugging Face model folders, shared by every decoder and the
 * CLIP text tower: GPT-2's byte-level BPE, Whisper's (the same BPE with its
 * special, language and timestamp tokens) and CLIP's (BPE with "</w>" word
 * ends after a text cleanup). Each gives the ids the SLOW transformers class
 * named by the folder's tokenizer_config.json gives (GPT2Tokenizer,
 * WhisperTokenizer, CLIPTokenizer): the classes the fixtures were made with.
 *
 * Files read from the folder: vocab.json + merges.txt (or tokenizer.json
 * when it is all a folder has), added_tokens.json, tokenizer_config.json,
 * special_tokens_map.json, and config.json's model_type when the tokenizer
 * class is not named.
 *
 * A loaded tokenizer is immutable apart from an internal word cache guarded
 * by a lock: encode and decode may run from several threads at once. */
#ifndef MM_TOKENIZER_H
#define MM_TOKENIZER_H

#include "mm/mm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_tokenizer mm_tokenizer;

typedef enum mm_tokenizer_kind {
    MM_TOKENIZER_GPT2 = 0, /* byte-level BPE (GPT2Tokenizer)                */
    MM_TOKENIZER_WHISPER,  /* byte-level BPE + timestamp tokens             */
    MM_TOKENIZER_CLIP,     /* CLIPTokenizer: cleanup, lower case, "</w>"    */
} mm_tokenizer_kind;

/* mm_tokenizer_encode flags. */
enum {
    /* Text spelling a special token ("<|endoftext|>", "<|en|>") becomes that
     * token, as transformers does by default. Without it only the non-special
     * added tokens (Whisper's "<|0.00|>" ...) are matched; special ones are
     * encoded as plain text. (CLIP's own pattern always matches its two
     * special tokens, as CLIPTokenizer does.) */
    MM_TOKENIZE_SPECIAL = 1u << 0,
    /* Adds what add_special_tokens=True adds: CLIP <|startoftext|> ...
     * <|endoftext|>; GPT-2 the bos token when add_bos_token is set; Whisper
     * nothing (the decoding loop builds the forced prompt itself). */
    MM_TOKENIZE_ADD_SPECIAL = 1u << 1,
};

/* mm_tokenizer_decode / mm_detokenizer flags. */
enum {
    MM_DETOKENIZE_SKIP_SPECIAL = 1u << 0, /* drop special tokens (Whisper: and a leading
                                             <|startofprev|> prompt)                      */
    MM_DETOKENIZE_CLEANUP = 1u << 1,      /* clean_up_tokenization_spaces: " ." -> "." ... */
    MM_DETOKENIZE_TIMESTAMPS = 1u << 2,   /* Whisper: keep "<|1.00|>" timestamp text
                                             (dropped otherwise, as transformers does)    */
};

/* Loads the tokenizer of model folder `dir`. The class comes from
 * tokenizer_config.json's tokenizer_class (a "...Fast" name counts as the
 * slow class), else from config.json's model_type. */
MM_API mm_status mm_tokenizer_load(const char *dir, mm_tokenizer **out);
MM_API void mm_tokenizer_free(mm_tokenizer *tok);

MM_API mm_tokenizer_kind mm_tokenizer_get_kind(const mm_tokenizer *tok);
/* Number of ids: the largest id + 1 (transformers' len(tokenizer)). */
MM_API int32_t mm_tokenizer_n_vocab(const mm_tokenizer *tok);
/* Id of a token by its vocabulary spelling ("Ġworld", "<|en|>", "a</w>"),
 * or -1. */
MM_API int32_t mm_tokenizer_token_id(const mm_tokenizer *tok, const char *token);
/* Vocabulary spelling of an id, or NULL when no token has that id. */
MM_API const char *mm_tokenizer_token(const mm_tokenizer *tok, int32_t id);
MM_API bool mm_tokenizer_is_special(const mm_tokenizer *tok, int32_t id);
/* Special token ids, -1 when the folder has none. */
MM_API int32_t mm_tokenizer_bos(const mm_tokenizer *tok);
MM_API int32_t mm_tokenizer_eos(const mm_tokenizer *tok);
MM_API int32_t mm_tokenizer_pad(const mm_tokenizer *tok);
MM_API int32_t mm_tokenizer_unk(const mm_tokenizer *tok);
/* Whisper: id of "<|0.00|>"; timestamp t seconds is this + round(t / 0.02).
 * Folders without timestamp tokens get them after <|notimestamps|>, where
 * transformers places them. -1 for other tokenizers. */
MM_API int32_t mm_tokenizer_timestamp_begin(const mm_tokenizer *tok);
/* model_max_length of tokenizer_config.json, 0 when it gives none. */
MM_API int32_t mm_tokenizer_max_length(const mm_tokenizer *tok);
/* What transformers' decode() does by default: true when it cleans up
 * spaces before punctuation (pass MM_DETOKENIZE_CLEANUP then). */
MM_API bool mm_tokenizer_cleanup_default(const mm_tokenizer *tok);

/* Encodes NUL-terminated UTF-8 `text`. Sets *n to the number of ids the
 * text needs and writes the first min(*n, cap) of them (snprintf-style:
 * cap 0 sizes). Text that is not valid UTF-8 is refused. */
MM_API mm_status mm_tokenizer_encode(const mm_tokenizer *tok, const char *text, uint32_t flags,
                                     int32_t *ids, int32_t cap, int32_t *n);

/* Encodes n_texts texts as one batch as transformers does with
 * add_special_tokens, truncation=True and padding=True (CLIPProcessor):
 * each row is truncated to max_len ids (the special tokens kept), then all
 * rows are padded on the right with the pad token to the longest row.
 * max_len <= 0 takes model_max_length. `ids` and `mask` (1 = token,
 * 0 = padding; may be NULL) hold n_texts * max_len values; the rows are
 * written contiguously, *row_len ids each. */
MM_API mm_status mm_tokenizer_encode_batch(const mm_tokenizer *tok, const char *const *texts, int32_t n_texts,
                                           int32_t max_len, uint32_t flags, int32_t *ids, int32_t *mask,
                                           int32_t *row_len);

/* Decodes ids to UTF-8 as transformers' decode() does (bytes that are not
 * valid UTF-8 become U+FFFD, as errors="replace" does). Sets *len to the
 * text's length and writes at most cap - 1 bytes of it plus a NUL
 * (snprintf-style: cap 0 sizes). An id outside the vocabulary is an error. */
MM_API mm_status mm_tokenizer_decode(const mm_tokenizer *tok, const int32_t *ids, int32_t n, uint32_t flags,
                                     char *out, size_t cap, size_t *len);

/* The same into a malloc'd NUL-terminated string (free() it). */
MM_API mm_status mm_tokenizer_decode_alloc(const mm_tokenizer *tok, const int32_t *ids, int32_t n, uint32_t flags,
                                           char **out);

/* Incremental decoding for streamed output: each pushed id yields the text
 * it completes. Bytes of a UTF-8 sequence split across tokens are held back
 * until the sequence is complete, so no piece ends inside a character (and
 * CLIP's word-end spaces until more text follows). The pieces up to the
 * flush join to mm_tokenizer_decode of the same ids with the same flags,
 * except what only whole decodes do: MM_DETOKENIZE_CLEANUP is ignored, and
 * Whisper drops timestamp tokens but not text that merely spells one. */
typedef struct mm_detokenizer mm_detokenizer;

MM_API mm_status mm_detokenizer_init(const mm_tokenizer *tok, uint32_t flags, mm_detokenizer **out);
MM_API void mm_detokenizer_free(mm_detokenizer *d);
/* *text points into d (valid until the next call on d), NUL-terminated,
 * possibly empty. */
MM_API mm_status mm_detokenizer_push(mm_detokenizer *d, int32_t id, const char **text, size_t *len);
/* Ends the stream: bytes still held back become U+FFFD. */
MM_API mm_status mm_detokenizer_flush(mm_detokenizer *d, const char **text, size_t *len);
MM_API void mm_detokenizer_reset(mm_detokenizer *d);

#ifdef __cplusplus
}
#endif
#endif
