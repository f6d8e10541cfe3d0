/* The decoding loop shared by every text decoder (mm/generate.h): feeds
 * the prompt, then one token per sequence per step through the decoder's
 * replayed step graph, applying the processors on the host logits and
 * choosing tokens greedily, by sampling or by beam search (whose cache
 * reorders run on the backend: mm_decoder_reorder). */
#include "mm/generate.h"
#include "mm/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mm_gen_params mm_gen_default_params(void)
{
    return (mm_gen_params){
        .max_new_tokens = 64,
        .eos_id = -1,
        .n_beams = 1,
        .length_penalty = 1.0f,
        .sampling = mm_sampling_default_params(),
        .repetition_penalty = 1.0f,
    };
}

void mm_gen_result_clear(mm_gen_result *r)
{
    if (!r)
        return;
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

/* Per-sequence token history: the prompt, then what was generated. */
typedef struct gen_state {
    const mm_gen_params *p;
    int32_t n_seq, n_vocab, n_prompt, len; /* len: tokens generated so far */
    int32_t *hist;                         /* n_seq x (n_prompt + max_new)  */
    int32_t *swap;
    int32_t stride;
    float *logits; /* n_seq x n_vocab */
    int32_t *next, *pos;
} gen_state;

static void process(const gen_state *g, int32_t s, float *row)
{
    const mm_gen_params *p = g->p;
    const int32_t *h = g->hist + (size_t)s * g->stride;
    int32_t n = g->n_prompt + g->len;
    mm_logits_repetition_penalty(row, g->n_vocab, h, n, p->repetition_penalty);
    mm_logits_no_repeat_ngram(row, g->n_vocab, h, n, p->no_repeat_ngram_size);
    mm_logits_suppress(row, g->n_vocab, p->suppress, p->n_suppress);
    if (g->len == 0)
        mm_logits_suppress(row, g->n_vocab, p->begin_suppress, p->n_begin_suppress);
    if (p->hook)
        p->hook(p->hook_user, row, g->n_vocab, h + g->n_prompt, g->len);
}

static mm_status result_set(mm_gen_result *r, const int32_t *tokens, int32_t n, double sum, double score)
{
    r->tokens = malloc((size_t)(n > 0 ? n : 1) * sizeof *r->tokens);
    if (!r->tokens)
        return mm_error_set(MM_ERR_NOMEM, "generate: out of memory");
    memcpy(r->tokens, tokens, (size_t)n * sizeof *tokens);
    r->n_tokens = n;
    r->sum_logprob = sum;
    r->score = score;
    return MM_OK;
}

/* Greedy or sampling: every sequence is one input. */
static mm_status run_single(mm_decoder *d, gen_state *g, int32_t max_new, mm_gen_result *results)
{
    const mm_gen_params *p = g->p;
    mm_sampler *sampler = NULL;
    mm_status s = mm_sampler_init(&p->sampling, g->n_vocab, &sampler);
    bool *done = calloc((size_t)g->n_seq, sizeof *done);
    double *sum = calloc((size_t)g->n_seq, sizeof *sum);
    int32_t *n_gen = calloc((size_t)g->n_seq, sizeof *n_gen);
    float *lp = malloc((size_t)g->n_vocab * sizeof *lp);
    if (s == MM_OK && (!done || !sum || !n_gen || !lp))
        s = mm_error_set(MM_ERR_NOMEM, "generate: out of memory");
    for (int32_t step = 0; s == MM_OK && step < max_new; step++) {
        bool all_done = true;
        for (int32_t q = 0; q < g->n_seq && s == MM_OK; q++) {
            int32_t *h = g->hist + (size_t)q * g->stride;
            if (done[q]) {
                h[g->n_prompt + step] = p->eos_id; /* fed, never read */
                g->next[q] = p->eos_id >= 0 ? p->eos_id : 0;
                continue;
            }
            float *row = g->logits + (size_t)q * g->n_vocab;
            process(g, q, row);
            int32_t t = mm_sampler_sample(sampler, row);
            if (t < 0) {
                s = mm_error_wrap(MM_ERR_INVALID, "generate: step %d of sequence %d", step, q);
                break;
            }
            mm_log_softmax(row, g->n_vocab, lp);
            sum[q] += lp[t];
            h[g->n_prompt + step] = t;
            n_gen[q] = step + 1;
            g->next[q] = t;
            done[q] = t == p->eos_id;
            all_done = all_done && done[q];
        }
        g->len = step + 1;
        if (s != MM_OK || all_done || step + 1 == max_new)
            break;
        for (int32_t q = 0; q < g->n_seq; q++)
            g->pos[q] = g->n_prompt + step;
        s = mm_decoder_decode(d, 1, g->next, g->pos, false, g->logits);
    }
    for (int32_t q = 0; q < g->n_seq && s == MM_OK; q++)
        s = result_set(&results[q], g->hist + (size_t)q * g->stride + g->n_prompt, n_gen[q], sum[q], sum[q]);
    mm_sampler_free(sampler);
    free(done);
    free(sum);
    free(n_gen);
    free(lp);
    return s;
}

/* Beam search: input i owns sequences i*nb .. i*nb + nb - 1. */
static mm_status run_beams(mm_decoder *d, gen_state *g, int32_t n_src, int32_t max_new, mm_gen_result *results)
{
    const mm_gen_params *p = g->p;
    int32_t nb = p->n_beams, V = g->n_vocab;
    mm_beam_search **bs = calloc((size_t)n_src, sizeof *bs);
    int32_t *parents = malloc((size_t)g->n_seq * sizeof *parents), *local = malloc((size_t)nb * sizeof *local);
    mm_status s = bs && parents && local ? MM_OK : mm_error_set(MM_ERR_NOMEM, "generate: out of memory");
    mm_beam_params bp = {.n_beams = nb, .eos_id = p->eos_id, .max_new_tokens = max_new,
                         .length_penalty = p->length_penalty, .early_stopping = p->early_stopping};
    for (int32_t i = 0; i < n_src && s == MM_OK; i++)
        s = mm_beam_search_init(&bp, V, &bs[i]);
    for (int32_t step = 0; s == MM_OK; step++) {
        for (int32_t q = 0; q < g->n_seq; q++) {
            float *row = g->logits + (size_t)q * V;
            mm_log_softmax(row, V, row);
            process(g, q, row);
        }
        bool all_done = true;
        for (int32_t i = 0; i < n_src && s == MM_OK; i++) {
            int32_t *toks = g->next + i * nb;
            if (mm_beam_search_done(bs[i])) { /* finished inputs idle on their own rows */
                for (int32_t b = 0; b < nb; b++) {
                    parents[i * nb + b] = i * nb + b;
                    toks[b] = p->eos_id;
                }
                continue;
            }
            s = mm_beam_search_step(bs[i], g->logits + (size_t)i * nb * V, local, toks);
            for (int32_t b = 0; b < nb && s == MM_OK; b++)
                parents[i * nb + b] = i * nb + local[b];
            all_done = all_done && mm_beam_search_done(bs[i]);
        }
        if (s != MM_OK)
            break;
        /* histories follow their beams */
        for (int32_t q = 0; q < g->n_seq; q++) {
            int32_t *dst = g->swap + (size_t)q * g->stride;
            memcpy(dst, g->hist + (size_t)parents[q] * g->stride, (size_t)(g->n_prompt + step) * sizeof *dst);
            dst[g->n_prompt + step] = g->next[q];
        }
        int32_t *t = g->hist;
        g->hist = g->swap;
        g->swap = t;
        g->len = step + 1;
        if (all_done || step + 1 >= max_new)
            break;
        s = mm_decoder_reorder(d, parents);
        for (int32_t q = 0; q < g->n_seq; q++)
            g->pos[q] = g->n_prompt + step;
        if (s == MM_OK)
            s = mm_decoder_decode(d, 1, g->next, g->pos, false, g->logits);
    }
    for (int32_t i = 0; i < n_src && s == MM_OK; i++) {
        const int32_t *toks;
        int32_t n;
        float score;
        s = mm_beam_search_best(bs[i], &toks, &n, &score);
        if (s == MM_OK)
            s = result_set(&results[i], toks, n, (double)score * pow(n > 0 ? n : 1, p->length_penalty), score);
    }
    for (int32_t i = 0; bs && i < n_src; i++)
        mm_beam_search_free(bs[i]);
    free(bs);
    free(parents);
    free(local);
    return s;
}

mm_status mm_generate(mm_decoder *d, const mm_gen_params *p, const int32_t *prompt, int32_t n_prompt,
                      int32_t n_cached, int32_t n_src, mm_gen_result *results)
{
    if (!d || !p || !prompt || !results || n_src < 1)
        return mm_error_set(MM_ERR_INVALID, "generate: NULL argument or no input");
    for (int32_t i = 0; i < n_src; i++)
        memset(&results[i], 0, sizeof results[i]);
    int32_t nb = p->n_beams < 1 ? 1 : p->n_beams, n_seq = mm_decoder_n_seq(d);
    if (n_seq != n_src * nb)
        return mm_error_set(MM_ERR_INVALID, "generate: %d inputs x %d beams need a decoder of %d sequences, not %d", n_src,
                            nb, n_src * nb, n_seq);
    if (nb > 1 && p->sampling.temperature > 0)
        return mm_error_set(MM_ERR_UNSUPPORTED, "generate: beam search with sampling");
    if (n_prompt < 1 || n_cached < 0 || n_cached >= n_prompt)
        return mm_error_set(MM_ERR_INVALID, "generate: a prompt of %d tokens, %d of them cached", n_prompt, n_cached);
    int32_t n_ctx = mm_decoder_n_ctx(d), max_new = p->max_new_tokens;
    if (max_new > n_ctx - n_prompt)
        max_new = n_ctx - n_prompt;
    if (max_new < 1)
        return mm_error_set(MM_ERR_INVALID, "generate: a prompt of %d tokens leaves no room in %d positions", n_prompt,
                            n_ctx);
    gen_state g = {.p = p, .n_seq = n_seq, .n_vocab = mm_decoder_n_vocab(d), .n_prompt = n_prompt,
                   .stride = n_prompt + max_new};
    int32_t n_feed = n_prompt - n_cached;
    g.hist = malloc((size_t)n_seq * g.stride * sizeof *g.hist);
    g.swap = malloc((size_t)n_seq * g.stride * sizeof *g.swap);
    g.logits = malloc((size_t)n_seq * g.n_vocab * sizeof *g.logits);
    g.next = malloc((size_t)n_seq * (n_feed > 1 ? n_feed : 1) * sizeof *g.next);
    g.pos = malloc((size_t)n_seq * sizeof *g.pos);
    mm_status s = g.hist && g.swap && g.logits && g.next && g.pos ? MM_OK : mm_error_set(MM_ERR_NOMEM, "generate: out of memory");
    if (s == MM_OK) {
        for (int32_t q = 0; q < n_seq; q++) {
            memcpy(g.hist + (size_t)q * g.stride, prompt, (size_t)n_prompt * sizeof *prompt);
            memcpy(g.next + (size_t)q * n_feed, prompt + n_cached, (size_t)n_feed * sizeof *prompt);
            g.pos[q] = n_cached;
        }
        s = mm_decoder_decode(d, n_feed, g.next, g.pos, false, g.logits);
    }
    if (s == MM_OK)
        s = nb > 1 ? run_beams(d, &g, n_src, max_new, results) : run_single(d, &g, max_new, results);
    if (s != MM_OK)
        for (int32_t i = 0; i < n_src; i++)
            mm_gen_result_clear(&results[i]);
    free(g.hist);
    free(g.swap);
    free(g.logits);
    free(g.next);
    free(g.pos);
    return s;
}
