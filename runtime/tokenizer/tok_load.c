/* Loading a tokenizer from a model folder the way transformers' slow
 * tokenizer classes do: vocab.json + merges.txt (or tokenizer.json's
 * model.vocab / model.merges when it is all a folder has), added tokens from
 * tokenizer_config.json's added_tokens_decoder (else added_tokens.json, else
 * tokenizer.json's added_tokens), special tokens from special_tokens_map.json
 * (else tokenizer_config.json), appended after the vocabulary when absent
 * from it. Everything is checked here, so that encode and decode can trust
 * the tables: merges must name tokens of the vocabulary, ids must be sane. */
#include "tok_impl.h"

#include "model_impl.h" /* mm_json_read_file */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Ids above this are refused: real vocabularies are < 300k. */
#define TOK_MAX_ID (1 << 24)
/* merges.txt of real checkpoints is < 5 MB. */
#define TOK_MAX_MERGES_FILE ((long)256 << 20)
/* CLIPTokenizer reads only this many merges: transformers slices
 * merges.txt's lines [1 : 49152 - 256 - 2 + 1]. */
#define TOK_CLIP_MAX_MERGES (49152 - 256 - 2)
/* Whisper: <|0.00|> ... <|30.00|> in steps of 0.02 s. */
#define TOK_N_TIMESTAMPS 1501

/* ---- arena for spellings ----------------------------------------------------- */

struct tok_arena {
    struct tok_arena *next;
    size_t used, size;
    char data[];
};

static char *arena_dup(mm_tokenizer *t, const char *s, size_t len)
{
    struct tok_arena *a = t->arena;
    if (!a || a->size - a->used < len + 1) {
        size_t size = len + 1 > 60000 ? len + 1 : 60000;
        struct tok_arena *b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->next = a;
        b->used = 0;
        b->size = size;
        t->arena = a = b;
    }
    char *p = a->data + a->used;
    memcpy(p, s, len);
    p[len] = '\0';
    a->used += len + 1;
    return p;
}

static void arena_free(mm_tokenizer *t)
{
    for (struct tok_arena *a = t->arena, *n; a; a = n) {
        n = a->next;
        free(a);
    }
    t->arena = NULL;
}

/* ---- the id table ------------------------------------------------------------- */

/* Makes `id` a valid index of the per-id arrays. */
static mm_status ensure_id(mm_tokenizer *t, int32_t id)
{
    if (id < t->n_ids)
        return MM_OK;
    if (id >= t->ids_cap) {
        int32_t cap = t->ids_cap ? t->ids_cap : 1024;
        while (cap <= id)
            cap *= 2;
        char **tk = realloc(t->tokens, (size_t)cap * sizeof *tk);
        if (tk)
            t->tokens = tk;
        uint32_t *tl = tk ? realloc(t->token_len, (size_t)cap * sizeof *tl) : NULL;
        if (tl)
            t->token_len = tl;
        uint8_t *fl = tl ? realloc(t->flags, (size_t)cap) : NULL;
        if (!fl)
            return mm_error_set(MM_ERR_NOMEM, "out of memory for %d token ids", cap);
        t->flags = fl;
        for (int32_t i = t->ids_cap; i < cap; i++) {
            t->tokens[i] = NULL;
            t->token_len[i] = 0;
            t->flags[i] = 0;
        }
        t->ids_cap = cap;
    }
    t->n_ids = id + 1;
    return MM_OK;
}

