/* Helpers of the tokenizers: growable buffers, open-addressing hash maps
 * (vocabulary spellings, merge pairs, the word cache), UTF-8 encoding and
 * Python-compatible decoding with replacement, and GPT-2's byte <-> code
 * point mapping. */
#include "tok_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- buffers ---------------------------------------------------------------- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem)
            return false;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

void tok_buf_put(tok_buf *b, const void *data, size_t n)
{
    if (b->oom || !grow((void **)&b->p, &b->cap, b->n + n + 1, 1)) {
        b->oom = true;
        return;
    }
    if (n)
        memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void tok_buf_putc(tok_buf *b, char c)
{
    tok_buf_put(b, &c, 1);
}

void tok_buf_free(tok_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void tok_ids_push(tok_ids *v, int32_t id)
{
    if (v->oom || !grow((void **)&v->p, &v->cap, v->n + 1, sizeof(int32_t))) {
        v->oom = true;
        return;
    }
    v->p[v->n++] = id;
}

void tok_ids_free(tok_ids *v)
{
    free(v->p);
    memset(v, 0, sizeof *v);
}

/* ---- string map ---------------------------------------------------------------- */

uint32_t tok_hash(const void *data, size_t n)
{
    /* FNV-1a, then a final mix so that the low bits (the slot) depend on
     * every byte. */
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    return h;
}

static bool strmap_resize(tok_strmap *m, uint32_t n_slots)
{
    struct tok_strslot *s = calloc(n_slots, sizeof *s);
    if (!s)
        return false;
    uint32_t mask = n_slots - 1;
    if (m->slots) {
        for (uint32_t i = 0; i <= m->mask; i++) {
            struct tok_strslot *o = &m->slots[i];
            if (!o->key)
                continue;
            uint32_t j = o->hash & mask;
            while (s[j].key)
                j = (j + 1) & mask;
            s[j] = *o;
        }
    }
    free(m->slots);
    m->slots = s;
    m->mask = mask;
    return true;
}

bool tok_strmap_put(tok_strmap *m, const char *key, uint32_t len, int32_t value)
{
    if (!m->slots || (m->count + 1) * 4 > (m->mask + 1) * 3) {
        uint32_t n = m->slots ? (m->mask + 1) * 2 : 1024;
        if (n == 0 || !strmap_resize(m, n))
            return false;
    }
    uint32_t h = tok_hash(key, len), j = h & m->mask;
    for (;; j = (j + 1) & m->mask) {
        struct tok_strslot *s = &m->slots[j];
        if (!s->key) {
            *s = (struct tok_strslot){key, len, h, value};
            m->count++;
            return true;
        }
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            s->value = value;
            return true;
        }
    }
}

int32_t *tok_strmap_get(const tok_strmap *m, const char *key, uint32_t len)
{
    if (!m->slots)
        return NULL;
    uint32_t h = tok_hash(key, len), j = h & m->mask;
    for (;; j = (j + 1) & m->mask) {
        struct tok_strslot *s = &m->slots[j];
        if (!s->key)
            return NULL;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return &s->value;
    }
}

void tok_strmap_clear(tok_strmap *m)
{
    if (m->slots)
        memset(m->slots, 0, ((size_t)m->mask + 1) * sizeof *m->slots);
    m->count = 0;
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- pair map -------------------------------------------------------------------- */

static uint64_t pair_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static uint32_t pair_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

bool tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t result)
{
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
        uint32_t n = m->slots ? (m->mask + 1) * 2 : 1024;
        struct tok_pairslot *s = n ? malloc((size_t)n * sizeof *s) : NULL;
        if (!s)
            return false;
        for (uint32_t i = 0; i < n; i++)
            s[i].key = UINT64_MAX;
        if (m->slots) {
            for (uint32_t i = 0; i <= m->mask; i++) {
                if (m->slots[i].key == UINT64_MAX)
                    continue;
                uint32_t j = pair_hash(m->slots[i].key) & (n - 1);
                while (s[j].key != UINT64_MAX)
                    j = (j + 1) & (n - 1);
                s[j] = m->slots[i];
            }
        }
        free(m->slots);
        m->slots = s;
        m->mask = n - 1;
    }
    uint64_t k = pair_key(a, b);
    for (uint32_t j = pair_hash(k) & m->mask;; j = (j + 1) & m->mask) {
        struct tok_pairslot *s = &m->slots[j];
        if (s->key == UINT64_MAX) {
            *s = (struct tok_pairslot){k, rank, result};
            m->count++;
            return true;
        }
        if (s->key == k) {
            /* A merge listed twice: the later rank wins, as in the Python
             * dict transformers builds. */
            s->rank = rank;
            s->result = result;
            return true;
        }
    }
}

