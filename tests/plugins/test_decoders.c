/* Decoder fixture parity through the runtime's decoder object (routing,
 * the textdec plugin, persistent caches, replayed step graphs), from the
 * STORED encoder states of each fixture:
 *
 * - teacher-forced logits (every position's top-5 values, the full rows
 *   stored) as one prefill step with all logits, and token by token through
 *   the cache; a prefill with the last logits only gives the last row;
 * - greedy ids (a plain argmax loop) equal to the reference at every step
 *   before the first one whose reference margin is below its threshold, and
 *   the step logits' top-5 values; sequences decoded as one batch give the
 *   ids they give alone;
 * - mm_decoder_reorder then a step equals the same sequences never
 *   reordered (swapped, and one duplicated as beam search does);
 * - F16 checkpoints, bad configs (named weight or key), misuse errors.
 *
 *     test_decoders <whisper|vitgpt2> <cpu|vulkan>
 *
 * Under MM_VK_GPU_KERNELS=1 (lavapipe running the GPU kernels, where an LM
 * head of 50k rows takes about a second) the same checks run shorter:
 * teacher forcing feeds all but the last 4 tokens as one step, then 4
 * through the cache; greedy runs 6 steps; reorder streams are 6 tokens.
 *
 * Exit 77 (skip) when the Vulkan backend cannot be created, unless
 * MM_REQUIRE_VULKAN=1. */
#include "fixture_copy.h"
#include "test_model_copy.h"
#include "test_runtime.h"
#include "test_util.h"

#include "mm/runtime.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SRC 2
#define MAX_LEN 64

typedef struct decoder_case {
    const char *name, *fixture, *model_type;
    int32_t n_src;          /* sources in encoder_last_hidden_state      */
    const char *tf_ids;     /* teacher-forced ids: one list, or one per source */
    const char *greedy;     /* greedy reference object; %d = source      */
    const char *greedy_top5; /* its step top-5 values tensor; %d = source */
    /* Bad configs: key, value, and what the error must name. */
    const char *bad[3][3];
} decoder_case;

static const decoder_case cases[] = {
    {"whisper", "whisper-tiny-random", "whisper", 1, "decoder_input_ids", "greedy_raw", "greedy_raw_step_top5_values",
     {{"decoder_ffn_dim", "512", "model.decoder.layers.0.fc1.weight"},
      {"decoder_attention_heads", "3", "divisible"},
      {"vocab_size", "51000", "model.decoder.embed_tokens.weight"}}},
    {"vitgpt2", "vit-gpt2-tiny-random", "vision-encoder-decoder", 2, "teacher_forcing_ids", "greedy.results.%d",
     "greedy_step_top5_values_%d",
     {{"n_inner", "128", "decoder.transformer.h.0.mlp.c_fc.weight"},
      {"n_head", "3", "divisible"},
      {"n_positions", "512", "decoder.transformer.wpe.weight"}}},
};

static const decoder_case *g_case;
static mm_runtime *g_rt;
static json_object *g_json;        /* expected.json */
static float *g_states;            /* encoder_last_hidden_state, {D, T, n_src} */
static int64_t g_d, g_t;
static int32_t g_tf[MAX_SRC][MAX_LEN], g_tf_len; /* teacher-forced ids per source */
static bool g_light;               /* shorter runs, see the top */

/* ---- expected.json --------------------------------------------------------- */

/* The value at a dotted path ("greedy.results.0.new_ids"; numbers index arrays). */
static json_object *jget(const char *fmt, ...)
{
    char path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    json_object *o = g_json;
    for (char *save = NULL, *tok = strtok_r(path, ".", &save); o && tok; tok = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(tok));
        else if (!json_object_object_get_ex(o, tok, &o))
            o = NULL;
    }
    if (!o)
        fail_msg("expected.json has no %s", path);
    return o;
}

static int32_t jints(json_object *a, int32_t *out, int32_t cap)
{
    int32_t n = (int32_t)json_object_array_length(a);
    assert_true(n <= cap);
    for (int32_t i = 0; i < n; i++)
        out[i] = json_object_get_int(json_object_array_get_idx(a, (size_t)i));
    return n;
}

static double tensor_tol(const char *tensor, const char *which)
{
    return json_object_get_double(jget("tensors.%s.recommended_%s", tensor, which));
}