mm_status tok_set_token(mm_tokenizer *t, int32_t id, const char *s, size_t len, uint8_t flags)
{
    if (id < 0 || id >= TOK_MAX_ID)
        return mm_error_set(MM_ERR_FORMAT, "token id %d out of range (0 .. %d)", id, TOK_MAX_ID - 1);
    if (len > 4096)
        return mm_error_set(MM_ERR_FORMAT, "token %d is %zu bytes long", id, len);
    mm_status st = ensure_id(t, id);
    if (st)
        return st;
    if (t->tokens[id]) {
        if (t->token_len[id] != len || memcmp(t->tokens[id], s, len) != 0)
            return mm_error_set(MM_ERR_FORMAT, "id %d names two tokens, \"%s\" and \"%.*s\"", id, t->tokens[id],
                                (int)len, s);
        t->flags[id] |= flags;
        if (flags & TOKF_ADDED)
            return tok_strmap_put(&t->vocab, t->tokens[id], (uint32_t)len, id)
                       ? MM_OK
                       : mm_error_set(MM_ERR_NOMEM, "out of memory");
        return MM_OK;
    }
    char *p = arena_dup(t, s, len);
    if (!p)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    t->tokens[id] = p;
    t->token_len[id] = (uint32_t)len;
    t->flags[id] = flags;
    /* An added token spelled like a vocabulary token takes the spelling
     * over (transformers matches added tokens first); the vocabulary id
     * still decodes. */
    int32_t *old = tok_strmap_get(&t->vocab, p, (uint32_t)len);
    if (old && !(flags & TOKF_ADDED))
        return MM_OK;
    return tok_strmap_put(&t->vocab, p, (uint32_t)len, id) ? MM_OK : mm_error_set(MM_ERR_NOMEM, "out of memory");
}

/* ---- files --------------------------------------------------------------------- */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, (dir[0] && dir[strlen(dir) - 1] == '/') ? "" : "/", name);
    return p;
}

static bool file_exists(const char *dir, const char *name)
{
    char *p = join(dir, name);
    struct stat sb;
    bool ok = p && stat(p, &sb) == 0;
    free(p);
    return ok;
}

/* Parses <dir>/<name> when it exists; *out NULL when absent. */
static mm_status read_json_opt(const char *dir, const char *name, json_object **out)
{
    *out = NULL;
    if (!file_exists(dir, name))
        return MM_OK;
    char *p = join(dir, name);
    if (!p)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    mm_status st = mm_json_read_file(p, out);
    if (!st && !json_object_is_type(*out, json_type_object)) {
        st = mm_error_set(MM_ERR_FORMAT, "%s: not a JSON object", p);
        json_object_put(*out);
        *out = NULL;
    }
    free(p);
    return st;
}

static mm_status read_text(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mm_error_set(MM_ERR_IO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return mm_error_set(MM_ERR_IO, "%s: cannot read", path);
    }
    if (size > TOK_MAX_MERGES_FILE) {
        fclose(f);
        return mm_error_set(MM_ERR_NOMEM, "%s: %ld bytes is implausibly large", path, size);
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    bool bad = ferror(f) || got != (size_t)size;
    fclose(f);
    if (bad) {
        free(buf);
        return mm_error_set(MM_ERR_IO, "%s: read failed", path);
    }
    buf[size] = '\0';
    *out = buf;
    *len = (size_t)size;
    return MM_OK;
}

/* A special-token entry: "<|endoftext|>" or {"content": "<|endoftext|>", ...}. */
static const char *token_content(json_object *v, size_t *len)
{
    json_object *c = v;
    if (json_object_is_type(v, json_type_object) && !json_object_object_get_ex(v, "content", &c))
        return NULL;
    if (!json_object_is_type(c, json_type_string))
        return NULL;
    *len = (size_t)json_object_get_string_len(c);
    return json_object_get_string(c);
}

static bool cfg_bool(json_object *obj, const char *key, bool def)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_boolean))
        return def;
    return json_object_get_boolean(v);
}

/* ---- vocabulary and merges -------------------------------------------------------- */