const struct tok_pairslot *tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b)
{
    if (!m->slots || a < 0 || b < 0)
        return NULL;
    uint64_t k = pair_key(a, b);
    for (uint32_t j = pair_hash(k) & m->mask;; j = (j + 1) & m->mask) {
        const struct tok_pairslot *s = &m->slots[j];
        if (s->key == k)
            return s;
        if (s->key == UINT64_MAX)
            return NULL;
    }
}

void tok_pairmap_free(tok_pairmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- UTF-8 ------------------------------------------------------------------------ */

void tok_utf8_put(tok_buf *b, uint32_t c)
{
    char s[4];
    size_t n;
    if (c < 0x80) {
        s[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        s[0] = (char)(0xC0 | c >> 6);
        s[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        s[0] = (char)(0xE0 | c >> 12);
        s[1] = (char)(0x80 | (c >> 6 & 0x3F));
        s[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        s[0] = (char)(0xF0 | c >> 18);
        s[1] = (char)(0x80 | (c >> 12 & 0x3F));
        s[2] = (char)(0x80 | (c >> 6 & 0x3F));
        s[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    tok_buf_put(b, s, n);
}

static const char k_replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

size_t tok_utf8_decode_replace(const uint8_t *in, size_t n, bool final, tok_buf *out)
{
    size_t i = 0, run = 0; /* run: start of valid bytes not yet copied */
    while (i < n) {
        uint8_t c = in[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* Sequence length and the allowed range of the second byte (the
         * others are 80..BF): Unicode Table 3-7, as CPython checks it. */
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 3;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else
            need = 0; /* 80..C1, F5..FF never start a sequence */
        size_t k = 1; /* bytes of the sequence that are valid so far */
        if (need) {
            while (k < need && i + k < n) {
                uint8_t d = in[i + k];
                if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF))
                    break;
                k++;
            }
            if (k == need) {
                i += k;
                continue;
            }
            if (i + k == n && !final) {
                /* A valid prefix cut by the end: wait for more bytes. */
                tok_buf_put(out, in + run, i - run);
                return i;
            }
        }
        tok_buf_put(out, in + run, i - run);
        tok_buf_put(out, k_replacement, 3);
        i += k;
        run = i;
    }
    tok_buf_put(out, in + run, n - run);
    return n;
}

bool tok_py_isspace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* ---- GPT-2 byte mapping ------------------------------------------------------------- */

/* bytes_to_unicode(): printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) map to
 * themselves; the other 68 take 256, 257 ... in byte order. */
static bool byte_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static uint16_t g_byte_cp[256];
static int16_t g_cp_byte[256 + 68];
static pthread_once_t g_byte_once = PTHREAD_ONCE_INIT;

static void byte_tables_init(void)
{
    for (unsigned i = 0; i < 256 + 68; i++)
        g_cp_byte[i] = -1;
    uint32_t next = 256;
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = byte_printable(b) ? b : next++;
        g_byte_cp[b] = (uint16_t)cp;
        g_cp_byte[cp] = (int16_t)b;
    }
}

uint32_t tok_byte_to_cp(uint8_t b)
{
    pthread_once(&g_byte_once, byte_tables_init);
    return g_byte_cp[b];
}

int tok_cp_to_byte(uint32_t cp)
{
    pthread_once(&g_byte_once, byte_tables_init);
    return cp < 256 + 68 ? g_cp_byte[cp] : -1;
}
