/* BPE of one pre-token, with the merges applied in the order transformers'
 * slow tokenizers apply them, and a cache of words already seen.
 *
 * transformers repeatedly takes the pair of lowest rank in the word and
 * merges every occurrence of it, left to right, before looking at the
 * pairs those merges created. Here a heap ordered by (rank, position) does
 * the same in O(n log n): pairs are validated when popped (a neighbour may
 * have been merged since), and a pair created during a pass with a rank
 * below the pass's own waits until the pass is over, which is when
 * transformers would first see it. */
#include "tok_impl.h"

#include <stdlib.h>
#include <string.h>

/* The cache is emptied when it holds this many words or bytes of keys. */
#define TOK_CACHE_MAX_WORDS 65536
#define TOK_CACHE_MAX_BYTES ((size_t)8 << 20)
/* Longer words are not cached (they are rare and would crowd it). */
#define TOK_CACHE_MAX_WORD 256

typedef struct sym {
    int32_t id; /* vocabulary id, -1 for a byte the vocabulary lacks */
    int32_t prev, next;
    bool alive;
} sym;

typedef struct pair {
    int32_t rank, left, right;
    int32_t left_id, right_id, result;
} pair;

typedef struct heap {
    pair *p;
    size_t n, cap;
} heap;

static bool pair_less(const pair *a, const pair *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static bool heap_push(heap *h, pair e)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        pair *p = realloc(h->p, cap * sizeof *p);
        if (!p)
            return false;
        h->p = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_less(&e, &h->p[up]))
            break;
        h->p[i] = h->p[up];
        i = up;
    }
    h->p[i] = e;
    return true;
}

static pair heap_pop(heap *h)
{
    pair top = h->p[0], last = h->p[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && pair_less(&h->p[c + 1], &h->p[c]))
            c++;
        if (!pair_less(&h->p[c], &last))
            break;
        h->p[i] = h->p[c];
        i = c;
    }
    if (h->n)
        h->p[i] = last;
    return top;
}

/* The pair (left, right) as a heap entry; false when no merge joins them. */
static bool make_pair(const mm_tokenizer *t, const sym *s, int32_t left, int32_t right, pair *out)
{
    if (left < 0 || right < 0)
        return false;
    const struct tok_pairslot *m = tok_pairmap_get(&t->merges, s[left].id, s[right].id);
    if (!m)
        return false;
    *out = (pair){m->rank, left, right, s[left].id, s[right].id, m->result};
    return true;
}

static mm_status bpe(const mm_tokenizer *t, const uint8_t *w, size_t n, tok_ids *out)
{
    sym stack_syms[64];
    sym *s = n <= 64 ? stack_syms : malloc(n * sizeof *s);
    heap h = {0}, deferred = {0};
    mm_status st = MM_OK;
    if (!s)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        bool last = i + 1 == n && t->kind == MM_TOKENIZER_CLIP;
        s[i] = (sym){last ? t->byte_sym_end[w[i]] : t->byte_sym[w[i]], (int32_t)i - 1,
                     i + 1 < n ? (int32_t)i + 1 : -1, true};
    }
    bool ok = true;
    for (size_t i = 0; i + 1 < n && ok; i++) {
        pair p;
        if (make_pair(t, s, (int32_t)i, (int32_t)i + 1, &p))
            ok = heap_push(&h, p);
    }
    int32_t pass_rank = -1;
    while (ok && (h.n || deferred.n)) {
        if ((!h.n || h.p[0].rank != pass_rank) && deferred.n) {
            /* The pass is over: the pairs it created join the others. */
            for (size_t i = 0; i < deferred.n && ok; i++)
                ok = heap_push(&h, deferred.p[i]);
            deferred.n = 0;
            continue;
        }
        pair p = heap_pop(&h);
        pass_rank = p.rank;
        sym *l = &s[p.left], *r = &s[p.right];
        if (!l->alive || !r->alive || l->next != p.right || l->id != p.left_id || r->id != p.right_id)
            continue; /* stale: a neighbour merged since */
        l->id = p.result;
        l->next = r->next;
        if (r->next >= 0)
            s[r->next].prev = p.left;
        r->alive = false;
        pair q;
        if (make_pair(t, s, l->prev, p.left, &q))
            ok = q.rank < pass_rank ? heap_push(&deferred, q) : heap_push(&h, q);
        if (ok && make_pair(t, s, p.left, l->next, &q))
            ok = q.rank < pass_rank ? heap_push(&deferred, q) : heap_push(&h, q);
    }
    if (!ok)
        st = mm_error_set(MM_ERR_NOMEM, "out of memory");
    for (int32_t i = n ? 0 : -1; !st && i >= 0; i = s[i].next) {
        int32_t id = s[i].id;
        if (id < 0) {
            /* A byte the vocabulary lacks: transformers gives the unknown
             * token (and fails without one). */
            if (t->unk < 0) {
                st = mm_error_set(MM_ERR_INVALID, "byte 0x%02x has no token and the vocabulary has no unk_token",
                                  w[i]);
                break;
            }
            id = t->unk;
        }
        tok_ids_push(out, id);
    }
    if (s != stack_syms)
        free(s);
    free(h.p);
    free(deferred.p);
    return st;
}

