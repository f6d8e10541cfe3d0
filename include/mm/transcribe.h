/* Speech to text with a Whisper model folder (libmm): the windowed
 * decoding of openai-whisper's transcribe() over log-mel features, on the
 * runtime's encoder and decoder plugins, with the shared decoding loop
 * (mm/generate.h) and tokenizer (mm/tokenizer.h).
 *
 *     mm_transcriber *t;  mm_transcriber_init(rt, "whisper-tiny/", &t);
 *     // features from libmm-media: mm_mel_compute_padded(mel, samples, n,
 *     //   n + mm_mel_n_samples(mel), feats): the audio, then 30 s of silence
 *     mm_transcript r;    mm_transcribe(t, feats, n_frames_total, &params, &r);
 *     ... r.text, r.segments[i].start / end / text ...
 *     mm_transcript_clear(&r); mm_transcriber_free(t); */
#ifndef MM_TRANSCRIBE_H
#define MM_TRANSCRIBE_H

#include "mm/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_transcriber mm_transcriber;

typedef enum mm_task { MM_TASK_TRANSCRIBE = 0, MM_TASK_TRANSLATE } mm_task;

typedef struct mm_transcribe_params {
    const char *language;     /* "en", "de", ...; NULL: detected from the first window */
    mm_task task;
    bool timestamps;          /* segment times from timestamp tokens (else one
                                 segment per 30 s window)                     */
    int32_t beam_size;        /* 1: greedy                                     */
    float length_penalty;     /* beam search                                   */
    int32_t max_tokens;       /* per window; 0: half the decoder's context     */
    bool fallback;            /* retry a window at temperatures 0.2 ... 1.0 when
                                 its text is too repetitive or unlikely         */
    float compression_ratio_threshold; /* 2.4: gzip ratio above it = repetitive */
    float logprob_threshold;           /* -1.0: average log-prob below = unlikely */
    float no_speech_threshold;         /* 0.6: silent window when above and unlikely */
    bool condition_on_previous;        /* the previous window's text as prompt */
    const char *initial_prompt;        /* NULL or text that primes the first window */
    uint64_t seed;                     /* for the sampled fallbacks             */
    /* called after each window with the seconds done and in all */
    void (*progress)(void *user, double done_s, double total_s);
    void *progress_user;
} mm_transcribe_params;

MM_API mm_transcribe_params mm_transcribe_default_params(void);

typedef struct mm_segment {
    double start, end;   /* seconds                                                    */
    char *text;
    int32_t *tokens;     /* generated ids without the forced prompt and end token,
                            timestamp tokens included when timestamps are on             */
    int32_t n_tokens;
    float avg_logprob, no_speech_prob, temperature, compression_ratio;
} mm_segment;

typedef struct mm_transcript {
    char language[16];
    char *text;          /* the segments' texts joined                                */
    mm_segment *segments;
    int32_t n_segments;
} mm_transcript;

MM_API void mm_transcript_clear(mm_transcript *r);

/* Loads a Whisper folder (config.json, weights, tokenizer files,
 * generation_config.json when present) on the runtime's backend. */
MM_API mm_status mm_transcriber_init(mm_runtime *rt, const char *model_dir, mm_transcriber **out);
MM_API void mm_transcriber_free(mm_transcriber *t);
/* Mel bins and frames per 30 s window the encoder takes (80 or 128, 3000). */
MM_API int32_t mm_transcriber_n_mels(const mm_transcriber *t);
MM_API int32_t mm_transcriber_n_frames(const mm_transcriber *t);
/* Whether the model knows language `code` ("en"): it is a --language value. */
MM_API bool mm_transcriber_language_known(const mm_transcriber *t, const char *code);
/* Transcribes log-mel features, mel-major [n_mels][n_frames] (libmm-media's
 * layout), of which the last mm_transcriber_n_frames() frames are padding
 * (silence) after the audio. */
MM_API mm_status mm_transcribe(mm_transcriber *t, const float *mel, int64_t n_frames, const mm_transcribe_params *p,
                               mm_transcript *out);

/* The no-speech rule on its decision inputs: a window is silent when the
 * no-speech probability is above its threshold and the average log-prob is
 * below its own (or there is no log-prob threshold). */
MM_API bool mm_whisper_window_is_silent(float no_speech_prob, float avg_logprob, float no_speech_threshold,
                                        float logprob_threshold);

#ifdef __cplusplus
}
#endif
#endif
