/* Logit processors (mm/generate.h), after transformers' classes of the
 * same names. They edit one sequence's logits; a banned token gets -inf. */
#include "mm/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float mm_log_softmax(const float *x, int32_t n, float *out)
{
    float max = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    if (max == -INFINITY) {
        for (int32_t i = 0; i < n; i++)
            out[i] = -INFINITY;
        return -INFINITY;
    }
    double sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)x[i] - max);
    float lse = max + (float)log(sum);
    for (int32_t i = 0; i < n; i++)
        out[i] = x[i] - lse;
    return lse;
}

int32_t mm_argmax_f32(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

void mm_logits_suppress(float *logits, int32_t n_vocab, const int32_t *ids, int32_t n_ids)
{
    for (int32_t i = 0; i < n_ids; i++)
        if (ids[i] >= 0 && ids[i] < n_vocab)
            logits[ids[i]] = -INFINITY;
}

void mm_logits_repetition_penalty(float *logits, int32_t n_vocab, const int32_t *history, int32_t n_history,
                                  float penalty)
{
    if (penalty == 1.0f || penalty <= 0)
        return;
    /* HF gathers, scales and scatters: a token seen twice is penalised once */
    for (int32_t i = 0; i < n_history; i++) {
        int32_t t = history[i];
        if (t < 0 || t >= n_vocab)
            continue;
        bool seen = false;
        for (int32_t j = 0; j < i && !seen; j++)
            seen = history[j] == t;
        if (!seen)
            logits[t] = logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty;
    }
}

void mm_logits_no_repeat_ngram(float *logits, int32_t n_vocab, const int32_t *history, int32_t n_history, int32_t ngram)
{
    /* the next token completes an n-gram whose first n-1 tokens are the
     * last n-1 of history: ban every token that followed them before */
    if (ngram < 1 || n_history + 1 < ngram)
        return;
    const int32_t *tail = history + n_history - (ngram - 1);
    for (int32_t start = 0; start + ngram <= n_history; start++) {
        if (memcmp(history + start, tail, (size_t)(ngram - 1) * sizeof *history) == 0) {
            int32_t t = history[start + ngram - 1];
            if (t >= 0 && t < n_vocab)
                logits[t] = -INFINITY;
        }
    }
}

static void ban_range(float *logits, int32_t lo, int32_t hi)
{
    for (int32_t i = lo; i < hi; i++)
        logits[i] = -INFINITY;
}

void mm_logits_whisper_timestamps(float *logits, int32_t n_vocab, const int32_t *generated, int32_t n_generated,
                                  const mm_whisper_timestamp_rules *r)
{
    int32_t tb = r->timestamp_begin;
    if (tb <= 0 || tb > n_vocab)
        return;
    if (r->no_timestamps >= 0 && r->no_timestamps < n_vocab)
        logits[r->no_timestamps] = -INFINITY;
    bool last_ts = n_generated >= 1 && generated[n_generated - 1] >= tb;
    bool penultimate_ts = n_generated < 2 || generated[n_generated - 2] >= tb;
    if (last_ts) {
        if (penultimate_ts) /* a pair just closed: text (or the end) must follow */
            ban_range(logits, tb, n_vocab);
        else /* an open pair: another timestamp or the end */
            ban_range(logits, 0, r->eot < n_vocab ? r->eot : n_vocab);
    }
    int32_t last_stamp = -1;
    for (int32_t i = n_generated - 1; i >= 0 && last_stamp < 0; i--)
        if (generated[i] >= tb)
            last_stamp = generated[i];
    if (last_stamp >= 0) {
        /* timestamps never decrease; a closed pair's end is not repeated */
        int32_t lowest = last_ts && !penultimate_ts ? last_stamp : last_stamp + 1;
        ban_range(logits, tb, lowest < n_vocab ? lowest : n_vocab);
    }
    if (n_generated == 0) {
        ban_range(logits, 0, tb);
        if (r->max_initial_timestamp_index >= 0 && tb + r->max_initial_timestamp_index + 1 < n_vocab)
            ban_range(logits, tb + r->max_initial_timestamp_index + 1, n_vocab);
    }
    /* when the timestamps together are likelier than any text token, the
     * next token is a timestamp */
    float max = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        max = logits[i] > max ? logits[i] : max;
    if (max == -INFINITY)
        return;
    double ts_sum = 0, text_max = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++) {
        double e = exp((double)logits[i] - max);
        if (i >= tb)
            ts_sum += e;
        else if (logits[i] > text_max)
            text_max = logits[i];
    }
    /* compare log(sum exp) over timestamps with the best text logit, both
     * relative to the same normaliser */
    if (ts_sum > 0 && log(ts_sum) + max > text_max)
        ban_range(logits, 0, tb);
}