static mm_status load_vocab_object(mm_tokenizer *t, json_object *vocab, const char *what)
{
    if (!json_object_is_type(vocab, json_type_object))
        return mm_error_set(MM_ERR_FORMAT, "%s: the vocabulary is not a JSON object", what);
    int32_t n = 0;
    json_object_object_foreach(vocab, key, val)
    {
        if (!json_object_is_type(val, json_type_int))
            return mm_error_set(MM_ERR_FORMAT, "%s: token \"%s\" has id %s, not an integer", what, key,
                                json_object_to_json_string_ext(val, MM_JSON_PLAIN));
        int64_t id = json_object_get_int64(val);
        if (id < 0 || id >= TOK_MAX_ID)
            return mm_error_set(MM_ERR_FORMAT, "%s: token \"%s\" has id %lld, out of range", what, key,
                                (long long)id);
        mm_status st = tok_set_token(t, (int32_t)id, key, strlen(key), 0);
        if (st)
            return mm_error_wrap(st, "%s", what);
        n++;
    }
    if (n == 0)
        return mm_error_set(MM_ERR_FORMAT, "%s: the vocabulary is empty", what);
    t->n_vocab_file = n;
    return MM_OK;
}

/* `what` and `where` name the merge in messages ("merges.txt", "line %d"). */
static mm_status add_merge(mm_tokenizer *t, const char *a, size_t na, const char *b, size_t nb, const char *what,
                           const char *where, int32_t index)
{
    int32_t *ia = tok_strmap_get(&t->vocab, a, (uint32_t)na);
    int32_t *ib = tok_strmap_get(&t->vocab, b, (uint32_t)nb);
    char buf[1024];
    int32_t *ir = NULL;
    if (na + nb < sizeof buf) {
        memcpy(buf, a, na);
        memcpy(buf + na, b, nb);
        ir = tok_strmap_get(&t->vocab, buf, (uint32_t)(na + nb));
    }
    if (!ia || !ib || !ir)
    {
        char at[64];
        snprintf(at, sizeof at, where, index);
        return mm_error_set(MM_ERR_FORMAT, "%s: %s: merge \"%.*s %.*s\" names a token missing from the vocabulary (\"%.*s\")",
                            what, at, (int)na, a, (int)nb, b, !ia ? (int)na : !ib ? (int)nb : (int)(na + nb),
                            !ia ? a : !ib ? b : buf);
    }
    if (!tok_pairmap_put(&t->merges, *ia, *ib, t->n_merges, *ir))
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    t->n_merges++;
    return MM_OK;
}

static int32_t merge_limit(const mm_tokenizer *t)
{
    return t->kind == MM_TOKENIZER_CLIP ? TOK_CLIP_MAX_MERGES : INT32_MAX;
}

static mm_status load_merges_txt(mm_tokenizer *t, const char *path)
{
    char *text;
    size_t size = 0;
    mm_status st = read_text(path, &text, &size);
    if (st)
        return st;
    int32_t line_no = 0;
    for (char *p = text, *end = text + size; p < end && t->n_merges < merge_limit(t);) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line_no++;
        char *q = e;
        if (q > p && q[-1] == '\r')
            q--;
        if (line_no == 1 && q - p >= 8 && memcmp(p, "#version", 8) == 0) {
            p = e + 1;
            continue;
        }
        /* Two fields separated by spaces: "Ġ t". */
        const char *f[3];
        size_t fl[3];
        int nf = 0;
        for (char *c = p; c < q && nf < 3;) {
            while (c < q && (*c == ' ' || *c == '\t'))
                c++;
            if (c == q)
                break;
            char *s = c;
            while (c < q && *c != ' ' && *c != '\t')
                c++;
            f[nf] = s;
            fl[nf++] = (size_t)(c - s);
        }
        if (nf == 0) {
            p = e + 1;
            continue; /* blank line (the file's last) */
        }
        if (nf != 2) {
            st = mm_error_set(MM_ERR_FORMAT, "%s: line %d is not a merge of two tokens: \"%.*s\"", path, line_no,
                              (int)(q - p > 80 ? 80 : q - p), p);
            break;
        }
        if ((st = add_merge(t, f[0], fl[0], f[1], fl[1], path, "line %d", line_no)))
            break;
        p = e + 1;
    }
    free(text);
    if (!st && t->n_merges == 0)
        st = mm_error_set(MM_ERR_FORMAT, "%s: no merges", path);
    return st;
}