/* ---- running the decoder --------------------------------------------------------- */

static mm_model *fixture_model(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fixtures/%s", test_shared_dir(), g_case->fixture);
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        fail_msg("mm_model_load %s: %s", dir, mm_error_message());
    assert_string_equal(mm_model_type(m), g_case->model_type);
    return m;
}

static mm_decoder *decoder_new(const mm_model *m, int32_t n_seq, int32_t n_ctx)
{
    mm_decoder *d = NULL;
    mm_decoder_params p = {.n_seq = n_seq, .n_ctx = n_ctx};
    if (mm_decoder_init(g_rt, m, &p, &d) != MM_OK)
        fail_msg("mm_decoder_init: %s", mm_error_message());
    assert_string_equal(mm_decoder_plugin(d)->name, "textdec");
    assert_int_equal(mm_decoder_n_seq(d), n_seq);
    return d;
}

/* Sets sources src[0..n) (fixture source indices) as the decoder's sources,
 * sequence s reading seq_src[s] of them (NULL: s). */
static void set_sources(mm_decoder *d, const int32_t *src, int32_t n, const int32_t *seq_src)
{
    size_t item = (size_t)(g_d * g_t);
    float *states = malloc((size_t)n * item * sizeof *states);
    assert_non_null(states);
    for (int32_t i = 0; i < n; i++)
        memcpy(states + i * item, g_states + (size_t)src[i] * item, item * sizeof *states);
    mm_shape shape = {.n_dims = 3, .ne = {g_d, g_t, n, 1}};
    if (mm_decoder_set_source(d, states, &shape, seq_src) != MM_OK)
        fail_msg("mm_decoder_set_source: %s", mm_error_message());
    free(states);
}

static void step(mm_decoder *d, int32_t n_tokens, const int32_t *tokens, const int32_t *pos, bool all, float *logits)
{
    if (mm_decoder_decode(d, n_tokens, tokens, pos, all, logits) != MM_OK)
        fail_msg("mm_decoder_decode (%d tokens): %s", n_tokens, mm_error_message());
}

/* The teacher-forced logits of source b's ids [L][V]: one prefill step
 * (prefill = true) or token by token through the cache. */
static float *teacher_forced(mm_decoder *d, int32_t b, bool prefill)
{
    int32_t L = g_tf_len, V = mm_decoder_n_vocab(d);
    float *out = malloc((size_t)L * (size_t)V * sizeof *out);
    assert_non_null(out);
    set_sources(d, &b, 1, NULL);
    int32_t pos = 0;
    if (prefill) {
        step(d, L, g_tf[b], &pos, true, out);
        return out;
    }
    int32_t start = g_light && L > 4 ? L - 4 : 0;
    if (start)
        step(d, start, g_tf[b], &pos, true, out);
    for (pos = start; pos < L; pos++)
        step(d, 1, &g_tf[b][pos], &pos, false, out + (size_t)pos * (size_t)V);
    return out;
}

/* logits [L][V] of source b against the stored rows and every position's
 * top-5 values; returns the max error seen. */
static double check_teacher_forced(const float *logits, int32_t b, int32_t V, const char *how)
{
    int64_t shape[4];
    int32_t nd;
    double atol = tensor_tol("logits_rows", "atol"), rtol = tensor_tol("logits_rows", "rtol"), maxerr = 0;
    float *rows = test_load_expected(g_case->fixture, "logits_rows", shape, &nd);
    float *top5 = test_load_expected(g_case->fixture, "logits_top5_values", shape, &nd);
    int32_t positions[8];
    int32_t n_rows = jints(jget("logits_rows_positions"), positions, 8);
    char what[256];
    bool ok = true;
    for (int32_t r = 0; r < n_rows; r++) {
        snprintf(what, sizeof what, "%s source %d: logits row %d (%s, %s)", g_case->fixture, b, positions[r], how,
                 mm_backend_name(mm_runtime_backend(g_rt)));
        const float *want = rows + ((size_t)b * (size_t)n_rows + (size_t)r) * (size_t)V;
        const float *got = logits + (size_t)positions[r] * (size_t)V;
        ok &= test_allclose(what, got, want, (size_t)V, atol, rtol);
        for (int32_t i = 0; i < V; i++)
            maxerr = fmax(maxerr, fabs(got[i] - want[i]));
    }
    /* Every position: the logits of the reference's top-5 ids. */
    float got5[MAX_LEN * 5];
    for (int32_t p = 0; p < g_tf_len; p++) {
        int32_t ids[5];
        json_object *ids_json = g_case->n_src > 1 ? jget("logits_top5_ids.%d.%d", b, p) : jget("logits_top5_ids.%d", p);
        jints(ids_json, ids, 5);
        for (int j = 0; j < 5; j++)
            got5[p * 5 + j] = logits[(size_t)p * (size_t)V + (size_t)ids[j]];
    }
    snprintf(what, sizeof what, "%s source %d: top-5 logits at all %d positions (%s)", g_case->fixture, b, g_tf_len,
             how);
    ok &= test_allclose(what, got5, top5 + (size_t)b * (size_t)g_tf_len * 5, (size_t)g_tf_len * 5,
                        tensor_tol("logits_top5_values", "atol"), tensor_tol("logits_top5_values", "rtol"));
    free(rows);
    free(top5);
    assert_true(ok);
    return maxerr;
}

