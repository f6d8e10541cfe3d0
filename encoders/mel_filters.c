/* Mel filter bank of the Whisper feature extractor, computed the way
 * transformers' audio_utils.mel_filter_bank does it (which equals librosa's
 * filters in openai-whisper's mel_filters.npz to ~1e-9): Slaney mel scale
 * (linear below 1 kHz, logarithmic above), triangles between consecutive
 * centre frequencies evaluated at the FFT bin frequencies, each scaled by
 * 2 / (its bandwidth in Hz) so every filter has about the same energy. */
#include "media_impl.h"

#include <math.h>
#include <stdlib.h>

#define SLANEY_MIN_LOG_HZ 1000.0
#define SLANEY_MIN_LOG_MEL 15.0 /* 3 * 1000 / 200 */

static double hz_to_mel(double hz)
{
    if (hz < SLANEY_MIN_LOG_HZ)
        return 3.0 * hz / 200.0;
    return SLANEY_MIN_LOG_MEL + log(hz / SLANEY_MIN_LOG_HZ) * (27.0 / log(6.4));
}

static double mel_to_hz(double mel)
{
    if (mel < SLANEY_MIN_LOG_MEL)
        return 200.0 * mel / 3.0;
    return SLANEY_MIN_LOG_HZ * exp(log(6.4) / 27.0 * (mel - SLANEY_MIN_LOG_MEL));
}

/* numpy.linspace(a, b, n)[i]: a + i * step, the last point exactly b. */
static double linspace_at(double a, double b, int32_t n, int32_t i)
{
    if (n > 1 && i == n - 1)
        return b;
    return n > 1 ? a + i * ((b - a) / (n - 1)) : a;
}

mm_status mm_mel_filter_bank(int32_t n_bins, int32_t n_mels, double f_lo, double f_hi, int32_t sampling_rate,
                             double *out)
{
    /* n_mels + 2 edges: filter m rises from edge m to m+1, falls to m+2. */
    double *edge = malloc(sizeof(double) * (size_t)(n_mels + 2));
    double mel_min = hz_to_mel(f_lo), mel_max = hz_to_mel(f_hi);
    if (!edge)
        return mm_error_set(MM_ERR_NOMEM, "mel filters: out of memory");
    for (int32_t i = 0; i < n_mels + 2; i++)
        edge[i] = mel_to_hz(linspace_at(mel_min, mel_max, n_mels + 2, i));
    /* The bin frequencies span 0 .. sampling_rate // 2 (integer division, as
     * the extractor writes it). */
    double nyquist = (double)(sampling_rate / 2);
    for (int32_t k = 0; k < n_bins; k++) {
        double f = linspace_at(0.0, nyquist, n_bins, k);
        for (int32_t m = 0; m < n_mels; m++) {
            double down = -(edge[m] - f) / (edge[m + 1] - edge[m]);
            double up = (edge[m + 2] - f) / (edge[m + 2] - edge[m + 1]);
            double w = fmax(0.0, fmin(down, up));
            out[(size_t)k * n_mels + m] = w * (2.0 / (edge[m + 2] - edge[m]));
        }
    }
    free(edge);
    return MM_OK;
}
