/* Decoding, as transformers' slow classes do it, built on the incremental
 * decoder so that streamed pieces and whole decodes cannot disagree.
 *
 * transformers cuts the tokens into runs at "separate" tokens (GPT-2,
 * CLIP: added tokens that are not special; Whisper: every added token),
 * decodes each run's bytes as UTF-8 with errors="replace" (CLIP then turns
 * "</w>" into " " and strips the run), and joins the pieces with " "
 * (Whisper: with nothing); a run is left out when it decodes to nothing,
 * except the last. Whisper's decode then removes timestamps from the text,
 * and clean_up_tokenization_spaces (when asked) removes spaces before
 * punctuation. The incremental decoder does the same one token at a time:
 * it holds back the bytes of an unfinished UTF-8 sequence, and for CLIP
 * the white space that may turn out to end a run. */
#include "tok_impl.h"

#include <stdlib.h>
#include <string.h>
#include <unistr.h>

struct mm_detokenizer {
    const mm_tokenizer *t;
    uint32_t flags;
    bool started;     /* a token was pushed since init / reset              */
    bool in_prompt;   /* Whisper, SKIP_SPECIAL: inside <|startofprev|> ...  */
    bool have_run;    /* a run is open                                      */
    bool run_visible; /* the open run has produced text                     */
    int32_t n_pieces; /* pieces joined so far                               */
    tok_buf pending;  /* bytes of an unfinished UTF-8 sequence              */
    tok_buf held;     /* CLIP: white space that may end the run             */
    tok_buf out;      /* what the current call returns                      */
};

static const char *separator(const mm_tokenizer *t)
{
    return t->kind == MM_TOKENIZER_WHISPER ? "" : " ";
}

/* Starts a piece in the output: the separator goes before all but the first. */
static void begin_piece(mm_detokenizer *d)
{
    if (d->n_pieces++ > 0)
        tok_buf_put(&d->out, separator(d->t), strlen(separator(d->t)));
}

/* Appends decoded run text, CLIP's strip applied: white space at the start
 * of a run is dropped, at its end held until more text follows. */
static void emit_run_text(mm_detokenizer *d, const char *s, size_t n)
{
    if (d->t->kind != MM_TOKENIZER_CLIP) {
        if (n && !d->run_visible) {
            begin_piece(d);
            d->run_visible = true;
        }
        tok_buf_put(&d->out, s, n);
        return;
    }
    for (size_t i = 0; i < n;) {
        ucs4_t c;
        int w = u8_mbtouc_unsafe(&c, (const uint8_t *)s + i, n - i);
        if (w <= 0)
            w = 1;
        if (tok_py_isspace(c)) {
            if (d->run_visible)
                tok_buf_put(&d->held, s + i, (size_t)w);
        } else {
            if (!d->run_visible) {
                begin_piece(d);
                d->run_visible = true;
            }
            tok_buf_put(&d->out, d->held.p, d->held.n);
            d->held.n = 0;
            tok_buf_put(&d->out, s + i, (size_t)w);
        }
        i += (size_t)w;
    }
}

/* Feeds bytes of the open run through the UTF-8 decoder. */
static void run_bytes(mm_detokenizer *d, const char *s, size_t n, bool final)
{
    tok_buf_put(&d->pending, s, n);
    if (d->pending.oom)
        return;
    tok_buf text = {0};
    size_t used = tok_utf8_decode_replace((const uint8_t *)d->pending.p, d->pending.n, final, &text);
    memmove(d->pending.p, d->pending.p + used, d->pending.n - used);
    d->pending.n -= used;
    emit_run_text(d, text.p, text.n);
    if (text.oom)
        d->out.oom = true;
    tok_buf_free(&text);
}

/* Closes the open run; `last`: nothing follows (the last run counts as a
 * piece even when empty). */
static void end_run(mm_detokenizer *d, bool last)
{
    if (!d->have_run)
        return;
    run_bytes(d, NULL, 0, true);
    if (last && !d->run_visible)
        begin_piece(d);
    d->held.n = 0;
    d->have_run = d->run_visible = false;
}

static bool is_timestamp(const mm_tokenizer *t, int32_t id)
{
    return t->timestamp_begin >= 0 && id >= t->timestamp_begin && id < t->timestamp_begin + 1501;
}

