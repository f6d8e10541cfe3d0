/* The decoder object (mm/runtime.h): a model folder's decoder part run by
 * the plugin serving it, n_seq sequences at a time.
 *
 * State on the backend: the self-attention caches (allocated at init for
 * n_seq x T_max) and the cross-attention keys/values (allocated when a
 * source of a new length or count arrives). Graphs, each built once and
 * replayed with new input data:
 * - cross K/V, per source shape: encoder states in, buffers written. When
 *   the sequences come in equal runs per source (beams of one input), the
 *   buffers hold one copy per source and a step reads each once for all of
 *   its sequences (a beam-5 step would otherwise stream five copies);
 *   any other assignment gets a copy per sequence, gathered on the device;
 * - a step per (n_tokens, all logits or last only): token ids, positions
 *   and the mask are inputs, so a new token costs one compute;
 * - the reorder after a beam step: every cache buffer gathered by an ids
 *   input (get_rows on a {row, n_seq} view) and stored back, on the device;
 *   of the self caches only the positions steps have written (rounded up,
 *   a graph per length), which early in a text is a small part of T_max. */
#include "plugin_graph.h"
#include "routing.h"
#include "runtime_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Step shapes kept at once (prompt + decode, with and without all logits). */
#define DEC_STEP_GRAPHS 4

typedef struct step_graph {
    mm_graph *g;
    int32_t n_tokens;
    bool all_logits;
    uint64_t used; /* for eviction: the least recently used goes */
    mm_tensor *tokens, *positions, *mask, *logits;
    int32_t *tok_data, *pos_data;
    float *mask_data;
} step_graph;

typedef struct cross_graph {
    mm_graph *g;
    int64_t t_src;
    int32_t n_src;
    bool gather;
    mm_tensor *states, *ids;
    int32_t *ids_data;
    mm_buffer **stage; /* n_cross_kv buffers for n_src sources, when gathering */
} cross_graph;

typedef struct reorder_graph {
    mm_graph *g;
    mm_tensor *ids;
    int64_t n_pos; /* positions of the self caches it moves */
} reorder_graph;

/* A reorder moves the self caches' first positions only, rounded up to
 * this many (a graph per length, rebuilt as the texts grow). */
#define DEC_REORDER_ROUND 32

struct mm_decoder {
    mm_runtime *rt;
    const mm_plugin *plugin;
    const mm_decoder_ops *ops;
    void *state;
    mm_model_part part;
    mm_component component;
    mm_weights *weights;
    mm_decoder_dims dims;
    int32_t n_seq;
    int64_t n_ctx; /* T_max */
    mm_buffer **self_kv, **cross_kv;
    int64_t t_src;        /* cross buffers' length; 0 before the first source */
    int32_t n_cross;      /* their batch: sequence s reads cross copy
                           * s / (n_seq / n_cross); n_seq: one per sequence */
    int32_t *src_of_seq;  /* the source each sequence reads */
    cross_graph cross;
    step_graph steps[DEC_STEP_GRAPHS];
    uint64_t clock;
    reorder_graph reorder[2]; /* [0]: self caches, [1]: also the cross buffers */
    int32_t *reorder_data;
    int32_t self_pos_dim;     /* the self caches' position dimension; -1: unknown */
    int64_t n_filled;         /* positions any step has written: 1 + the highest */
};

static mm_backend *dec_backend(const mm_decoder *d)
{
    return mm_runtime_backend(d->rt);
}

/* ---- buffers ------------------------------------------------------------------ */

static void buffers_free(mm_buffer **bufs, int32_t n)
{
    for (int32_t i = 0; bufs && i < n; i++)
        mm_buffer_free(bufs[i]);
    free(bufs);
}

/* n buffers of `kind` for `batch` sequences and n_pos positions, shaped by
 * the plugin (batch outermost, checked: reorder relies on it). */
