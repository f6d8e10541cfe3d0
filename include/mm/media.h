/* mmrun media front ends (libmm-media): audio decoding, resampling and the
 * Whisper log-mel spectrogram; image front ends come next.
 *
 * A library of its own, linked by programs (mmrun, library users) and never
 * by plugins, so that a plugin does not pull in libsndfile, libsamplerate or
 * FFTW. Errors are reported as in libmm: every fallible call returns an
 * mm_status and mm_error_message() says why. Nothing here prints.
 *
 * Typical use (whisper.cpp style):
 *
 *     mm_mel *mel;   mm_mel_init("whisper-tiny/", &mel);
 *     mm_audio *a;   mm_audio_load("talk.flac", mm_mel_sampling_rate(mel), &a);
 *     float *x = malloc(sizeof(float) * mm_mel_n_mels(mel) * mm_mel_n_frames(mel));
 *     mm_mel_compute(mel, mm_audio_samples(a), mm_audio_n_samples(a), x);
 *     ... x is {n_frames, n_mels} (ggml order: frames innermost), the
 *         Whisper encoder's input_features ...
 *     mm_audio_free(a); mm_mel_free(mel); */
#ifndef MM_MEDIA_H
#define MM_MEDIA_H

#include "mm/mm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- audio ------------------------------------------------------------- */

/* Decoded audio, down-mixed to mono. */
typedef struct mm_audio mm_audio;

/* Decodes `path` ("-" reads standard input to its end) with libsndfile: WAV
 * (8/16/24/32-bit integer, 32/64-bit float), FLAC, OGG/Vorbis, OGG/Opus,
 * MP3 and the other formats libsndfile knows. Channels are averaged to mono;
 * integer PCM is scaled to [-1, 1) (int16 / 32768, as Whisper's loaders do),
 * float data is kept as stored.
 * When `target_rate` > 0 and differs from the file's rate, the audio is
 * resampled to it (libsamplerate, best sinc); 0 keeps the file's rate. */
MM_API mm_status mm_audio_load(const char *path, int32_t target_rate, mm_audio **out);
/* The same from a complete file image in memory (the bytes are not kept). */
MM_API mm_status mm_audio_load_memory(const void *data, size_t size, int32_t target_rate, mm_audio **out);
MM_API void mm_audio_free(mm_audio *a);

MM_API const float *mm_audio_samples(const mm_audio *a);
MM_API int64_t mm_audio_n_samples(const mm_audio *a);
MM_API int32_t mm_audio_sample_rate(const mm_audio *a);     /* of the samples above */
MM_API int32_t mm_audio_source_rate(const mm_audio *a);     /* of the file          */
MM_API int32_t mm_audio_source_channels(const mm_audio *a); /* of the file          */
/* libsndfile's names of the container and encoding, e.g. "FLAC (Free Lossless
 * Audio Codec)" and "16 bit PCM". */
MM_API const char *mm_audio_source_format(const mm_audio *a);
MM_API const char *mm_audio_source_encoding(const mm_audio *a);

/* Resamples mono `in[0..n)` from `from_rate` to `to_rate` into a new malloc'd
 * buffer (free() it) of *n_out samples. Equal rates copy. */
MM_API mm_status mm_audio_resample(const float *in, int64_t n, int32_t from_rate, int32_t to_rate, float **out,
                                   int64_t *n_out);

/* ---- Whisper log-mel spectrogram -------------------------------------- */

/* The parameters of transformers' WhisperFeatureExtractor. */
typedef struct mm_mel_params {
    int32_t feature_size;  /* mel bins: 80, or 128 for large-v3           */
    int32_t sampling_rate; /* Hz                                           */
    int32_t hop_length;    /* samples between frames                       */
    int32_t n_fft;         /* window and FFT length                        */
    int32_t chunk_length;  /* seconds of audio per input                   */
} mm_mel_params;

/* whisper-tiny … large-v2's values: 80, 16000, 160, 400, 30. */
MM_API mm_mel_params mm_mel_params_default(void);

typedef struct mm_mel mm_mel;

/* Reads a model folder's preprocessor_config.json (or the JSON file at
 * `path`), checks it, and prepares the extractor: mel filters (computed,
 * Slaney scale and norm, as the extractor does), window and FFT plan. */
MM_API mm_status mm_mel_init(const char *path, mm_mel **out);
MM_API mm_status mm_mel_init_params(const mm_mel_params *p, mm_mel **out);
MM_API void mm_mel_free(mm_mel *mel);

MM_API mm_mel_params mm_mel_get_params(const mm_mel *mel);
MM_API int32_t mm_mel_n_mels(const mm_mel *mel);
MM_API int32_t mm_mel_sampling_rate(const mm_mel *mel);
MM_API int64_t mm_mel_n_samples(const mm_mel *mel); /* chunk_length * sampling_rate (480000) */
MM_API int64_t mm_mel_n_frames(const mm_mel *mel);  /* n_samples / hop_length (3000)         */
/* The filter bank, [n_fft/2 + 1][n_mels] (the extractor's mel_filters). */
MM_API const double *mm_mel_filters(const mm_mel *mel);

/* One input of the encoder, exactly as the extractor computes it: the first
 * n_samples of `samples[0..n)` (fewer are padded with zeros), a centred STFT
 * with reflect padding, periodic Hann window, power spectrum, mel filters,
 * log10 (clamped at 1e-10), floored at the maximum - 8, (x + 4) / 4, the
 * last frame dropped. `out` receives n_mels * n_frames floats, mel-major:
 * out[m * n_frames + t] ({n_frames, n_mels} in ggml order), the layout of
 * transformers' input_features. For a window of long audio, pass its first
 * sample and the samples left. Thread-safe: several threads may compute with
 * one extractor at once. */
MM_API mm_status mm_mel_compute(const mm_mel *mel, const float *samples, int64_t n, float *out);

/* Frames of a signal of `padded_len` samples: padded_len / hop_length. */
MM_API int64_t mm_mel_frames_for(const mm_mel *mel, int64_t padded_len);
/* The general form: the signal is samples[0..n) followed by zeros up to
 * `padded_len` samples (cut at padded_len when n is larger); its
 * mm_mel_frames_for(padded_len) frames go to `out` (mel-major, as above),
 * with the max - 8 floor taken over all of them. mm_mel_compute is this with
 * padded_len = n_samples. openai-whisper's long-form loop is this with
 * padded_len = n + n_samples, then windows of n_frames columns. */
MM_API mm_status mm_mel_compute_padded(const mm_mel *mel, const float *samples, int64_t n, int64_t padded_len,
                                       float *out);

#ifdef __cplusplus
}
#endif
#endif
