/* Whisper log-mel spectrogram, as transformers' WhisperFeatureExtractor
 * computes it (and openai-whisper's log_mel_spectrogram, which agrees to
 * ~1e-7): zero-pad, centred STFT with reflect padding and a periodic Hann
 * window, power spectrum, mel filters, log10, max - 8 floor, (x + 4) / 4.
 *
 * Everything runs in double precision and is rounded to float at the end, so
 * the result sits within float rounding of the float64 numpy path; the
 * reference features (torch, float32) are within 2.3e-5 of it (jfk.wav). */
#include "media_impl.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The extractor builds its filters for 0 .. 8000 Hz whatever the sampling
 * rate (transformers hard-codes max_frequency=8000.0). */
#define MEL_FMAX_HZ 8000.0
#define LOG_CLAMP 1e-10
#define DYNAMIC_RANGE 8.0

struct mm_mel {
    mm_mel_params p;
    int32_t n_bins;   /* n_fft / 2 + 1 */
    double *filters;  /* [n_bins][n_mels] */
    int32_t *f_first; /* per mel: its first non-zero bin ...          */
    int32_t *f_end;   /* ... and one past its last (empty: first=end) */
    double *window;   /* periodic Hann, n_fft */
    fftw_plan plan;   /* r2c of n_fft, run with fftw_execute_dft_r2c */
};

/* FFTW's planner (plan creation and destruction) is not thread-safe; only
 * fftw_execute* is. Every extractor plans under this lock. */
static pthread_mutex_t g_fftw_planner = PTHREAD_MUTEX_INITIALIZER;

void mm_mel_free(mm_mel *mel)
{
    if (!mel)
        return;
    if (mel->plan) {
        pthread_mutex_lock(&g_fftw_planner);
        fftw_destroy_plan(mel->plan);
        pthread_mutex_unlock(&g_fftw_planner);
    }
    free(mel->filters);
    free(mel->f_first);
    free(mel->f_end);
    free(mel->window);
    free(mel);
}

mm_status mm_mel_init_params(const mm_mel_params *p, mm_mel **out)
{
    if (!p || !out)
        return mm_error_set(MM_ERR_INVALID, "mm_mel_init_params: NULL argument");
    *out = NULL;
    mm_status st = mm_mel_params_check(p, "mel parameters");
    if (st != MM_OK)
        return st;
    mm_mel *mel = calloc(1, sizeof *mel);
    if (!mel)
        return mm_error_set(MM_ERR_NOMEM, "mel extractor: out of memory");
    mel->p = *p;
    mel->n_bins = p->n_fft / 2 + 1;
    int32_t n_mels = p->feature_size, n_fft = p->n_fft;
    mel->filters = malloc(sizeof(double) * (size_t)mel->n_bins * n_mels);
    mel->f_first = malloc(sizeof(int32_t) * (size_t)n_mels);
    mel->f_end = malloc(sizeof(int32_t) * (size_t)n_mels);
    mel->window = malloc(sizeof(double) * (size_t)n_fft);
    if (!mel->filters || !mel->f_first || !mel->f_end || !mel->window) {
        mm_mel_free(mel);
        return mm_error_set(MM_ERR_NOMEM, "mel extractor: out of memory");
    }
    if ((st = mm_mel_filter_bank(mel->n_bins, n_mels, 0.0, MEL_FMAX_HZ, p->sampling_rate, mel->filters)) != MM_OK) {
        mm_mel_free(mel);
        return st;
    }
    /* Each triangle covers a few bins: the mel product only visits those. */
    for (int32_t m = 0; m < n_mels; m++) {
        int32_t first = mel->n_bins, end = 0;
        for (int32_t k = 0; k < mel->n_bins; k++)
            if (mel->filters[(size_t)k * n_mels + m] != 0.0) {
                if (k < first)
                    first = k;
                end = k + 1;
            }
        mel->f_first[m] = first < end ? first : 0;
        mel->f_end[m] = first < end ? end : 0;
    }
    /* np.hanning(n_fft + 1)[:-1]: the periodic window torch.hann_window uses. */
    for (int32_t i = 0; i < n_fft; i++)
        mel->window[i] = 0.5 - 0.5 * cos(2.0 * M_PI * i / n_fft);

    /* Planned on fftw_malloc'd arrays, as every compute's arrays are: the
     * new-array execute needs the same alignment. ESTIMATE: one small FFT
     * size, where measuring would cost more than it saves. */
    double *in = fftw_malloc(sizeof(double) * (size_t)n_fft);
    fftw_complex *spec = fftw_malloc(sizeof(fftw_complex) * (size_t)mel->n_bins);
    if (in && spec) {
        pthread_mutex_lock(&g_fftw_planner);
        mel->plan = fftw_plan_dft_r2c_1d(n_fft, in, spec, FFTW_ESTIMATE);
        pthread_mutex_unlock(&g_fftw_planner);
    }
    fftw_free(in);
    fftw_free(spec);
    if (!mel->plan) {
        mm_mel_free(mel);
        return mm_error_set(MM_ERR_NOMEM, "mel extractor: cannot plan an FFT of %ld points", (long)n_fft);
    }
    *out = mel;
    return MM_OK;
}