static mm_status buffers_alloc(mm_decoder *d, mm_decoder_buffer kind, int32_t n, int32_t batch, int64_t n_pos,
                               mm_buffer ***out)
{
    *out = calloc((size_t)(n > 0 ? n : 1), sizeof **out);
    if (!*out)
        return mm_error_set(MM_ERR_NOMEM, "decoder: out of memory");
    for (int32_t i = 0; i < n; i++) {
        mm_shape sh;
        mm_status s = d->ops->buffer_shape(d->state, kind, i, batch, n_pos, &sh);
        if (s == MM_OK && (sh.n_dims < 1 || sh.n_dims > MM_MAX_DIMS || sh.ne[sh.n_dims - 1] != batch))
            s = mm_error_set(MM_ERR_PLUGIN, "decoder: plugin %s gave buffer %d a shape of %d dims whose last is "
                             "not the batch (%d)", d->plugin->name, i, sh.n_dims, batch);
        if (s == MM_OK)
            s = mm_buffer_init(dec_backend(d), MM_DTYPE_F32, sh.n_dims, sh.ne, &(*out)[i]);
        if (s != MM_OK) {
            buffers_free(*out, n);
            *out = NULL;
            return s;
        }
    }
    return MM_OK;
}

/* Buffer leaves of a graph. */
static mm_tensor **leaves_of(mm_graph *g, mm_buffer **bufs, int32_t n)
{
    mm_tensor **t = calloc((size_t)(n > 0 ? n : 1), sizeof *t);
    for (int32_t i = 0; t && i < n; i++)
        t[i] = mm_graph_buffer(g, bufs[i]);
    return t;
}

/* Appends: dst's sequences become src's sequences ids[s] (ids I32 {n_dst}).
 * Both are buffer leaves with the batch outermost; get_rows makes a fresh
 * tensor, so src and dst may be the same buffer. */
static void gather_sequences(mm_graph *g, mm_tensor *src, int32_t n_src, mm_tensor *dst, int32_t n_dst,
                             mm_tensor *ids)
{
    int64_t row = mm_tensor_nelements(src) / n_src;
    mm_tensor *rows = mm_get_rows(g, mm_reshape(g, src, 2, (int64_t[]){row, n_src}), ids);
    mm_store(g, rows, mm_reshape(g, dst, 2, (int64_t[]){row, n_dst}));
}

/* ---- graphs -------------------------------------------------------------------- */

static void step_graph_free(step_graph *sg)
{
    mm_graph_free(sg->g);
    free(sg->tok_data);
    free(sg->pos_data);
    free(sg->mask_data);
    *sg = (step_graph){0};
}

static void cross_graph_free(mm_decoder *d)
{
    mm_graph_free(d->cross.g);
    free(d->cross.ids_data);
    buffers_free(d->cross.stage, d->dims.n_cross_kv);
    d->cross = (cross_graph){0};
}

/* Graphs that read the cross buffers die with them. */
static void graphs_reading_cross_free(mm_decoder *d)
{
    for (int i = 0; i < DEC_STEP_GRAPHS; i++)
        step_graph_free(&d->steps[i]);
    mm_graph_free(d->reorder[1].g);
    d->reorder[1] = (reorder_graph){0};
}

typedef struct cross_ctx {
    mm_decoder *d;
    int64_t t_src;
    int32_t n_src;
    bool gather;
    mm_buffer **cross_kv, **stage;
    mm_tensor *states, *ids;
} cross_ctx;

static mm_status cross_append(void *p, mm_graph *g)
{
    cross_ctx *c = p;
    mm_decoder *d = c->d;
    int32_t n = d->dims.n_cross_kv;
    c->states = mm_graph_input(g, MM_DTYPE_F32, 3, (int64_t[]){d->dims.n_enc, c->t_src, c->n_src}, NULL);
    mm_tensor_set_name(c->states, "encoder states");
    mm_tensor **dst = leaves_of(g, c->gather ? c->stage : c->cross_kv, n);
    if (!dst)
        return mm_error_set(MM_ERR_NOMEM, "decoder: out of memory");
    mm_status s = mm_graph_status(g);
    if (s == MM_OK)
        s = d->ops->build_cross_kv(d->state, g, c->states, dst);
    free(dst);
    if (s != MM_OK || !c->gather)
        return s;
    /* Ops run in build order: the gathers read what build_cross_kv stored. */
    c->ids = mm_graph_input(g, MM_DTYPE_I32, 1, (int64_t[]){d->n_seq}, NULL);
    for (int32_t i = 0; i < n; i++)
        gather_sequences(g, mm_graph_buffer(g, c->stage[i]), c->n_src, mm_graph_buffer(g, c->cross_kv[i]), d->n_seq,
                         c->ids);
    return mm_graph_status(g);
}

/* A cross K/V graph for n_src sources of t_src frames into `cross_kv`
 * (gather: through staging buffers, by the ids input). */