/* Teacher forcing: prefill with all logits, token by token, and a prefill
 * with the last logits only (its row must be the prefill's last). */
static void test_teacher_forced(void **state)
{
    (void)state;
    mm_model *m = fixture_model();
    mm_decoder *d = decoder_new(m, 1, 0);
    int32_t V = mm_decoder_n_vocab(d), L = g_tf_len;
    double worst = 0;
    for (int32_t b = 0; b < g_case->n_src; b++) {
        float *pre = teacher_forced(d, b, true);
        float *inc = teacher_forced(d, b, false);
        worst = fmax(worst, check_teacher_forced(pre, b, V, "one prefill step"));
        worst = fmax(worst, check_teacher_forced(inc, b, V, "token by token"));
        float *last = malloc((size_t)V * sizeof *last);
        int32_t pos = 0;
        step(d, L, g_tf[b], &pos, false, last);
        assert_true(test_allclose("prefill, last logits only vs all logits' last row", last,
                                  pre + (size_t)(L - 1) * (size_t)V, (size_t)V, 1e-5, 1e-5));
        free(last);
        free(pre);
        free(inc);
    }
    print_message("max |logit error| over the stored rows: %.3g\n", worst);
    mm_decoder_free(d);
    mm_model_free(m);
}

/* ---- greedy --------------------------------------------------------------------- */

typedef struct greedy_ref {
    int32_t prompt[8], n_prompt;
    int32_t ids[MAX_LEN], n_ids; /* new ids */
    int32_t n_compare;           /* steps before the first low-margin one */
    int32_t top5_ids[MAX_LEN][5];
    float *top5;                 /* [n_ids][5] */
} greedy_ref;

static void greedy_ref_load(int32_t b, greedy_ref *r)
{
    char base[64], name[64];
    snprintf(base, sizeof base, g_case->greedy, b);
    int32_t all[MAX_LEN + 8];
    int32_t n_all = jints(jget("%s.ids", base), all, MAX_LEN + 8);
    r->n_ids = jints(jget("%s.new_ids", base), r->ids, MAX_LEN);
    r->n_prompt = n_all - r->n_ids;
    assert_true(r->n_prompt >= 1 && r->n_prompt <= 8);
    memcpy(r->prompt, all, (size_t)r->n_prompt * sizeof *all);
    if (g_light && r->n_ids > 6)
        r->n_ids = 6;
    double threshold = 1e-3; /* the fixture README's rule */
    r->n_compare = r->n_ids;
    for (int32_t i = 0; i < r->n_ids; i++) {
        if (json_object_get_double(jget("%s.steps.%d.margin", base, i)) < threshold && r->n_compare == r->n_ids)
            r->n_compare = i;
        jints(jget("%s.steps.%d.top5_ids", base, i), r->top5_ids[i], 5);
    }
    snprintf(name, sizeof name, g_case->greedy_top5, b);
    int64_t shape[4];
    int32_t nd;
    r->top5 = test_load_expected(g_case->fixture, name, shape, &nd);
    assert_true(shape[0] >= r->n_ids);
}

/* Greedy over n sequences at once, sequence s from source src[s] (n_src
 * distinct sources set: identity, or one source shared); ids[s][i]. The
 * step logits' top-5 values are checked against each reference. */