/* tokenizer.json: {"model": {"type": "BPE", "vocab": {...}, "merges":
 * ["a b", ...] or [["a", "b"], ...]}, "added_tokens": [...]}. */
static mm_status load_tokenizer_json(mm_tokenizer *t, json_object *root, const char *path)
{
    json_object *model, *type, *vocab, *merges;
    if (!json_object_object_get_ex(root, "model", &model) || !json_object_is_type(model, json_type_object))
        return mm_error_set(MM_ERR_FORMAT, "%s: no \"model\" object", path);
    if (json_object_object_get_ex(model, "type", &type) && json_object_is_type(type, json_type_string) &&
        strcmp(json_object_get_string(type), "BPE") != 0)
        return mm_error_set(MM_ERR_UNSUPPORTED, "%s: model type \"%s\" (mmrun reads BPE tokenizers)", path,
                            json_object_get_string(type));
    if (!json_object_object_get_ex(model, "vocab", &vocab))
        return mm_error_set(MM_ERR_FORMAT, "%s: no model.vocab", path);
    mm_status st = load_vocab_object(t, vocab, path);
    if (st)
        return st;
    if (!json_object_object_get_ex(model, "merges", &merges) || !json_object_is_type(merges, json_type_array))
        return mm_error_set(MM_ERR_FORMAT, "%s: no model.merges array", path);
    size_t n = json_object_array_length(merges);
    for (size_t i = 0; i < n && t->n_merges < merge_limit(t); i++) {
        json_object *m = json_object_array_get_idx(merges, i);
        const char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        if (json_object_is_type(m, json_type_string)) {
            const char *s = json_object_get_string(m);
            const char *sp = strchr(s, ' ');
            if (sp && sp > s && sp[1] && !strchr(sp + 1, ' ')) {
                a = s;
                na = (size_t)(sp - s);
                b = sp + 1;
                nb = strlen(b);
            }
        } else if (json_object_is_type(m, json_type_array) && json_object_array_length(m) == 2) {
            json_object *x = json_object_array_get_idx(m, 0), *y = json_object_array_get_idx(m, 1);
            if (json_object_is_type(x, json_type_string) && json_object_is_type(y, json_type_string)) {
                a = json_object_get_string(x);
                na = (size_t)json_object_get_string_len(x);
                b = json_object_get_string(y);
                nb = (size_t)json_object_get_string_len(y);
            }
        }
        if (!a || !na || !nb)
            return mm_error_set(MM_ERR_FORMAT, "%s: model.merges[%zu] is not a pair of tokens: %s", path, i,
                                json_object_to_json_string_ext(m, MM_JSON_PLAIN));
        if ((st = add_merge(t, a, na, b, nb, path, "model.merges[%d]", (int32_t)i)))
            return st;
    }
    return MM_OK;
}

/* ---- added and special tokens ------------------------------------------------------ */

static mm_status add_token_entry(mm_tokenizer *t, int64_t id, json_object *entry, const char *what)
{
    size_t len = 0;
    const char *s = token_content(entry, &len);
    if (!s || len == 0)
        return mm_error_set(MM_ERR_FORMAT, "%s: added token %lld has no content", what, (long long)id);
    if (id < 0 || id >= TOK_MAX_ID)
        return mm_error_set(MM_ERR_FORMAT, "%s: added token \"%s\" has id %lld, out of range", what, s,
                            (long long)id);
    uint8_t fl = TOKF_ADDED;
    if (json_object_is_type(entry, json_type_object)) {
        fl |= cfg_bool(entry, "special", false) ? TOKF_SPECIAL : 0;
        fl |= cfg_bool(entry, "lstrip", false) ? TOKF_LSTRIP : 0;
        fl |= cfg_bool(entry, "rstrip", false) ? TOKF_RSTRIP : 0;
    }
    mm_status st = tok_set_token(t, (int32_t)id, s, len, fl);
    return st ? mm_error_wrap(st, "%s", what) : MM_OK;
}