static mm_status cross_graph_build(mm_decoder *d, mm_buffer **cross_kv, int64_t t_src, int32_t n_src, bool gather,
                                   cross_graph *out)
{
    *out = (cross_graph){.t_src = t_src, .n_src = n_src, .gather = gather};
    cross_ctx c = {.d = d, .t_src = t_src, .n_src = n_src, .gather = gather, .cross_kv = cross_kv};
    mm_status s = MM_OK;
    if (gather) {
        s = buffers_alloc(d, MM_DECODER_CROSS_KV, d->dims.n_cross_kv, n_src, t_src, &out->stage);
        c.stage = out->stage;
        if (s == MM_OK && !(out->ids_data = calloc((size_t)d->n_seq, sizeof *out->ids_data)))
            s = mm_error_set(MM_ERR_NOMEM, "decoder: out of memory");
    }
    if (s == MM_OK)
        s = mm_plugin_graph_build(cross_append, &c, &out->g);
    if (s != MM_OK) {
        free(out->ids_data);
        buffers_free(out->stage, d->dims.n_cross_kv);
        *out = (cross_graph){0};
        return s;
    }
    out->states = c.states;
    out->ids = c.ids;
    if (out->ids)
        mm_tensor_set_data(out->ids, out->ids_data);
    mm_graph_set_weights(out->g, d->weights);
    return MM_OK;
}

typedef struct step_ctx {
    mm_decoder *d;
    mm_buffer **cross_kv;
    int32_t n_tokens;
    bool all_logits;
    mm_tensor *tokens, *positions, *mask, *logits;
} step_ctx;

static mm_status step_append(void *p, mm_graph *g)
{
    step_ctx *c = p;
    mm_decoder *d = c->d;
    int32_t n = c->n_tokens, b = d->n_seq;
    c->tokens = mm_graph_input(g, MM_DTYPE_I32, 2, (int64_t[]){n, b}, NULL);
    c->positions = mm_graph_input(g, MM_DTYPE_I32, 2, (int64_t[]){n, b}, NULL);
    c->mask = mm_graph_input(g, MM_DTYPE_F32, 4, (int64_t[]){d->n_ctx, n, 1, b}, NULL);
    mm_tensor **self = leaves_of(g, d->self_kv, d->dims.n_self_kv);
    mm_tensor **cross = leaves_of(g, c->cross_kv, d->dims.n_cross_kv);
    mm_status s = self && cross ? mm_graph_status(g) : mm_error_set(MM_ERR_NOMEM, "decoder: out of memory");
    if (s == MM_OK) {
        mm_decoder_step_inputs in = {
            .n_tokens = n,
            .last_logits_only = !c->all_logits,
            .tokens = c->tokens,
            .positions = c->positions,
            .mask = c->mask,
            .self_kv = self,
            .cross_kv = cross,
        };
        s = d->ops->build_step(d->state, g, &in, &c->logits);
    }
    free(self);
    free(cross);
    if (s != MM_OK)
        return s;
    int64_t rows = c->all_logits ? n : 1;
    if (!c->logits || mm_tensor_ne(c->logits, 0) != d->dims.n_vocab || mm_tensor_ne(c->logits, 1) != rows ||
        mm_tensor_ne(c->logits, 2) != b || mm_tensor_ne(c->logits, 3) != 1)
        return mm_error_set(MM_ERR_PLUGIN, "decoder: plugin %s's step gave no {%lld, %lld, %d} logits", d->plugin->name,
                            (long long)d->dims.n_vocab, (long long)rows, b);
    mm_graph_output(g, c->logits);
    return MM_OK;
}

