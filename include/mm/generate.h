/* Token choice shared by every text decoder (Whisper, GPT-2 captioning):
 * logit processors, samplers and beam search, on host logits. The
 * decoding loop that runs a decoder plugin's step graph calls these; none
 * of it knows a model, and plugins never see it.
 *
 * Processors edit one sequence's logits in place: a banned token gets
 * -INFINITY. They follow Hugging Face transformers' processors of the same
 * names (4.40), which the fixtures were generated with. */
#ifndef MM_GENERATE_H
#define MM_GENERATE_H

#include "mm/mm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[i] = x[i] - logsumexp(x) (out may be x); returns the logsumexp.
 * -inf entries stay -inf; all of them -inf gives NaN-free -inf output. */
MM_API float mm_log_softmax(const float *x, int32_t n, float *out);
/* Index of the largest value (the first on ties). */
MM_API int32_t mm_argmax_f32(const float *x, int32_t n);

/* ---- logit processors ---------------------------------------------------- */

/* logits[ids[i]] = -inf for each listed id in range (SuppressTokens, and
 * SuppressTokensAtBegin at the first generated position). */
MM_API void mm_logits_suppress(float *logits, int32_t n_vocab, const int32_t *ids, int32_t n_ids);
/* RepetitionPenalty: for each distinct token of history, a positive logit
 * is divided by penalty and a negative one multiplied. */
MM_API void mm_logits_repetition_penalty(float *logits, int32_t n_vocab, const int32_t *history, int32_t n_history,
                                         float penalty);
/* NoRepeatNGram: bans every token that would repeat an n-gram of history. */
MM_API void mm_logits_no_repeat_ngram(float *logits, int32_t n_vocab, const int32_t *history, int32_t n_history,
                                      int32_t ngram);

/* Whisper's timestamp rules (WhisperTimeStampLogitsProcessor): timestamps
 * come in pairs except before end-of-text, never decrease, the first token
 * is a timestamp no later than max_initial_timestamp_index, and when the
 * timestamps together outweigh every text token one of them is taken. */
typedef struct mm_whisper_timestamp_rules {
    int32_t timestamp_begin;             /* id of <|0.00|>                       */
    int32_t eot;                         /* <|endoftext|>                        */
    int32_t no_timestamps;               /* <|notimestamps|>                     */
    int32_t max_initial_timestamp_index; /* -1: no limit (HF default 50 = 1 s)    */
} mm_whisper_timestamp_rules;
/* `generated` holds the tokens generated after the forced prompt. */
MM_API void mm_logits_whisper_timestamps(float *logits, int32_t n_vocab, const int32_t *generated, int32_t n_generated,
                                         const mm_whisper_timestamp_rules *r);

/* ---- sampling --------------------------------------------------------------- */

typedef struct mm_sampling_params {
    float temperature; /* <= 0: greedy (argmax)                            */
    int32_t top_k;     /* 0: off                                            */
    float top_p;       /* >= 1: off                                         */
    uint64_t seed;     /* same seed, same logits -> same tokens             */
} mm_sampling_params;

typedef struct mm_sampler mm_sampler;

MM_API mm_sampling_params mm_sampling_default_params(void); /* greedy, seed 0 */
MM_API mm_status mm_sampler_init(const mm_sampling_params *p, int32_t n_vocab, mm_sampler **out);
MM_API void mm_sampler_free(mm_sampler *s);
/* The next token from processed logits (edited in place by the
 * temperature, top-k and top-p warpers, in that order, as HF applies them);
 * -1 with an error when every token is banned. */
MM_API int32_t mm_sampler_sample(mm_sampler *s, float *logits);

/* ---- beam search ---------------------------------------------------------
 * Hugging Face's beam search (BeamSearchScorer): the decoder runs all beams
 * as one batch; after each step the scorer picks, from the top 2*n_beams
 * continuations of all beams, the n_beams best that do not end the text,
 * and keeps the ones that do as finished hypotheses scored
 * sum(logprob) / generated_len^length_penalty. The caller reorders its KV
 * cache by `parents` (on the device) and feeds `tokens` to the next step. */
typedef enum mm_early_stopping {
    MM_EARLY_STOPPING_HEURISTIC = 0, /* HF early_stopping=False             */
    MM_EARLY_STOPPING_ON,            /* True: stop at n_beams hypotheses   */
    MM_EARLY_STOPPING_NEVER,         /* "never": the canonical bound        */
} mm_early_stopping;

