/* Samplers (mm/generate.h): greedy, or temperature -> top-k -> top-p, then
 * a draw from the softmax, as transformers' warpers do. The generator is
 * xoshiro256** seeded through splitmix64: the same seed and logits give
 * the same tokens on every machine. */
#include "mm/generate.h"

#include <math.h>
#include <stdlib.h>

typedef struct cand {
    float v;
    int32_t id;
} cand;

struct mm_sampler {
    mm_sampling_params p;
    int32_t n_vocab;
    uint64_t s[4];
    cand *c; /* scratch: the finite logits */
};

mm_sampling_params mm_sampling_default_params(void)
{
    return (mm_sampling_params){.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .seed = 0};
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(mm_sampler *s)
{
    uint64_t r = rotl(s->s[1] * 5, 7) * 9, t = s->s[1] << 17;
    s->s[2] ^= s->s[0];
    s->s[3] ^= s->s[1];
    s->s[1] ^= s->s[2];
    s->s[0] ^= s->s[3];
    s->s[2] ^= t;
    s->s[3] = rotl(s->s[3], 45);
    return r;
}

static double next_unit(mm_sampler *s) /* [0, 1) with 53 random bits */
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

mm_status mm_sampler_init(const mm_sampling_params *p, int32_t n_vocab, mm_sampler **out)
{
    *out = NULL;
    mm_sampling_params params = p ? *p : mm_sampling_default_params();
    if (n_vocab < 1)
        return mm_error_set(MM_ERR_INVALID, "sampler: vocabulary of %d tokens", n_vocab);
    if (!(params.temperature >= 0) || params.top_k < 0 || !(params.top_p > 0))
        return mm_error_set(MM_ERR_INVALID, "sampler: temperature %g, top-k %d, top-p %g (need >= 0, >= 0, > 0)",
                            params.temperature, params.top_k, params.top_p);
    mm_sampler *s = calloc(1, sizeof *s);
    if (s)
        s->c = malloc((size_t)n_vocab * sizeof *s->c);
    if (!s || !s->c) {
        free(s);
        return mm_error_set(MM_ERR_NOMEM, "sampler: out of memory");
    }
    s->p = params;
    s->n_vocab = n_vocab;
    uint64_t x = params.seed;
    for (int i = 0; i < 4; i++)
        s->s[i] = splitmix64(&x);
    *out = s;
    return MM_OK;
}

void mm_sampler_free(mm_sampler *s)
{
    if (!s)
        return;
    free(s->c);
    free(s);
}

static int by_value_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The k-th largest value of c[0..n) (k >= 1), reordering c (quickselect). */
static float kth_largest(cand *c, int32_t n, int32_t k)
{
    int32_t lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        float pivot = c[lo + (hi - lo) / 2].v;
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (c[i].v > pivot)
                i++;
            while (c[j].v < pivot)
                j--;
            if (i <= j) {
                cand t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            break;
    }
    return c[want].v;
}

int32_t mm_sampler_sample(mm_sampler *s, float *logits)
{
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++)
        if (logits[i] > -INFINITY)
            s->c[n++] = (cand){logits[i], i};
    if (n == 0) {
        mm_error_set(MM_ERR_INVALID, "sampler: every token is banned");
        return -1;
    }
    if (s->p.temperature <= 0)
        return mm_argmax_f32(logits, s->n_vocab);
    for (int32_t i = 0; i < n; i++)
        s->c[i].v /= s->p.temperature;
    /* top-k keeps every token tied with the k-th (HF compares with its
     * value); only the kept ones are sorted, and nothing when neither top-k
     * nor top-p needs an order (Whisper's fallback temperatures) */
    int32_t keep = n;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        float kth = kth_largest(s->c, n, s->p.top_k);
        keep = 0;
        for (int32_t i = 0; i < n; i++)
            if (s->c[i].v >= kth)
                s->c[keep++] = s->c[i];
    }
    if (s->p.top_p < 1 || keep < n)
        qsort(s->c, (size_t)keep, sizeof *s->c, by_value_desc);
    double max = -INFINITY, sum = 0;
    for (int32_t i = 0; i < keep; i++)
        max = s->c[i].v > max ? s->c[i].v : max;
    for (int32_t i = 0; i < keep; i++)
        sum += exp(s->c[i].v - max);
    /* top-p drops the least likely tokens whose probabilities add up to at
     * most 1 - top_p (HF's rule, computed from the least likely upwards);
     * the likeliest always stays */
    if (s->p.top_p < 1) {
        double below = 0;
        int32_t k = keep;
        while (k > 1) {
            double pk = exp(s->c[k - 1].v - max) / sum;
            if (below + pk > 1.0 - s->p.top_p)
                break;
            below += pk;
            k--;
        }
        if (k < keep) {
            keep = k;
            sum = 0;
            for (int32_t i = 0; i < keep; i++)
                sum += exp(s->c[i].v - max);
        }
    }
    for (int32_t i = 0; i < s->n_vocab; i++)
        logits[i] = -INFINITY;
    for (int32_t i = 0; i < keep; i++)
        logits[s->c[i].id] = s->c[i].v;
    double u = next_unit(s) * sum, acc = 0;
    for (int32_t i = 0; i < keep; i++) {
        acc += exp(s->c[i].v - max);
        if (u < acc)
            return s->c[i].id;
    }
    return s->c[keep - 1].id;
}