static void greedy_run(const mm_model *m, int32_t n, const int32_t *src, bool shared, greedy_ref *refs,
                       int32_t out[][MAX_LEN])
{
    mm_decoder *d = decoder_new(m, n, 0);
    int32_t V = mm_decoder_n_vocab(d);
    if (shared)
        set_sources(d, src, 1, NULL);
    else
        set_sources(d, src, n, NULL);
    float *logits = malloc((size_t)n * (size_t)V * sizeof *logits);
    int32_t tokens[MAX_SRC * 8], pos[MAX_SRC];
    const greedy_ref *r0 = &refs[src[0]];
    for (int32_t s = 0; s < n; s++) {
        assert_int_equal(refs[src[s]].n_prompt, r0->n_prompt);
        memcpy(tokens + s * r0->n_prompt, refs[src[s]].prompt, (size_t)r0->n_prompt * sizeof *tokens);
        pos[s] = 0;
    }
    step(d, r0->n_prompt, tokens, pos, false, logits); /* the prompt in one step */
    static float got5[MAX_SRC][MAX_LEN * 5];
    for (int32_t i = 0; i < r0->n_ids; i++) {
        for (int32_t s = 0; s < n; s++) {
            const greedy_ref *r = &refs[src[s]];
            const float *row = logits + (size_t)s * (size_t)V;
            int32_t best = 0;
            for (int32_t v = 1; v < V; v++)
                if (row[v] > row[best])
                    best = v;
            out[s][i] = best;
            for (int j = 0; j < 5; j++)
                got5[s][i * 5 + j] = row[r->top5_ids[i][j]];
            tokens[s] = best;
            pos[s] = r0->n_prompt + i;
        }
        if (i + 1 < r0->n_ids)
            step(d, 1, tokens, pos, false, logits);
    }
    free(logits);
    mm_decoder_free(d);
    bool ok = true;
    for (int32_t s = 0; s < n; s++) {
        const greedy_ref *r = &refs[src[s]];
        char what[128];
        snprintf(what, sizeof what, "greedy, sequence %d of %d: top-5 logits of the %d steps compared", s, n,
                 r->n_compare);
        ok &= test_allclose(what, got5[s], r->top5, (size_t)r->n_compare * 5, 2e-4, 1e-4);
    }
    assert_true(ok);
}

static void expect_ids(const greedy_ref *r, const int32_t *got, const char *how)
{
    for (int32_t i = 0; i < r->n_compare; i++)
        if (got[i] != r->ids[i])
            fail_msg("%s: greedy step %d gave %d, the reference %d", how, i, got[i], r->ids[i]);
    print_message("%s: %d of %d greedy ids equal the reference (steps compared: margin >= 1e-3)\n", how,
                  r->n_compare, r->n_ids);
}

static void test_greedy(void **state)
{
    (void)state;
    mm_model *m = fixture_model();
    greedy_ref refs[MAX_SRC];
    int32_t alone[MAX_SRC][MAX_LEN], batch[MAX_SRC][MAX_LEN];
    for (int32_t b = 0; b < g_case->n_src; b++)
        greedy_ref_load(b, &refs[b]);
    for (int32_t b = 0; b < g_case->n_src; b++) {
        greedy_run(m, 1, &b, false, refs, &alone[b]);
        expect_ids(&refs[b], alone[b], "one sequence");
    }
    /* All sources as one batch; with a single source, two sequences share it
     * (its cross K/V computed once and gathered). */
    int32_t src[MAX_SRC] = {0, g_case->n_src > 1 ? 1 : 0};
    greedy_run(m, 2, src, g_case->n_src == 1, refs, batch);
    for (int32_t s = 0; s < 2; s++) {
        expect_ids(&refs[src[s]], batch[s], "batch of two");
        assert_memory_equal(batch[s], alone[src[s]], (size_t)refs[src[s]].n_ids * sizeof(int32_t));
    }
    for (int32_t b = 0; b < g_case->n_src; b++)
        free(refs[b].top5);
    mm_model_free(m);
}

/* ---- reorder --------------------------------------------------------------------- */