/* tokenizer_config.json's added_tokens_decoder: {"50257": {"content": ...}}. */
static mm_status load_added_decoder(mm_tokenizer *t, json_object *dec, const char *what)
{
    if (!json_object_is_type(dec, json_type_object))
        return mm_error_set(MM_ERR_FORMAT, "%s: added_tokens_decoder is not an object", what);
    json_object_object_foreach(dec, key, val)
    {
        char *end;
        errno = 0;
        long long id = strtoll(key, &end, 10);
        if (errno || end == key || *end)
            return mm_error_set(MM_ERR_FORMAT, "%s: added_tokens_decoder key \"%s\" is not an id", what, key);
        mm_status st = add_token_entry(t, id, val, what);
        if (st)
            return st;
    }
    return MM_OK;
}

/* added_tokens.json: {"<|endoftext|>": 50257, ...}. */
static mm_status load_added_json(mm_tokenizer *t, json_object *obj, const char *what)
{
    json_object_object_foreach(obj, key, val)
    {
        if (!json_object_is_type(val, json_type_int))
            return mm_error_set(MM_ERR_FORMAT, "%s: token \"%s\" has no integer id", what, key);
        int64_t id = json_object_get_int64(val);
        if (id < 0 || id >= TOK_MAX_ID || !key[0])
            return mm_error_set(MM_ERR_FORMAT, "%s: token \"%s\" has id %lld, out of range", what, key,
                                (long long)id);
        mm_status st = tok_set_token(t, (int32_t)id, key, strlen(key), TOKF_ADDED);
        if (st)
            return mm_error_wrap(st, "%s", what);
    }
    return MM_OK;
}

/* tokenizer.json's added_tokens: [{"id": 50256, "content": ..., "special": true}]. */
static mm_status load_added_array(mm_tokenizer *t, json_object *arr, const char *what)
{
    if (!json_object_is_type(arr, json_type_array))
        return mm_error_set(MM_ERR_FORMAT, "%s: added_tokens is not an array", what);
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *e = json_object_array_get_idx(arr, i), *id;
        if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "id", &id) ||
            !json_object_is_type(id, json_type_int))
            return mm_error_set(MM_ERR_FORMAT, "%s: added_tokens[%zu] has no integer id", what, i);
        mm_status st = add_token_entry(t, json_object_get_int64(id), e, what);
        if (st)
            return st;
    }
    return MM_OK;
}

/* A special token named by the folder: found in the vocabulary or the added
 * tokens, else appended after the last id, as transformers does. */
static mm_status special_token(mm_tokenizer *t, const char *s, size_t len, uint8_t extra, int32_t *id_out)
{
    int32_t *id = tok_strmap_get(&t->vocab, s, (uint32_t)len);
    int32_t i = id ? *id : t->n_ids;
    mm_status st = tok_set_token(t, i, s, len, TOKF_ADDED | TOKF_SPECIAL | extra);
    if (!st && id_out)
        *id_out = i;
    return st;
}

static mm_status load_special_tokens(mm_tokenizer *t, json_object *map, json_object *cfg, const char *what)
{
    static const char *const names[] = {"bos_token", "eos_token", "unk_token", "pad_token",
                                        "sep_token", "cls_token", "mask_token"};
    int32_t *slots[] = {&t->bos, &t->eos, &t->unk, &t->pad, NULL, NULL, NULL};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        json_object *v = NULL;
        if (!(map && json_object_object_get_ex(map, names[k], &v)) && !(cfg && json_object_object_get_ex(cfg, names[k], &v)))
            continue;
        if (json_object_is_type(v, json_type_null))
            continue;
        size_t len = 0;
        const char *s = token_content(v, &len);
        if (!s || !len)
            return mm_error_set(MM_ERR_FORMAT, "%s: %s is %s, not a token", what, names[k],
                                json_object_to_json_string_ext(v, MM_JSON_PLAIN));
        mm_status st = special_token(t, s, len, 0, slots[k]);
        if (st)
            return mm_error_wrap(st, "%s: %s", what, names[k]);
    }
    json_object *extra = NULL;
    if (!(map && json_object_object_get_ex(map, "additional_special_tokens", &extra)))
        if (cfg)
            json_object_object_get_ex(cfg, "additional_special_tokens", &extra);
    if (extra && json_object_is_type(extra, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(extra); i++) {
            size_t len = 0;
            const char *s = token_content(json_object_array_get_idx(extra, i), &len);
            if (!s || !len)
                return mm_error_set(MM_ERR_FORMAT, "%s: additional_special_tokens[%zu] is not a token", what, i);
            mm_status st = special_token(t, s, len, TOKF_ADDITIONAL, NULL);
            if (st)
                return mm_error_wrap(st, "%s: additional_special_tokens", what);
        }
    }
    return MM_OK;
}