static mm_status step_graph_build(mm_decoder *d, mm_buffer **cross_kv, int32_t n_tokens, bool all_logits,
                                  step_graph *out)
{
    step_ctx c = {.d = d, .cross_kv = cross_kv, .n_tokens = n_tokens, .all_logits = all_logits};
    *out = (step_graph){.n_tokens = n_tokens, .all_logits = all_logits};
    size_t n = (size_t)n_tokens * (size_t)d->n_seq;
    out->tok_data = malloc(n * sizeof *out->tok_data);
    out->pos_data = malloc(n * sizeof *out->pos_data);
    out->mask_data = malloc(n * (size_t)d->n_ctx * sizeof *out->mask_data);
    mm_status s = out->tok_data && out->pos_data && out->mask_data
                      ? mm_plugin_graph_build(step_append, &c, &out->g)
                      : mm_error_set(MM_ERR_NOMEM, "decoder: out of memory for a step of %d tokens", n_tokens);
    if (s != MM_OK) {
        step_graph_free(out);
        return s;
    }
    out->tokens = c.tokens;
    out->positions = c.positions;
    out->mask = c.mask;
    out->logits = c.logits;
    mm_tensor_set_data(out->tokens, out->tok_data);
    mm_tensor_set_data(out->positions, out->pos_data);
    mm_tensor_set_data(out->mask, out->mask_data);
    mm_graph_set_weights(out->g, d->weights);
    return MM_OK;
}

/* ---- init / free ---------------------------------------------------------------- */

/* The dimension of the self caches that counts positions, found by asking
 * the plugin for the shapes at 1 and 2 positions: the one dimension that
 * differs (below the batch), the same for every cache; else -1 and reorders
 * move whole caches. */
static int32_t self_pos_dim(mm_decoder *d)
{
    int32_t dim = -1;
    for (int32_t i = 0; i < d->dims.n_self_kv; i++) {
        mm_shape a, b;
        if (d->ops->buffer_shape(d->state, MM_DECODER_SELF_KV, i, d->n_seq, 1, &a) != MM_OK ||
            d->ops->buffer_shape(d->state, MM_DECODER_SELF_KV, i, d->n_seq, 2, &b) != MM_OK || a.n_dims != b.n_dims)
            return -1;
        int32_t found = -1;
        for (int32_t k = 0; k < a.n_dims; k++)
            if (a.ne[k] != b.ne[k]) {
                if (found >= 0 || a.ne[k] != 1 || b.ne[k] != 2 || k >= a.n_dims - 1)
                    return -1;
                found = k;
            }
        if (found < 0 || (dim >= 0 && found != dim))
            return -1;
        dim = found;
    }
    return dim;
}

/* The dry build: a cross K/V graph (one frame) and a one-token step graph,
 * which checks every weight name and shape the decoder reads, and from
 * which the weights are placed on the backend. */
static mm_status dry_build(mm_decoder *d)
{
    mm_buffer **cross = NULL;
    cross_graph cg = {0};
    step_graph sg = {0};
    mm_status s = buffers_alloc(d, MM_DECODER_CROSS_KV, d->dims.n_cross_kv, d->n_seq, 1, &cross);
    if (s == MM_OK)
        s = cross_graph_build(d, cross, 1, d->n_seq, false, &cg);
    if (s == MM_OK)
        s = step_graph_build(d, cross, 1, false, &sg);
    if (s == MM_OK)
        s = mm_weights_load(d->weights, cg.g);
    if (s == MM_OK)
        s = mm_weights_load(d->weights, sg.g);
    step_graph_free(&sg);
    mm_graph_free(cg.g);
    buffers_free(cross, d->dims.n_cross_kv);
    return s;
}