/* n sequences decoded token by token, sequence s reading fixture source
 * seq_src[s] and continuing stream s: its source's teacher-forced ids (a
 * second sequence on one source: the same ids reversed after the first),
 * with mm_decoder_reorder(parents) after `at` tokens: swaps, duplicates
 * as beam search makes them, and moves to another source's sequence. The
 * logits after the reorder must equal those of the stream each sequence
 * continues, decoded alone. Sequences in equal runs per source share that
 * source's cross K/V copy; a move to another source gives each sequence
 * its own. */
#define MAX_SEQ 4
static void reorder_case(const mm_model *m, int32_t n, const int32_t *seq_src, const int32_t *parents)
{
    /* A few tokens each side of the reorder (lavapipe runs every step). */
    const int32_t steps = g_light ? 6 : 10, L = g_tf_len < steps ? g_tf_len : steps, at = L / 2;
    assert_true(n <= MAX_SEQ);
    int32_t streams[MAX_SEQ][MAX_LEN], n_src = 0;
    for (int32_t s = 0; s < n; s++) {
        const int32_t *ids = g_tf[seq_src[s]];
        memcpy(streams[s], ids, sizeof streams[s]);
        if (s > 0 && seq_src[s - 1] == seq_src[s])
            for (int32_t i = 1; i < L; i++) /* differs from the second token on */
                streams[s][i] = ids[g_tf_len - i];
        n_src = seq_src[s] + 1 > n_src ? seq_src[s] + 1 : n_src;
    }
    /* References: each stream alone, one prefill with all logits. */
    mm_decoder *ref = decoder_new(m, 1, 0);
    int32_t V = mm_decoder_n_vocab(ref), zero = 0;
    float *want[MAX_SEQ];
    for (int32_t k = 0; k < n; k++) {
        want[k] = malloc((size_t)L * (size_t)V * sizeof(float));
        set_sources(ref, &seq_src[k], 1, NULL);
        step(ref, L, streams[k], &zero, true, want[k]);
    }
    mm_decoder_free(ref);

    mm_decoder *d = decoder_new(m, n, 0);
    set_sources(d, (const int32_t[]){0, 1}, n_src, seq_src);
    int32_t follows[MAX_SEQ], moved[MAX_SEQ]; /* the stream each sequence continues */
    for (int32_t s = 0; s < n; s++)
        follows[s] = s;
    float *logits = malloc((size_t)n * (size_t)L * (size_t)V * sizeof *logits);
    float *expect = malloc((size_t)n * (size_t)L * (size_t)V * sizeof *expect);
    for (int32_t p = 0; p < L; p++) {
        if (p == at) {
            if (mm_decoder_reorder(d, parents) != MM_OK)
                fail_msg("mm_decoder_reorder: %s", mm_error_message());
            for (int32_t s = 0; s < n; s++)
                moved[s] = follows[parents[s]];
            memcpy(follows, moved, sizeof follows);
        }
        int32_t tokens[MAX_SEQ], pos[MAX_SEQ];
        for (int32_t s = 0; s < n; s++) {
            tokens[s] = streams[follows[s]][p];
            pos[s] = p;
        }
        float *row = logits + (size_t)p * (size_t)n * (size_t)V;
        step(d, 1, tokens, pos, false, row);
        for (int32_t s = 0; s < n; s++)
            memcpy(expect + ((size_t)p * (size_t)n + (size_t)s) * (size_t)V, want[follows[s]] + (size_t)p * (size_t)V,
                   (size_t)V * sizeof *expect);
    }
    char what[200];
    int len = snprintf(what, sizeof what, "%d sequences on sources {", n);
    for (int32_t s = 0; s < n; s++)
        len += snprintf(what + len, sizeof what - (size_t)len, "%s%d", s ? "," : "", seq_src[s]);
    len += snprintf(what + len, sizeof what - (size_t)len, "}, reorder with parents {");
    for (int32_t s = 0; s < n; s++)
        len += snprintf(what + len, sizeof what - (size_t)len, "%s%d", s ? "," : "", parents[s]);
    snprintf(what + len, sizeof what - (size_t)len, "} after %d tokens, then steps: vs each stream alone", at);
    bool ok = test_allclose(what, logits, expect, (size_t)n * (size_t)L * (size_t)V, 1e-4, 1e-4);
    free(logits);
    free(expect);
    for (int32_t k = 0; k < n; k++)
        free(want[k]);
    mm_decoder_free(d);
    assert_true(ok);
}