/* Whisper: timestamp tokens <|0.00|> ... <|30.00|> follow <|notimestamps|>.
 * Folders written before transformers listed them as added tokens lack
 * them: give them their spellings there (ids still free only). */
static mm_status whisper_timestamps(mm_tokenizer *t)
{
    int32_t *first = tok_strmap_get(&t->vocab, "<|0.00|>", 8);
    int32_t *nots = tok_strmap_get(&t->vocab, "<|notimestamps|>", 16);
    if (first) {
        t->timestamp_begin = *first;
        return MM_OK;
    }
    if (!nots)
        return MM_OK; /* not a Whisper vocabulary after all: no timestamps */
    t->timestamp_begin = *nots + 1;
    for (int32_t i = 0; i < TOK_N_TIMESTAMPS; i++) {
        int32_t id = t->timestamp_begin + i;
        if (id < t->n_ids && t->tokens[id])
            return mm_error_set(MM_ERR_FORMAT, "id %d, where timestamp token %d belongs, is \"%s\"", id, i,
                                t->tokens[id]);
    }
    for (int32_t i = 0; i < TOK_N_TIMESTAMPS; i++) {
        char s[16];
        int n = snprintf(s, sizeof s, "<|%d.%02d|>", 2 * i / 100, 2 * i % 100);
        mm_status st = tok_set_token(t, t->timestamp_begin + i, s, (size_t)n, TOKF_ADDED);
        if (st)
            return st;
    }
    return MM_OK;
}

/* ---- the folder ----------------------------------------------------------------------- */

/* Sets t->kind; *named: the folder named its class (else it was guessed). */
static mm_status pick_kind(mm_tokenizer *t, json_object *cfg, const char *dir, bool *named)
{
    *named = true;
    json_object *v;
    if (cfg && json_object_object_get_ex(cfg, "tokenizer_class", &v) && json_object_is_type(v, json_type_string)) {
        const char *c = json_object_get_string(v);
        size_t n = strlen(c);
        if (n > 4 && strcmp(c + n - 4, "Fast") == 0)
            n -= 4;
        static const struct {
            const char *name;
            mm_tokenizer_kind kind;
        } classes[] = {{"GPT2Tokenizer", MM_TOKENIZER_GPT2},
                       {"WhisperTokenizer", MM_TOKENIZER_WHISPER},
                       {"CLIPTokenizer", MM_TOKENIZER_CLIP}};
        for (size_t i = 0; i < sizeof classes / sizeof *classes; i++) {
            if (strlen(classes[i].name) == n && strncmp(c, classes[i].name, n) == 0) {
                t->kind = classes[i].kind;
                return MM_OK;
            }
        }
        return mm_error_set(MM_ERR_UNSUPPORTED,
                            "tokenizer_config.json: tokenizer class \"%s\" (mmrun reads GPT2Tokenizer, "
                            "WhisperTokenizer and CLIPTokenizer)",
                            c);
    }
    /* No class named: config.json's model_type tells. */
    *named = false;
    json_object *conf = NULL;
    mm_status st = read_json_opt(dir, "config.json", &conf);
    if (st)
        return st;
    t->kind = MM_TOKENIZER_GPT2;
    if (conf && json_object_object_get_ex(conf, "model_type", &v) && json_object_is_type(v, json_type_string)) {
        const char *mt = json_object_get_string(v);
        if (strcmp(mt, "whisper") == 0)
            t->kind = MM_TOKENIZER_WHISPER;
        else if (strcmp(mt, "clip") == 0 || strcmp(mt, "clip_text_model") == 0)
            t->kind = MM_TOKENIZER_CLIP;
    }
    json_object_put(conf);
    return MM_OK;
}

