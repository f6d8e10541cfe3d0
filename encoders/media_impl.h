/* Internal to libmm-media: what its files share. */
#ifndef MM_MEDIA_IMPL_H
#define MM_MEDIA_IMPL_H

#include "mm/media.h"

/* Checks that `p` describes an extractor this library can build (ranges,
 * consistency); `what` names the source in the message. */
mm_status mm_mel_params_check(const mm_mel_params *p, const char *what);

/* Slaney-scale, Slaney-normalised triangular filters as transformers'
 * mel_filter_bank(n_bins, n_mels, fmin, fmax, sampling_rate, norm="slaney",
 * mel_scale="slaney") computes them: out[k * n_mels + m] for FFT bin k. */
mm_status mm_mel_filter_bank(int32_t n_bins, int32_t n_mels, double f_lo, double f_hi, int32_t sampling_rate,
                             double *out);

#endif