static void test_reorder(void **state)
{
    (void)state;
    mm_model *m = fixture_model();
    /* two sequences: on one source (whisper: a beam search), else one each */
    const int32_t *two = g_case->n_src == 1 ? (const int32_t[]){0, 0} : (const int32_t[]){0, 1};
    reorder_case(m, 2, two, (const int32_t[]){1, 0});
    reorder_case(m, 2, two, (const int32_t[]){0, 0});
    if (!g_light)
        reorder_case(m, 2, two, (const int32_t[]){1, 1});
    if (g_case->n_src > 1 && !g_light) {
        /* beams of two inputs sharing their source's K/V: moved within a
         * source, then (not something beam search does, but the API allows
         * it) across sources */
        reorder_case(m, 4, (const int32_t[]){0, 0, 1, 1}, (const int32_t[]){1, 1, 3, 2});
        reorder_case(m, 4, (const int32_t[]){0, 0, 1, 1}, (const int32_t[]){0, 2, 1, 3});
    }
    mm_model_free(m);
}

/* ---- checkpoints and errors ------------------------------------------------------- */

/* An F16 checkpoint (16-bit matmuls where the backend has them, GPT-2's
 * transposed views widened once) gives what its values stored as F32 give. */
static void test_f16_checkpoint(void **state)
{
    (void)state;
    mm_model *m = fixture_model();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fixtures/%s", test_shared_dir(), g_case->fixture);
    char *half_dir = test_model_copy(m, dir, MM_DTYPE_F16, true, NULL);
    char *wide_dir = test_model_copy(m, dir, MM_DTYPE_F32, true, NULL);
    float *got[2];
    int32_t V = 0;
    for (int k = 0; k < 2; k++) {
        mm_model *mk = NULL;
        if (mm_model_load(k ? wide_dir : half_dir, &mk) != MM_OK)
            fail_msg("%s", mm_error_message());
        mm_decoder *d = decoder_new(mk, 1, 0);
        V = mm_decoder_n_vocab(d);
        got[k] = teacher_forced(d, 0, true);
        mm_decoder_free(d);
        mm_model_free(mk);
    }
    bool ok = test_allclose("F16 checkpoint vs its values as F32 (teacher forced)", got[0], got[1],
                            (size_t)g_tf_len * (size_t)V, 2e-4, 1e-4);
    free(got[0]);
    free(got[1]);
    test_model_copy_remove(half_dir);
    test_model_copy_remove(wide_dir);
    mm_model_free(m);
    assert_true(ok);
}

static void test_bad_config(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        const char *const *bad = g_case->bad[i];
        char *dir = fixture_config_copy(g_case->fixture, bad[0], bad[1]);
        mm_model *m = NULL;
        if (mm_model_load(dir, &m) != MM_OK)
            fail_msg("mm_model_load %s: %s", dir, mm_error_message());
        mm_decoder *d = NULL;
        mm_status s = mm_decoder_init(g_rt, m, NULL, &d);
        print_message("%s = %s -> %s: %s\n", bad[0], bad[1], mm_status_name(s), mm_error_message());
        assert_int_not_equal(s, MM_OK);
        assert_null(d);
        if (!strstr(mm_error_message(), bad[2]))
            fail_msg("error \"%s\" does not mention \"%s\"", mm_error_message(), bad[2]);
        mm_model_free(m);
        test_model_copy_remove(dir);
    }
}

static void expect_error(mm_status s, const char *what)
{
    assert_int_not_equal(s, MM_OK);
    if (!strstr(mm_error_message(), what))
        fail_msg("error \"%s\" does not mention \"%s\"", mm_error_message(), what);
}