static mm_status load_folder(mm_tokenizer *t, const char *dir)
{
    json_object *cfg = NULL, *map = NULL, *added = NULL, *tj = NULL;
    char *path = NULL;
    mm_status st;
    bool named = true;
    if ((st = read_json_opt(dir, "tokenizer_config.json", &cfg)) || (st = pick_kind(t, cfg, dir, &named)) ||
        (st = read_json_opt(dir, "special_tokens_map.json", &map)))
        goto done;

    if (file_exists(dir, "vocab.json")) {
        json_object *vocab = NULL;
        if (!(path = join(dir, "vocab.json"))) {
            st = mm_error_set(MM_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((st = mm_json_read_file(path, &vocab)))
            goto done;
        st = load_vocab_object(t, vocab, path);
        json_object_put(vocab);
        free(path);
        path = NULL;
        if (st)
            goto done;
        if (!file_exists(dir, "merges.txt")) {
            st = mm_error_set(MM_ERR_IO, "vocab.json without merges.txt");
            goto done;
        }
        if (!(path = join(dir, "merges.txt"))) {
            st = mm_error_set(MM_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((st = load_merges_txt(t, path)))
            goto done;
    } else if (file_exists(dir, "tokenizer.json")) {
        if ((st = read_json_opt(dir, "tokenizer.json", &tj)))
            goto done;
        /* CLIP's tokenizer.json marks word ends; nothing else here does. */
        json_object *model, *suffix;
        if (!named && json_object_object_get_ex(tj, "model", &model) &&
            json_object_object_get_ex(model, "end_of_word_suffix", &suffix) &&
            json_object_is_type(suffix, json_type_string) && strcmp(json_object_get_string(suffix), "</w>") == 0)
            t->kind = MM_TOKENIZER_CLIP;
        if ((st = load_tokenizer_json(t, tj, "tokenizer.json")))
            goto done;
    } else {
        st = mm_error_set(MM_ERR_IO, "no tokenizer files (vocab.json + merges.txt, or tokenizer.json)");
        goto done;
    }

    json_object *dec = NULL, *arr = NULL;
    if (cfg && json_object_object_get_ex(cfg, "added_tokens_decoder", &dec)) {
        if ((st = load_added_decoder(t, dec, "tokenizer_config.json")))
            goto done;
    } else if (file_exists(dir, "added_tokens.json")) {
        if ((st = read_json_opt(dir, "added_tokens.json", &added)) ||
            (st = load_added_json(t, added, "added_tokens.json")))
            goto done;
    } else if (tj && json_object_object_get_ex(tj, "added_tokens", &arr)) {
        if ((st = load_added_array(t, arr, "tokenizer.json")))
            goto done;
    }
    if ((st = load_special_tokens(t, map, cfg, map ? "special_tokens_map.json" : "tokenizer_config.json")))
        goto done;
    if (t->kind == MM_TOKENIZER_WHISPER && (st = whisper_timestamps(t)))
        goto done;

    json_object *v;
    t->add_prefix_space = cfg_bool(cfg, "add_prefix_space", false);
    t->add_bos = cfg_bool(cfg, "add_bos_token", false);
    /* transformers 4.40 cleans up by default; its slow WhisperTokenizer
     * joins the text itself and never does (nor does openai-whisper). */
    t->cleanup = t->kind != MM_TOKENIZER_WHISPER && cfg_bool(cfg, "clean_up_tokenization_spaces", true);
    if (cfg && json_object_object_get_ex(cfg, "model_max_length", &v) &&
        (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))) {
        double m = json_object_get_double(v);
        t->max_length = m >= 1 && m <= INT32_MAX ? (int32_t)m : 0; /* 1e30 means "none" */
    }
    if (t->kind == MM_TOKENIZER_CLIP) {
        int32_t *sot = tok_strmap_get(&t->vocab, "<|startoftext|>", 15);
        int32_t *eot = tok_strmap_get(&t->vocab, "<|endoftext|>", 13);
        if (!sot || !eot) {
            st = mm_error_set(MM_ERR_FORMAT, "a CLIP vocabulary without <|startoftext|> and <|endoftext|>");
            goto done;
        }
        t->clip_sot = *sot;
        t->clip_eot = *eot;
    }
    if ((st = tok_build_tables(t)) || (st = tok_compile_patterns(t)))
        goto done;

done:
    free(path);
    json_object_put(cfg);
    json_object_put(map);
    json_object_put(added);
    json_object_put(tj);
    return st;
}

mm_status mm_tokenizer_load(const char *dir, mm_tokenizer **out)
{
    if (!out)
        return mm_error_set(MM_ERR_INVALID, "mm_tokenizer_load: out is NULL");
    *out = NULL;
    if (!dir)
        return mm_error_set(MM_ERR_INVALID, "mm_tokenizer_load: dir is NULL");
    mm_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    if (pthread_mutex_init(&t->cache_lock, NULL) != 0) {
        free(t);
        return mm_error_set(MM_ERR_NOMEM, "cannot create a lock");
    }
    t->bos = t->eos = t->pad = t->unk = t->timestamp_begin = -1;
    t->clip_sot = t->clip_eot = -1;
    mm_status st = load_folder(t, dir);
    if (st) {
        mm_tokenizer_free(t);
        return mm_error_wrap(st, "tokenizer of %s", dir);
    }
    *out = t;
    return MM_OK;
}

void mm_tokenizer_free(mm_tokenizer *t)
{
    if (!t)
        return;
    tok_cache_free(t);
    pthread_mutex_destroy(&t->cache_lock);
    pcre2_code_free(t->pattern);
    pcre2_code_free(t->timestamp_pattern);
    tok_strmap_free(&t->vocab);
    tok_pairmap_free(&t->merges);
    arena_free(t);
    free(t->tokens);
    free(t->token_len);
    free(t->flags);
    free(t->piece_off);
    free(t->piece_len);
    free(t->pieces);
    free(t->added);
    free(t);
}

/* ---- lookups ---------------------------------------------------------------------------- */

mm_tokenizer_kind mm_tokenizer_get_kind(const mm_tokenizer *t)
{
    return t ? t->kind : MM_TOKENIZER_GPT2;
}

int32_t mm_tokenizer_n_vocab(const mm_tokenizer *t)
{
    return t ? t->n_ids : 0;
}

int32_t mm_tokenizer_token_id(const mm_tokenizer *t, const char *token)
{
    if (!t || !token)
        return -1;
    int32_t *id = tok_strmap_get(&t->vocab, token, (uint32_t)strlen(token));
    return id ? *id : -1;
}

const char *mm_tokenizer_token(const mm_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_ids ? t->tokens[id] : NULL;
}

bool mm_tokenizer_is_special(const mm_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_ids && (t->flags[id] & TOKF_SPECIAL);
}

int32_t mm_tokenizer_bos(const mm_tokenizer *t) { return t ? t->bos : -1; }
int32_t mm_tokenizer_eos(const mm_tokenizer *t) { return t ? t->eos : -1; }
int32_t mm_tokenizer_pad(const mm_tokenizer *t) { return t ? t->pad : -1; }
int32_t mm_tokenizer_unk(const mm_tokenizer *t) { return t ? t->unk : -1; }
int32_t mm_tokenizer_timestamp_begin(const mm_tokenizer *t) { return t ? t->timestamp_begin : -1; }
int32_t mm_tokenizer_max_length(const mm_tokenizer *t) { return t ? t->max_length : 0; }
bool mm_tokenizer_cleanup_default(const mm_tokenizer *t) { return t && t->cleanup; }