static mm_status push(mm_detokenizer *d, int32_t id)
{
    const mm_tokenizer *t = d->t;
    if (id < 0 || id >= t->n_ids || !t->tokens[id])
        return mm_error_set(MM_ERR_INVALID, "token id %d is not in the vocabulary (%d ids)", id, t->n_ids);
    bool first = !d->started;
    d->started = true;
    if (t->kind == MM_TOKENIZER_WHISPER && (d->flags & MM_DETOKENIZE_SKIP_SPECIAL)) {
        /* WhisperTokenizer._strip_prompt: a leading <|startofprev|> prompt
         * is dropped up to <|startoftranscript|>. */
        const char *tok = t->tokens[id];
        if (first && strcmp(tok, "<|startofprev|>") == 0)
            d->in_prompt = true;
        if (d->in_prompt && strcmp(tok, "<|startoftranscript|>") == 0)
            d->in_prompt = false;
        if (d->in_prompt)
            return MM_OK;
    }
    uint8_t f = t->flags[id];
    if ((d->flags & MM_DETOKENIZE_SKIP_SPECIAL) && (f & TOKF_SPECIAL))
        return MM_OK;
    const char *piece = t->pieces + t->piece_off[id];
    size_t n = t->piece_len[id];
    if (f & TOKF_SEPARATE) {
        end_run(d, false);
        if (t->kind == MM_TOKENIZER_WHISPER && !(d->flags & MM_DETOKENIZE_TIMESTAMPS) && is_timestamp(t, id))
            return MM_OK; /* removed from the text by WhisperTokenizer.decode */
        begin_piece(d);
        tok_buf_put(&d->out, piece, n);
        return MM_OK;
    }
    d->have_run = true;
    if (t->kind != MM_TOKENIZER_CLIP) {
        run_bytes(d, piece, n, false);
        return MM_OK;
    }
    /* CLIP: "</w>" ends a word: a space. */
    tok_buf b = {0};
    for (size_t i = 0; i < n;) {
        if (n - i >= 4 && memcmp(piece + i, "</w>", 4) == 0) {
            tok_buf_putc(&b, ' ');
            i += 4;
        } else
            tok_buf_putc(&b, piece[i++]);
    }
    if (b.oom)
        d->out.oom = true;
    run_bytes(d, b.p, b.n, false);
    tok_buf_free(&b);
    return MM_OK;
}

static mm_status finish_call(mm_detokenizer *d, const char **text, size_t *len)
{
    if (d->out.oom || d->pending.oom || d->held.oom)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    tok_buf_put(&d->out, "", 0); /* NUL-terminate even when empty */
    if (d->out.oom)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    *text = d->out.p;
    *len = d->out.n;
    return MM_OK;
}

mm_status mm_detokenizer_init(const mm_tokenizer *t, uint32_t flags, mm_detokenizer **out)
{
    if (!out)
        return mm_error_set(MM_ERR_INVALID, "mm_detokenizer_init: out is NULL");
    *out = NULL;
    if (!t)
        return mm_error_set(MM_ERR_INVALID, "mm_detokenizer_init: tokenizer is NULL");
    mm_detokenizer *d = calloc(1, sizeof *d);
    if (!d)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    d->t = t;
    d->flags = flags;
    *out = d;
    return MM_OK;
}

void mm_detokenizer_reset(mm_detokenizer *d)
{
    if (!d)
        return;
    d->started = d->in_prompt = d->have_run = d->run_visible = false;
    d->n_pieces = 0;
    d->pending.n = d->held.n = d->out.n = 0;
    d->pending.oom = d->held.oom = d->out.oom = false;
}

void mm_detokenizer_free(mm_detokenizer *d)
{
    if (!d)
        return;
    tok_buf_free(&d->pending);
    tok_buf_free(&d->held);
    tok_buf_free(&d->out);
    free(d);
}

mm_status mm_detokenizer_push(mm_detokenizer *d, int32_t id, const char **text, size_t *len)
{
    if (!d || !text || !len)
        return mm_error_set(MM_ERR_INVALID, "mm_detokenizer_push: NULL argument");
    d->out.n = 0;
    mm_status st = push(d, id);
    return st ? st : finish_call(d, text, len);
}

mm_status mm_detokenizer_flush(mm_detokenizer *d, const char **text, size_t *len)
{
    if (!d || !text || !len)
        return mm_error_set(MM_ERR_INVALID, "mm_detokenizer_flush: NULL argument");
    d->out.n = 0;
    end_run(d, true);
    mm_status st = finish_call(d, text, len);
    d->started = d->in_prompt = false;
    d->n_pieces = 0;
    return st;
}

/* ---- whole decodes ------------------------------------------------------------------ */