mm_status mm_decoder_init(mm_runtime *rt, const mm_model *m, const mm_decoder_params *p, mm_decoder **out)
{
    *out = NULL;
    mm_decoder_params params = p ? *p : (mm_decoder_params){.n_seq = 1};
    if (params.n_seq < 1 || params.n_ctx < 0)
        return mm_error_set(MM_ERR_INVALID, "decoder: %d sequences of %d positions", params.n_seq, params.n_ctx);
    mm_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return mm_error_set(MM_ERR_NOMEM, "decoder: out of memory");
    d->rt = rt;
    d->n_seq = params.n_seq;
    mm_status s = mm_route_component(m, MM_ROLE_DECODER, &d->part, &d->component);
    if (s == MM_OK)
        s = mm_runtime_find_plugin(rt, d->part.model_type, MM_ROLE_DECODER, &d->plugin);
    if (s == MM_OK) {
        d->ops = d->plugin->decoder;
        s = mm_weights_init(mm_runtime_backend(rt), m, &d->weights);
    }
    if (s == MM_OK) {
        s = d->ops->load(&d->component, &d->state);
        if (s == MM_OK)
            s = d->ops->dims(d->state, &d->dims);
        if (s == MM_OK && (d->dims.n_vocab < 1 || d->dims.n_vocab > INT32_MAX || d->dims.n_ctx < 1 ||
                           d->dims.n_enc < 1 || d->dims.n_self_kv < 0 || d->dims.n_cross_kv < 0))
            s = mm_error_set(MM_ERR_PLUGIN, "decoder dims: %lld tokens, %lld positions, %lld encoder features",
                             (long long)d->dims.n_vocab, (long long)d->dims.n_ctx, (long long)d->dims.n_enc);
        if (s == MM_OK && params.n_ctx > d->dims.n_ctx)
            s = mm_error_set(MM_ERR_INVALID, "n_ctx %d exceeds the model's %lld positions", params.n_ctx,
                             (long long)d->dims.n_ctx);
        d->n_ctx = params.n_ctx ? params.n_ctx : d->dims.n_ctx;
        if (s == MM_OK)
            s = buffers_alloc(d, MM_DECODER_SELF_KV, d->dims.n_self_kv, d->n_seq, d->n_ctx, &d->self_kv);
        if (s == MM_OK)
            d->self_pos_dim = self_pos_dim(d);
        if (s == MM_OK && !(d->src_of_seq = calloc((size_t)d->n_seq, sizeof *d->src_of_seq)))
            s = mm_error_set(MM_ERR_NOMEM, "decoder: out of memory");
        if (s == MM_OK && !(d->reorder_data = calloc((size_t)d->n_seq, sizeof *d->reorder_data)))
            s = mm_error_set(MM_ERR_NOMEM, "decoder: out of memory");
        if (s == MM_OK)
            s = dry_build(d);
        if (s != MM_OK)
            mm_error_wrap(s, "%s: %s decoder (plugin %s)", mm_model_dir(m), d->part.model_type, d->plugin->name);
    }
    if (s != MM_OK) {
        mm_decoder_free(d);
        return s;
    }
    *out = d;
    return MM_OK;
}

void mm_decoder_free(mm_decoder *d)
{
    if (!d)
        return;
    for (int i = 0; i < DEC_STEP_GRAPHS; i++)
        step_graph_free(&d->steps[i]);
    for (int i = 0; i < 2; i++)
        mm_graph_free(d->reorder[i].g);
    cross_graph_free(d);
    buffers_free(d->self_kv, d->dims.n_self_kv);
    buffers_free(d->cross_kv, d->dims.n_cross_kv);
    mm_weights_free(d->weights);
    if (d->state)
        d->ops->free(d->state);
    free(d->src_of_seq);
    free(d->reorder_data);
    free(d);
}

const mm_plugin *mm_decoder_plugin(const mm_decoder *d) { return d->plugin; }
int32_t mm_decoder_n_vocab(const mm_decoder *d) { return (int32_t)d->dims.n_vocab; }
int32_t mm_decoder_n_ctx(const mm_decoder *d) { return (int32_t)d->n_ctx; }
int32_t mm_decoder_n_seq(const mm_decoder *d) { return d->n_seq; }

/* ---- running ---------------------------------------------------------------------- */

/* Cross buffers of t_src positions and n_cross copies; new ones drop every
 * graph reading the old. */
static mm_status cross_buffers_set(mm_decoder *d, int64_t t_src, int32_t n_cross)
{
    if (d->t_src == t_src && d->n_cross == n_cross)
        return MM_OK;
    cross_graph_free(d);
    graphs_reading_cross_free(d);
    buffers_free(d->cross_kv, d->dims.n_cross_kv);
    d->cross_kv = NULL;
    d->t_src = 0;
    mm_status s = buffers_alloc(d, MM_DECODER_CROSS_KV, d->dims.n_cross_kv, n_cross, t_src, &d->cross_kv);
    if (s != MM_OK)
        return s;
    d->t_src = t_src;
    d->n_cross = n_cross;
    return MM_OK;
}