/* ---- the cache ------------------------------------------------------------------ */

static bool cache_get(mm_tokenizer *t, const char *w, size_t n, tok_ids *out)
{
    bool hit = false;
    pthread_mutex_lock(&t->cache_lock);
    int32_t *slot = tok_strmap_get(&t->cache, w, (uint32_t)n);
    if (slot) {
        struct tok_cache_val v = t->cache_vals[*slot];
        for (uint32_t i = 0; i < v.n; i++)
            tok_ids_push(out, t->cache_ids.p[v.off + i]);
        hit = true;
    }
    pthread_mutex_unlock(&t->cache_lock);
    return hit;
}

static void cache_clear(mm_tokenizer *t)
{
    /* Keys point into cache_keys: the map goes first. */
    tok_strmap_clear(&t->cache);
    t->cache_keys.n = 0;
    t->cache_ids.n = 0;
    t->cache_n = 0;
}

static void cache_put(mm_tokenizer *t, const char *w, size_t n, const int32_t *ids, size_t n_ids)
{
    pthread_mutex_lock(&t->cache_lock);
    if (t->cache_n >= TOK_CACHE_MAX_WORDS || t->cache_keys.n + n > TOK_CACHE_MAX_BYTES)
        cache_clear(t);
    if (tok_strmap_get(&t->cache, w, (uint32_t)n))
        goto out; /* another thread was first */
    if (t->cache_n == t->cache_cap) {
        uint32_t cap = t->cache_cap ? t->cache_cap * 2 : 1024;
        struct tok_cache_val *v = realloc(t->cache_vals, cap * sizeof *v);
        if (!v)
            goto out;
        t->cache_vals = v;
        t->cache_cap = cap;
    }
    /* Keys are stored in one buffer that may move when it grows: the map
     * holds pointers, so reserve the whole capacity once and never grow
     * past it (the clear above keeps it in bounds). */
    if (!t->cache_keys.p) {
        t->cache_keys.p = malloc(TOK_CACHE_MAX_BYTES + 1);
        if (!t->cache_keys.p)
            goto out;
        t->cache_keys.cap = TOK_CACHE_MAX_BYTES + 1;
    }
    size_t koff = t->cache_keys.n, ioff = t->cache_ids.n;
    memcpy(t->cache_keys.p + koff, w, n);
    t->cache_keys.n += n;
    for (size_t i = 0; i < n_ids; i++)
        tok_ids_push(&t->cache_ids, ids[i]);
    if (t->cache_ids.oom) {
        t->cache_ids.oom = false;
        t->cache_ids.n = ioff;
        t->cache_keys.n = koff;
        goto out;
    }
    t->cache_vals[t->cache_n] = (struct tok_cache_val){(uint32_t)ioff, (uint32_t)n_ids};
    if (tok_strmap_put(&t->cache, t->cache_keys.p + koff, (uint32_t)n, (int32_t)t->cache_n))
        t->cache_n++;
    else
        t->cache_keys.n = koff;
out:
    pthread_mutex_unlock(&t->cache_lock);
}

void tok_cache_free(mm_tokenizer *t)
{
    tok_strmap_free(&t->cache);
    tok_buf_free(&t->cache_keys);
    tok_ids_free(&t->cache_ids);
    free(t->cache_vals);
    t->cache_vals = NULL;
    t->cache_n = t->cache_cap = 0;
}

mm_status tok_bpe_word(const mm_tokenizer *ct, const char *word, size_t len, tok_ids *out)
{
    /* The cache is the one mutable part of a tokenizer, behind its lock. */
    mm_tokenizer *t = (mm_tokenizer *)ct;
    bool cacheable = len <= TOK_CACHE_MAX_WORD;
    if (cacheable && cache_get(t, word, len, out))
        return MM_OK;
    size_t start = out->n;
    mm_status st = bpe(t, (const uint8_t *)word, len, out);
    if (!st && out->oom)
        st = mm_error_set(MM_ERR_NOMEM, "out of memory");
    if (!st && cacheable)
        cache_put(t, word, len, out->p + start, out->n - start);
    return st;
}