typedef struct mm_beam_params {
    int32_t n_beams;
    int32_t eos_id;          /* the end-of-text token                       */
    int32_t max_new_tokens;  /* generation stops after this many            */
    float length_penalty;    /* 1.0 in HF's default                         */
    mm_early_stopping early_stopping;
} mm_beam_params;

typedef struct mm_beam_search mm_beam_search;

MM_API mm_status mm_beam_search_init(const mm_beam_params *p, int32_t n_vocab, mm_beam_search **out);
MM_API void mm_beam_search_free(mm_beam_search *bs);
/* One step. logprobs: n_beams rows of n_vocab log-probabilities of the next
 * token (log-softmax, then processors); at the first step every beam holds
 * the same prompt and only row 0 counts. Writes, for each beam slot of the
 * next step, the beam it continues (parents) and its new token. */
MM_API mm_status mm_beam_search_step(mm_beam_search *bs, const float *logprobs, int32_t *parents, int32_t *tokens);
/* True once no beam can beat the finished hypotheses, or at max_new_tokens. */
MM_API bool mm_beam_search_done(const mm_beam_search *bs);
/* The best sequence (generated tokens, without the prompt; the end token
 * included when it ended the text) and its score; valid until the next
 * call or free. Closes open beams as finished hypotheses first. */
MM_API mm_status mm_beam_search_best(mm_beam_search *bs, const int32_t **tokens, int32_t *n_tokens, float *score);

/* ---- the decoding loop ------------------------------------------------------
 * Generation over a decoder (mm/runtime.h) whose source is set: n_src
 * inputs, each decoded by n_beams sequences of the decoder (its n_seq must
 * be n_src * n_beams), all as one batch per step. Greedy (n_beams 1,
 * temperature 0), sampling (n_beams 1, temperature > 0) or beam search.
 * Processors run in HF's order on each sequence's logits (raw logits for
 * greedy and sampling, log-probabilities for beam search): repetition
 * penalty, no-repeat n-gram, suppress, begin-suppress (first generated
 * token only), then the caller's hook (Whisper's timestamp rules). */
typedef struct mm_decoder mm_decoder;

typedef void (*mm_logits_hook)(void *user, float *logits, int32_t n_vocab, const int32_t *generated,
                               int32_t n_generated);

typedef struct mm_gen_params {
    int32_t max_new_tokens;
    int32_t eos_id;                /* generation of a sequence ends with it  */
    int32_t n_beams;               /* 1: greedy or sampling                  */
    float length_penalty;          /* beam search                            */
    mm_early_stopping early_stopping;
    mm_sampling_params sampling;   /* temperature > 0 samples (n_beams 1)    */
    float repetition_penalty;      /* 1: off                                 */
    int32_t no_repeat_ngram_size;  /* 0: off                                 */
    const int32_t *suppress;       /* banned at every step                   */
    int32_t n_suppress;
    const int32_t *begin_suppress; /* banned at the first generated token    */
    int32_t n_begin_suppress;
    mm_logits_hook hook;           /* NULL, or run last on every step        */
    void *hook_user;
} mm_gen_params;

MM_API mm_gen_params mm_gen_default_params(void); /* greedy, 1 beam, length penalty 1 */

/* One input's result: the generated tokens (without the prompt; the end
 * token included when it ended the text), the sum of their log-probs
 * (log-softmax of the processed logits, as openai-whisper counts them) and
 * the beam score (sum / length^length_penalty; the sum for greedy). */
typedef struct mm_gen_result {
    int32_t *tokens; /* malloc'd; mm_gen_result_clear frees it */
    int32_t n_tokens;
    double sum_logprob;
    double score;
} mm_gen_result;

MM_API void mm_gen_result_clear(mm_gen_result *r);

/* Decodes every input from the same forced prompt (n_prompt tokens, already
 * fed or not: the first `n_cached` prompt tokens are assumed in the caches
 * of every sequence, e.g. after a language-detection step). results has
 * n_src entries. */
MM_API mm_status mm_generate(mm_decoder *d, const mm_gen_params *p, const int32_t *prompt, int32_t n_prompt,
                             int32_t n_cached, int32_t n_src, mm_gen_result *results);

#ifdef __cplusplus
}
#endif
#endif