mm_status mm_decoder_set_source(mm_decoder *d, const float *states, const mm_shape *shape, const int32_t *src_of_seq)
{
    if (!states || !shape)
        return mm_error_set(MM_ERR_INVALID, "decoder source: no states");
    int64_t t_src = shape->ne[1];
    int64_t n_src = shape->n_dims >= 3 ? shape->ne[2] : 1;
    if (shape->n_dims < 2 || shape->n_dims > 3 || shape->ne[0] != d->dims.n_enc || t_src < 1 || n_src < 1 ||
        n_src > d->n_seq || (shape->n_dims == 3 && shape->ne[3] != 1))
        return mm_error_set(MM_ERR_INVALID, "decoder source: states {%lld,%lld,%lld,%lld}; {%lld, T, 1..%d} expected",
                            (long long)shape->ne[0], (long long)shape->ne[1], (long long)shape->ne[2],
                            (long long)shape->ne[3], (long long)d->dims.n_enc, d->n_seq);
    /* runs: sequence s reads source s / (n_seq / n_src), one copy per source */
    bool runs = d->n_seq % n_src == 0;
    for (int32_t s = 0; s < d->n_seq; s++) {
        int32_t src = src_of_seq ? src_of_seq[s] : (int32_t)(s % n_src);
        if (src < 0 || src >= n_src)
            return mm_error_set(MM_ERR_INVALID, "decoder source: sequence %d reads source %d of %lld", s, src,
                                (long long)n_src);
        runs = runs && src == s / (d->n_seq / n_src);
    }
    int32_t n_cross = runs ? (int32_t)n_src : d->n_seq;
    mm_status s = cross_buffers_set(d, t_src, n_cross);
    if (s != MM_OK)
        return s;
    bool gather = !runs;
    if (!d->cross.g || d->cross.t_src != t_src || d->cross.n_src != (int32_t)n_src || d->cross.gather != gather) {
        cross_graph_free(d);
        if ((s = cross_graph_build(d, d->cross_kv, t_src, (int32_t)n_src, gather, &d->cross)) != MM_OK)
            return mm_error_wrap(s, "decoder cross K/V graph");
    }
    for (int32_t i = 0; i < d->n_seq; i++) {
        d->src_of_seq[i] = src_of_seq ? src_of_seq[i] : (int32_t)(i % n_src);
        if (gather)
            d->cross.ids_data[i] = d->src_of_seq[i];
    }
    mm_tensor_set_data(d->cross.states, states);
    s = mm_backend_compute(dec_backend(d), d->cross.g);
    mm_tensor_set_data(d->cross.states, NULL);
    if (s != MM_OK)
        d->t_src = 0; /* the cross buffers hold nothing usable */
    return s;
}

typedef struct unshare_ctx {
    mm_decoder *d;
    mm_buffer **from, **to;
    mm_tensor *ids;
} unshare_ctx;

static mm_status unshare_append(void *p, mm_graph *g)
{
    unshare_ctx *c = p;
    mm_decoder *d = c->d;
    c->ids = mm_graph_input(g, MM_DTYPE_I32, 1, (int64_t[]){d->n_seq}, NULL);
    for (int32_t i = 0; i < d->dims.n_cross_kv; i++)
        gather_sequences(g, mm_graph_buffer(g, c->from[i]), d->n_cross, mm_graph_buffer(g, c->to[i]), d->n_seq,
                         c->ids);
    return mm_graph_status(g);
}

/* Shared cross copies become one per sequence, sequence s getting source
 * src[s]'s: for a reorder that moves a sequence to another source. Rare (a
 * beam search keeps each beam on its input), so the graph is not kept. */
static mm_status cross_unshare(mm_decoder *d, const int32_t *src)
{
    mm_buffer **per_seq = NULL;
    mm_graph *g = NULL;
    unshare_ctx c = {.d = d, .from = d->cross_kv};
    mm_status s = buffers_alloc(d, MM_DECODER_CROSS_KV, d->dims.n_cross_kv, d->n_seq, d->t_src, &per_seq);
    c.to = per_seq;
    if (s == MM_OK)
        s = mm_plugin_graph_build(unshare_append, &c, &g);
    if (s == MM_OK) {
        mm_tensor_set_data(c.ids, src);
        s = mm_backend_compute(dec_backend(d), g);
    }
    mm_graph_free(g);
    if (s != MM_OK) {
        buffers_free(per_seq, d->dims.n_cross_kv);
        return mm_error_wrap(s, "decoder: cross K/V per sequence");
    }
    cross_graph_free(d);
    graphs_reading_cross_free(d);
    buffers_free(d->cross_kv, d->dims.n_cross_kv);
    d->cross_kv = per_seq;
    d->n_cross = d->n_seq;
    return MM_OK;
}