static void test_misuse(void **state)
{
    (void)state;
    mm_model *m = fixture_model();
    mm_decoder *d = NULL;
    expect_error(mm_decoder_init(g_rt, m, &(mm_decoder_params){.n_seq = 1, .n_ctx = 100000}, &d), "exceeds");
    assert_null(d);
    expect_error(mm_decoder_init(g_rt, m, &(mm_decoder_params){.n_seq = 0}, &d), "sequences");
    d = decoder_new(m, 2, 8);
    assert_int_equal(mm_decoder_n_ctx(d), 8);
    int32_t V = mm_decoder_n_vocab(d), tokens[16] = {0}, pos[2] = {0, 0}, parents[2] = {0, 2};
    float *logits = malloc(2 * 16 * (size_t)V * sizeof *logits);
    expect_error(mm_decoder_decode(d, 1, tokens, pos, false, logits), "no source");
    mm_shape bad = {.n_dims = 3, .ne = {g_d + 1, g_t, 1, 1}};
    expect_error(mm_decoder_set_source(d, g_states, &bad, NULL), "expected");
    expect_error(mm_decoder_set_source(d, g_states, &(mm_shape){.n_dims = 3, .ne = {g_d, g_t, 1, 1}},
                                       (const int32_t[]){0, 1}),
                 "source 1");
    set_sources(d, (const int32_t[]){0}, 1, NULL);
    pos[1] = 7;
    expect_error(mm_decoder_decode(d, 2, tokens, pos, false, logits), "exceeds the context of 8");
    pos[1] = 0;
    tokens[0] = V;
    expect_error(mm_decoder_decode(d, 1, tokens, pos, false, logits), "vocabulary");
    tokens[0] = 0;
    expect_error(mm_decoder_reorder(d, parents), "parent 2");
    step(d, 8, tokens, pos, true, logits); /* the whole context is usable */
    free(logits);
    mm_decoder_free(d);
    mm_model_free(m);
}

/* ---- main ------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    char probe[1024], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/expected.json", g_case->fixture);
    if (!test_shared_path(probe, sizeof probe, rel))
        return test_fixtures_required() ? -1 : 0;
    g_json = json_object_from_file(probe);
    assert_non_null(g_json);
    int64_t shape[4];
    int32_t nd;
    g_states = test_load_expected(g_case->fixture, "encoder_last_hidden_state", shape, &nd);
    assert_int_equal(nd, 3);
    assert_int_equal(shape[0], g_case->n_src);
    g_t = shape[1];
    g_d = shape[2];
    json_object *tf = jget("%s", g_case->tf_ids);
    for (int32_t b = 0; b < g_case->n_src; b++)
        g_tf_len = jints(g_case->n_src > 1 ? json_object_array_get_idx(tf, (size_t)b) : tf, g_tf[b], MAX_LEN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_object_put(g_json);
    free(g_states);
    return 0;
}

/* Every test needs the fixture. */
#define FIXTURE_TEST(f)                                                                                             \
    static void f##_checked(void **state)                                                                           \
    {                                                                                                                \
        char probe[1024], rel[256];                                                                                 \
        snprintf(rel, sizeof rel, "fixtures/%s/model.safetensors", g_case->fixture);                               \
        TEST_REQUIRE_SHARED(probe, rel);                                                                            \
        f(state);                                                                                                    \
    }
FIXTURE_TEST(test_teacher_forced)
FIXTURE_TEST(test_greedy)
FIXTURE_TEST(test_reorder)
FIXTURE_TEST(test_f16_checkpoint)
FIXTURE_TEST(test_bad_config)
FIXTURE_TEST(test_misuse)

int main(int argc, char **argv)
{
    if (argc == 3)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            if (strcmp(argv[1], cases[i].name) == 0)
                g_case = &cases[i];
    if (!g_case || (strcmp(argv[2], "cpu") && strcmp(argv[2], "vulkan"))) {
        fprintf(stderr, "usage: %s <whisper|vitgpt2> <cpu|vulkan>\n", argv[0]);
        return 2;
    }
    const char *gpu = getenv("MM_VK_GPU_KERNELS");
    g_light = strcmp(argv[2], "vulkan") == 0 && gpu && strcmp(gpu, "1") == 0;
    test_watch_validation();
    int init = test_runtime_init(argv[2], &g_rt);
    if (init)
        return init;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teacher_forced_checked), cmocka_unit_test(test_greedy_checked),
        cmocka_unit_test(test_reorder_checked),        cmocka_unit_test(test_f16_checkpoint_checked),
        cmocka_unit_test(test_bad_config_checked),     cmocka_unit_test(test_misuse_checked),
    };
    char group[64];
    snprintf(group, sizeof group, "decoder-%s-%s", argv[1], argv[2]);
    int rc = _cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0], setup, teardown);
    mm_runtime_free(g_rt);
    return test_validation_verdict(rc);
}