/* Replaces every `from` in b by `to`, left to right (Python's str.replace). */
static void replace_all(tok_buf *b, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to);
    if (b->n < nf)
        return;
    tok_buf r = {0};
    size_t i = 0;
    while (i < b->n) {
        if (b->n - i >= nf && memcmp(b->p + i, from, nf) == 0) {
            tok_buf_put(&r, to, nt);
            i += nf;
        } else
            tok_buf_putc(&r, b->p[i++]);
    }
    tok_buf_put(&r, "", 0);
    if (r.oom) {
        b->oom = true;
        tok_buf_free(&r);
        return;
    }
    tok_buf_free(b);
    *b = r;
}

/* PreTrainedTokenizerBase.clean_up_tokenization (transformers 4.40). */
static void cleanup_spaces(tok_buf *b)
{
    static const char *const pairs[][2] = {{" .", "."},    {" ?", "?"},     {" !", "!"},     {" ,", ","},
                                           {" ' ", "'"},   {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},
                                           {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        replace_all(b, pairs[i][0], pairs[i][1]);
}

/* WhisperTokenizer.decode: re.sub(r"<\|(\d+\.\d+)\|>", "", text). */
static mm_status remove_timestamps(const mm_tokenizer *t, tok_buf *b)
{
    if (!b->n || !memchr(b->p, '<', b->n))
        return MM_OK;
    PCRE2_SIZE cap = b->n + 1;
    char *r = malloc(cap);
    if (!r)
        return mm_error_set(MM_ERR_NOMEM, "out of memory");
    int rc = pcre2_substitute(t->timestamp_pattern, (PCRE2_SPTR)b->p, b->n, 0,
                              PCRE2_SUBSTITUTE_GLOBAL | PCRE2_NO_UTF_CHECK, NULL, NULL, (PCRE2_SPTR) "", 0,
                              (PCRE2_UCHAR *)r, &cap);
    if (rc < 0) {
        free(r);
        return mm_error_set(MM_ERR_INVALID, "removing timestamps failed (PCRE2 error %d)", rc);
    }
    tok_buf_free(b);
    b->p = r;
    b->n = cap;
    b->cap = b->n + 1;
    return MM_OK;
}

mm_status mm_tokenizer_decode(const mm_tokenizer *t, const int32_t *ids, int32_t n, uint32_t flags, char *out,
                              size_t cap, size_t *len)
{
    if (len)
        *len = 0;
    if (!t || !len || n < 0 || (n > 0 && !ids) || (cap > 0 && !out))
        return mm_error_set(MM_ERR_INVALID, "mm_tokenizer_decode: NULL argument or negative count");
    mm_detokenizer d = {.t = t, .flags = flags & ~(uint32_t)MM_DETOKENIZE_CLEANUP};
    tok_buf text = {0};
    mm_status st = MM_OK;
    const char *piece = NULL;
    size_t plen = 0;
    for (int32_t i = 0; i < n && !st; i++) {
        d.out.n = 0;
        if (!(st = push(&d, ids[i])) && !(st = finish_call(&d, &piece, &plen)))
            tok_buf_put(&text, piece, plen);
    }
    if (!st) {
        d.out.n = 0;
        end_run(&d, true);
        if (!(st = finish_call(&d, &piece, &plen)))
            tok_buf_put(&text, piece, plen);
    }
    tok_buf_free(&d.pending);
    tok_buf_free(&d.held);
    tok_buf_free(&d.out);
    if (!st && t->kind == MM_TOKENIZER_WHISPER && !(flags & MM_DETOKENIZE_TIMESTAMPS))
        st = remove_timestamps(t, &text);
    if (!st && (flags & MM_DETOKENIZE_CLEANUP))
        cleanup_spaces(&text);
    if (!st && text.oom)
        st = mm_error_set(MM_ERR_NOMEM, "out of memory");
    if (!st) {
        *len = text.n;
        if (cap > 0) {
            size_t k = text.n < cap - 1 ? text.n : cap - 1;
            if (k)
                memcpy(out, text.p, k);
            out[k] = '\0';
        }
    }
    tok_buf_free(&text);
    return st;
}

mm_status mm_tokenizer_decode_alloc(const mm_tokenizer *t, const int32_t *ids, int32_t n, uint32_t flags, char **out)
{
    *out = NULL;
    size_t len = 0;
    mm_status st = mm_tokenizer_decode(t, ids, n, flags, NULL, 0, &len);
    char *text = st == MM_OK ? malloc(len + 1) : NULL;
    if (st == MM_OK && !text)
        st = mm_error_set(MM_ERR_NOMEM, "out of memory");
    if (st == MM_OK)
        st = mm_tokenizer_decode(t, ids, n, flags, text, len + 1, &len);
    if (st != MM_OK) {
        free(text);
        return st;
    }
    *out = text;
    return MM_OK;
}