static mm_status step_graph_get(mm_decoder *d, int32_t n_tokens, bool all_logits, step_graph **out)
{
    step_graph *victim = &d->steps[0];
    for (int i = 0; i < DEC_STEP_GRAPHS; i++) {
        step_graph *sg = &d->steps[i];
        if (sg->g && sg->n_tokens == n_tokens && sg->all_logits == all_logits) {
            sg->used = ++d->clock;
            *out = sg;
            return MM_OK;
        }
        if (!sg->g || (victim->g && sg->used < victim->used))
            victim = sg;
    }
    step_graph_free(victim);
    mm_status s = step_graph_build(d, d->cross_kv, n_tokens, all_logits, victim);
    if (s != MM_OK)
        return mm_error_wrap(s, "decoder step graph (%d tokens)", n_tokens);
    victim->used = ++d->clock;
    *out = victim;
    return MM_OK;
}

mm_status mm_decoder_decode(mm_decoder *d, int32_t n_tokens, const int32_t *tokens, const int32_t *pos,
                          bool all_logits, float *logits)
{
    if (!d->t_src)
        return mm_error_set(MM_ERR_INVALID, "decoder step: no source set (mm_decoder_set_source)");
    if (n_tokens < 1 || n_tokens > d->n_ctx || !tokens || !pos || !logits)
        return mm_error_set(MM_ERR_INVALID, "decoder step: %d tokens (1..%lld)", n_tokens, (long long)d->n_ctx);
    for (int32_t s = 0; s < d->n_seq; s++) {
        if (pos[s] < 0 || pos[s] > d->n_ctx - n_tokens)
            return mm_error_set(MM_ERR_INVALID, "decoder step: sequence %d at position %d with %d tokens exceeds the "
                                "context of %lld positions", s, pos[s], n_tokens, (long long)d->n_ctx);
        for (int32_t j = 0; j < n_tokens; j++)
            if (tokens[s * n_tokens + j] < 0 || tokens[s * n_tokens + j] >= d->dims.n_vocab)
                return mm_error_set(MM_ERR_INVALID, "decoder step: token %d outside the vocabulary of %lld",
                                    tokens[s * n_tokens + j], (long long)d->dims.n_vocab);
    }
    all_logits = all_logits && n_tokens > 1; /* one token: the same graph either way */
    step_graph *sg = NULL;
    mm_status st = step_graph_get(d, n_tokens, all_logits, &sg);
    if (st != MM_OK)
        return st;
    const int64_t T = d->n_ctx;
    for (int32_t s = 0; s < d->n_seq; s++)
        for (int32_t j = 0; j < n_tokens; j++) {
            int32_t i = s * n_tokens + j, p = pos[s] + j;
            sg->tok_data[i] = tokens[i];
            sg->pos_data[i] = p;
            float *row = sg->mask_data + (size_t)i * (size_t)T;
            for (int64_t k = 0; k < T; k++)
                row[k] = k <= p ? 0.0f : -INFINITY;
        }
    for (int32_t s = 0; s < d->n_seq; s++)
        if (pos[s] + n_tokens > d->n_filled)
            d->n_filled = pos[s] + n_tokens;
    st = mm_backend_compute(dec_backend(d), sg->g);
    if (st != MM_OK)
        return st;
    size_t n = (size_t)d->n_seq * (size_t)(all_logits ? n_tokens : 1) * (size_t)d->dims.n_vocab;
    return mm_tensor_read(sg->logits, logits, n * sizeof *logits);
}

typedef struct reorder_ctx {
    mm_decoder *d;
    bool cross;
    int64_t n_pos;
    mm_tensor *ids;
} reorder_ctx;

/* Appends: every sequence's first n_pos positions of the self cache t
 * become those of sequence ids[s] (a strided view of the buffer, copied
 * contiguous for the gather, then stored back). */
static void gather_prefix(mm_graph *g, mm_tensor *t, int32_t pos_dim, int64_t n_pos, int32_t n_seq, mm_tensor *ids)
{
    int32_t nd = mm_tensor_n_dims(t);
    int64_t ne[MM_MAX_DIMS];
    size_t nb[MM_MAX_DIMS];
    for (int32_t k = 0; k < nd; k++) {
        ne[k] = mm_tensor_ne(t, k);
        nb[k] = mm_tensor_nb(t, k);
    }
    ne[pos_dim] = n_pos;
    mm_tensor *prefix = mm_cont(g, mm_view(g, t, nd, ne, nb, 0));
    int64_t row = mm_tensor_nelements(prefix) / n_seq;
    mm_tensor *rows = mm_get_rows(g, mm_reshape(g, prefix, 2, (int64_t[]){row, n_seq}), ids);
    mm_store(g, mm_reshape(g, rows, nd, ne), mm_view(g, t, nd, ne, nb, 0));
}