mm_mel_params mm_mel_get_params(const mm_mel *mel)
{
    return mel->p;
}

int32_t mm_mel_n_mels(const mm_mel *mel)
{
    return mel->p.feature_size;
}

int32_t mm_mel_sampling_rate(const mm_mel *mel)
{
    return mel->p.sampling_rate;
}

int64_t mm_mel_n_samples(const mm_mel *mel)
{
    return (int64_t)mel->p.chunk_length * mel->p.sampling_rate;
}

int64_t mm_mel_n_frames(const mm_mel *mel)
{
    return mm_mel_frames_for(mel, mm_mel_n_samples(mel));
}

const double *mm_mel_filters(const mm_mel *mel)
{
    return mel->filters;
}

int64_t mm_mel_frames_for(const mm_mel *mel, int64_t padded_len)
{
    /* A centred STFT gives 1 + padded_len / hop frames; the extractor drops
     * the last. */
    return padded_len > 0 ? padded_len / mel->p.hop_length : 0;
}

/* Sample i of the padded signal (samples, then zeros up to len) after
 * reflect padding by `pad` at both ends: index i - pad, mirrored at 0 and at
 * len - 1 without repeating the edge sample (numpy's "reflect"). */
static double padded_at(const float *x, int64_t n, int64_t len, int64_t pad, int64_t i)
{
    int64_t j = i - pad;
    if (j < 0)
        j = -j;
    else if (j >= len)
        j = 2 * (len - 1) - j;
    return j < n ? x[j] : 0.0;
}

mm_status mm_mel_compute_padded(const mm_mel *mel, const float *samples, int64_t n, int64_t padded_len, float *out)
{
    if (!mel || (!samples && n > 0) || !out || n < 0)
        return mm_error_set(MM_ERR_INVALID, "mm_mel_compute: NULL argument or negative length");
    const int32_t n_fft = mel->p.n_fft, hop = mel->p.hop_length, n_mels = mel->p.feature_size, n_bins = mel->n_bins;
    const int64_t pad = n_fft / 2;
    if (padded_len <= pad)
        return mm_error_set(MM_ERR_INVALID, "mm_mel_compute: a signal of %lld samples is too short to reflect-pad by %lld",
                            (long long)padded_len, (long long)pad);
    if (n > padded_len)
        n = padded_len;
    const int64_t n_frames = mm_mel_frames_for(mel, padded_len);

    double *frame = fftw_malloc(sizeof(double) * (size_t)n_fft);
    fftw_complex *spec = fftw_malloc(sizeof(fftw_complex) * (size_t)n_bins);
    double *power = malloc(sizeof(double) * (size_t)n_bins);
    if (!frame || !spec || !power) {
        fftw_free(frame);
        fftw_free(spec);
        free(power);
        return mm_error_set(MM_ERR_NOMEM, "mm_mel_compute: out of memory");
    }

    double max_log = -DBL_MAX;
    for (int64_t t = 0; t < n_frames; t++) {
        const int64_t start = t * hop; /* in the reflect-padded signal */
        if (start >= pad && start - pad + n_fft <= n) {
            const float *x = samples + (start - pad);
            for (int32_t i = 0; i < n_fft; i++)
                frame[i] = x[i] * mel->window[i];
        } else {
            for (int32_t i = 0; i < n_fft; i++)
                frame[i] = padded_at(samples, n, padded_len, pad, start + i) * mel->window[i];
        }
        fftw_execute_dft_r2c(mel->plan, frame, spec);
        for (int32_t k = 0; k < n_bins; k++)
            power[k] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
        for (int32_t m = 0; m < n_mels; m++) {
            double acc = 0.0;
            for (int32_t k = mel->f_first[m]; k < mel->f_end[m]; k++)
                acc += mel->filters[(size_t)k * n_mels + m] * power[k];
            double v = log10(acc > LOG_CLAMP ? acc : LOG_CLAMP);
            if (v > max_log)
                max_log = v;
            out[(size_t)m * n_frames + t] = (float)v;
        }
    }
    fftw_free(frame);
    fftw_free(spec);
    free(power);

    /* Dynamic range of 8 (80 dB) below the loudest value of the block. */
    const double floor_v = max_log - DYNAMIC_RANGE;
    const size_t total = (size_t)n_mels * (size_t)n_frames;
    for (size_t i = 0; i < total; i++) {
        double v = out[i] > floor_v ? out[i] : floor_v;
        out[i] = (float)((v + 4.0) / 4.0);
    }
    return MM_OK;
}

mm_status mm_mel_compute(const mm_mel *mel, const float *samples, int64_t n, float *out)
{
    if (!mel)
        return mm_error_set(MM_ERR_INVALID, "mm_mel_compute: NULL argument");
    return mm_mel_compute_padded(mel, samples, n, mm_mel_n_samples(mel), out);
}