static mm_status reorder_append(void *p, mm_graph *g)
{
    reorder_ctx *c = p;
    mm_decoder *d = c->d;
    c->ids = mm_graph_input(g, MM_DTYPE_I32, 1, (int64_t[]){d->n_seq}, NULL);
    for (int32_t i = 0; i < d->dims.n_self_kv; i++) {
        mm_tensor *t = mm_graph_buffer(g, d->self_kv[i]);
        if (c->n_pos < d->n_ctx)
            gather_prefix(g, t, d->self_pos_dim, c->n_pos, d->n_seq, c->ids);
        else
            gather_sequences(g, t, d->n_seq, t, d->n_seq, c->ids);
    }
    for (int32_t i = 0; c->cross && i < d->dims.n_cross_kv; i++) {
        mm_tensor *t = mm_graph_buffer(g, d->cross_kv[i]);
        gather_sequences(g, t, d->n_seq, t, d->n_seq, c->ids);
    }
    return mm_graph_status(g);
}

mm_status mm_decoder_reorder(mm_decoder *d, const int32_t *parents)
{
    if (!parents)
        return mm_error_set(MM_ERR_INVALID, "decoder reorder: no parents");
    bool identity = true, cross = false;
    for (int32_t s = 0; s < d->n_seq; s++) {
        if (parents[s] < 0 || parents[s] >= d->n_seq)
            return mm_error_set(MM_ERR_INVALID, "decoder reorder: sequence %d's parent %d is not one of the %d "
                                "sequences", s, parents[s], d->n_seq);
        identity = identity && parents[s] == s;
        /* Cross K/V follow only when a sequence takes another source's. */
        cross = cross || d->src_of_seq[parents[s]] != d->src_of_seq[s];
    }
    if (identity)
        return MM_OK;
    if (cross && !d->t_src)
        return mm_error_set(MM_ERR_INVALID, "decoder reorder: no source set");
    if (cross && d->n_cross < d->n_seq) { /* shared copies: each sequence gets its new source's */
        int32_t *src = d->reorder_data;
        for (int32_t i = 0; i < d->n_seq; i++)
            src[i] = d->src_of_seq[parents[i]];
        mm_status s = cross_unshare(d, src);
        if (s != MM_OK)
            return s;
        memcpy(d->src_of_seq, src, (size_t)d->n_seq * sizeof *src);
        cross = false; /* in place already */
    }
    /* Positions no step has written hold nothing a sequence reads. */
    int64_t n_pos = d->n_ctx;
    if (d->self_pos_dim >= 0) {
        n_pos = (d->n_filled + DEC_REORDER_ROUND - 1) / DEC_REORDER_ROUND * DEC_REORDER_ROUND;
        n_pos = n_pos < DEC_REORDER_ROUND ? DEC_REORDER_ROUND : n_pos > d->n_ctx ? d->n_ctx : n_pos;
    }
    reorder_graph *r = &d->reorder[cross];
    if (r->g && r->n_pos != n_pos) {
        mm_graph_free(r->g);
        *r = (reorder_graph){0};
    }
    if (!r->g) {
        reorder_ctx c = {.d = d, .cross = cross, .n_pos = n_pos};
        mm_status s = mm_plugin_graph_build(reorder_append, &c, &r->g);
        if (s != MM_OK)
            return mm_error_wrap(s, "decoder reorder graph");
        r->ids = c.ids;
        r->n_pos = n_pos;
        mm_tensor_set_data(r->ids, d->reorder_data);
    }
    memcpy(d->reorder_data, parents, (size_t)d->n_seq * sizeof *parents);
    mm_status s = mm_backend_compute(dec_backend(d), r->g);
    if (s != MM_OK)
        return s;
    if (cross) {
        int32_t *src = d->reorder_data; /* reuse as scratch: the compute is done */
        for (int32_t i = 0; i < d->n_seq; i++)
            src[i] = d->src_of_seq[parents[i]];
        memcpy(d->src_of_seq, src, (size_t)d->n_seq * sizeof *src);
    }
    return MM_OK;
}
