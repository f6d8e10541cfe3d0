/* Runs the embedder part of a model folder (CLIP) through the plugin serving
 * its model_type: an image tower and a text tower, each a graph built once
 * per shape and replayed, on the model's weight set. */
#include "plugin_graph.h"
#include "routing.h"
#include "runtime_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Graphs kept per tower: a caller embeds in a few batch sizes (full batches
 * and the last, partial one) and a text tower sees a few padded lengths. */
#define EMBEDDER_GRAPHS 4
/* A batch beyond this is a caller's bug, not a workload. */
#define EMBEDDER_MAX_BATCH (1 << 16)

typedef struct tower_graph {
    mm_graph *graph; /* NULL: a free slot */
    int32_t batch;
    int32_t n_tokens; /* texts: T; images: 0 */
    mm_tensor *input; /* pixels F32 or ids I32 (data set per run)       */
    mm_tensor *mask, *pool; /* texts only: inputs made from the lengths */
    mm_tensor *output;      /* {E, B}                                    */
    float *mask_data;       /* texts: {T, 1, 1, B}                       */
    int32_t *pool_data;     /* texts: {B}                                */
    uint64_t used;          /* for evicting the least recently used      */
} tower_graph;

struct mm_embedder {
    mm_runtime *rt;
    const mm_plugin *plugin;
    const mm_embedder_ops *ops;
    void *state;
    mm_model_part part;
    mm_component component;
    mm_embedder_dims dims;
    mm_weights *weights; /* the model's weights on the runtime's backend */
    tower_graph image[EMBEDDER_GRAPHS], text[EMBEDDER_GRAPHS];
    uint64_t clock;
};

/* ---- building ------------------------------------------------------------------- */

typedef struct tower_ctx {
    const mm_embedder *e;
    tower_graph *t;
} tower_ctx;

static mm_status image_append(void *ctx, mm_graph *g)
{
    tower_ctx *c = ctx;
    tower_graph *t = c->t;
    mm_shape shape;
    mm_status s = c->e->ops->image_input_shape(c->e->state, t->batch, &shape);
    if (s != MM_OK)
        return s;
    if (shape.n_dims < 1 || shape.n_dims > MM_MAX_DIMS || shape.ne[shape.n_dims - 1] != t->batch)
        return mm_error_set(MM_ERR_PLUGIN, "image_input_shape gave %d dimensions, not ending in the batch",
                            shape.n_dims);
    t->input = mm_graph_input(g, MM_DTYPE_F32, shape.n_dims, shape.ne, NULL);
    mm_tensor_set_name(t->input, "embedder pixels");
    if ((s = mm_graph_status(g)) != MM_OK)
        return s;
    return c->e->ops->build_image(c->e->state, g, t->input, &t->output, NULL);
}

static mm_status text_append(void *ctx, mm_graph *g)
{
    tower_ctx *c = ctx;
    tower_graph *t = c->t;
    int64_t nt = t->n_tokens, nb = t->batch;
    t->input = mm_graph_input(g, MM_DTYPE_I32, 2, (int64_t[]){nt, nb}, NULL);
    t->mask = mm_graph_input(g, MM_DTYPE_F32, 4, (int64_t[]){nt, 1, 1, nb}, NULL);
    t->pool = mm_graph_input(g, MM_DTYPE_I32, 1, (int64_t[]){nb}, NULL);
    mm_tensor_set_name(t->input, "embedder token ids");
    mm_tensor_set_name(t->mask, "embedder padding mask");
    mm_tensor_set_name(t->pool, "embedder pooled rows");
    mm_status s = mm_graph_status(g);
    if (s != MM_OK)
        return s;
    mm_embedder_text_inputs in = {.n_tokens = t->n_tokens, .ids = t->input, .mask = t->mask, .pool = t->pool};
    return c->e->ops->build_text(c->e->state, g, &in, &t->output, NULL);
}

static void tower_release(tower_graph *t)
{
    mm_graph_free(t->graph);
    free(t->mask_data);
    free(t->pool_data);
    *t = (tower_graph){0};
}

/* Builds slot t for its batch (and n_tokens) and binds it to the weights. */
static mm_status tower_build(mm_embedder *e, tower_graph *t)
{
    tower_ctx ctx = {.e = e, .t = t};
    bool text = t->n_tokens > 0;
    mm_status s = mm_plugin_graph_build(text ? text_append : image_append, &ctx, &t->graph);
    if (s == MM_OK && !t->output)
        s = mm_error_set(MM_ERR_PLUGIN, "%s tower gave no output", text ? "text" : "image");
    if (s == MM_OK && (mm_tensor_type(t->output) != MM_DTYPE_F32 || mm_tensor_ne(t->output, 0) != e->dims.n_embd ||
                       mm_tensor_nelements(t->output) != e->dims.n_embd * t->batch))
        s = mm_error_set(MM_ERR_PLUGIN, "%s tower output is {%lld,%lld,..}, {%lld,%d} expected", text ? "text" : "image",
                         (long long)mm_tensor_ne(t->output, 0), (long long)mm_tensor_ne(t->output, 1),
                         (long long)e->dims.n_embd, t->batch);
    if (s == MM_OK && text) {
        t->mask_data = malloc((size_t)t->n_tokens * (size_t)t->batch * sizeof *t->mask_data);
        t->pool_data = malloc((size_t)t->batch * sizeof *t->pool_data);
        if (!t->mask_data || !t->pool_data)
            s = mm_error_set(MM_ERR_NOMEM, "embedder: out of memory");
    }
    if (s != MM_OK) {
        tower_release(t);
        return s;
    }
    mm_graph_output(t->graph, t->output);
    mm_graph_set_weights(t->graph, e->weights);
    return MM_OK;
}

/* The tower's graph for this shape: a kept one, or a new one in a free slot
 * or in place of the least recently used. */
static mm_status tower_get(mm_embedder *e, tower_graph *slots, int32_t batch, int32_t n_tokens, tower_graph **out)
{
    tower_graph *pick = NULL;
    for (int i = 0; i < EMBEDDER_GRAPHS; i++) {
        tower_graph *t = &slots[i];
        if (t->graph && t->batch == batch && t->n_tokens == n_tokens) {
            t->used = ++e->clock;
            *out = t;
            return MM_OK;
        }
        if (!pick || (pick->graph && (!t->graph || t->used < pick->used)))
            pick = t;
    }
    tower_release(pick);
    pick->batch = batch;
    pick->n_tokens = n_tokens;
    mm_status s = tower_build(e, pick);
    if (s != MM_OK)
        return mm_error_wrap(s, "%s %s tower graph", e->part.model_type, n_tokens ? "text" : "image");
    pick->used = ++e->clock;
    *out = pick;
    return MM_OK;
}

/* ---- the object ------------------------------------------------------------------ */

static mm_status embedder_check_dims(const mm_embedder_dims *d)
{
    if (d->n_embd < 1 || d->n_embd > INT32_MAX || d->n_ctx < 1 || d->n_ctx > INT32_MAX || d->n_vocab < 1 ||
        d->n_vocab > INT32_MAX || !(isfinite(d->logit_scale) && d->logit_scale > 0))
        return mm_error_set(MM_ERR_PLUGIN, "embedder dims: n_embd %lld, n_ctx %lld, n_vocab %lld, logit_scale %g",
                            (long long)d->n_embd, (long long)d->n_ctx, (long long)d->n_vocab, d->logit_scale);
    return MM_OK;
}

mm_status mm_embedder_init(mm_runtime *rt, const mm_model *m, mm_embedder **out)
{
    *out = NULL;
    mm_embedder *e = calloc(1, sizeof *e);
    if (!e)
        return mm_error_set(MM_ERR_NOMEM, "embedder: out of memory");
    e->rt = rt;
    mm_status s = mm_route_component(m, MM_ROLE_EMBEDDER, &e->part, &e->component);
    if (s == MM_OK)
        s = mm_runtime_find_plugin(rt, e->part.model_type, MM_ROLE_EMBEDDER, &e->plugin);
    if (s == MM_OK)
        s = mm_weights_init(mm_runtime_backend(rt), m, &e->weights);
    if (s == MM_OK) {
        e->ops = e->plugin->embedder;
        s = e->ops->load(&e->component, &e->state);
        if (s == MM_OK && (s = e->ops->dims(e->state, &e->dims)) == MM_OK)
            s = embedder_check_dims(&e->dims);
        /* The dry build: both towers, one image and one text of n_ctx
         * tokens (every position embedding read), so every weight name and
         * shape is checked now; the graphs are kept for those shapes. */
        tower_graph *img = NULL, *txt = NULL;
        if (s == MM_OK)
            s = tower_get(e, e->image, 1, 0, &img);
        if (s == MM_OK)
            s = tower_get(e, e->text, 1, (int32_t)e->dims.n_ctx, &txt);
        /* Uploading the weights is part of loading: a model too big for
         * the device fails here, not at the first input. */
        if (s == MM_OK)
            s = mm_weights_load(e->weights, img->graph);
        if (s == MM_OK)
            s = mm_weights_load(e->weights, txt->graph);
        if (s != MM_OK)
            mm_error_wrap(s, "%s: %s embedder (plugin %s)", mm_model_dir(m), e->part.model_type, e->plugin->name);
    }
    if (s != MM_OK) {
        mm_embedder_free(e);
        return s;
    }
    *out = e;
    return MM_OK;
}

void mm_embedder_free(mm_embedder *e)
{
    if (!e)
        return;
    for (int i = 0; i < EMBEDDER_GRAPHS; i++) {
        tower_release(&e->image[i]);
        tower_release(&e->text[i]);
    }
    mm_weights_free(e->weights);
    if (e->state)
        e->ops->free(e->state);
    free(e);
}

const mm_plugin *mm_embedder_plugin(const mm_embedder *e) { return e->plugin; }
int32_t mm_embedder_n_embd(const mm_embedder *e) { return (int32_t)e->dims.n_embd; }
int32_t mm_embedder_n_ctx(const mm_embedder *e) { return (int32_t)e->dims.n_ctx; }
int32_t mm_embedder_n_vocab(const mm_embedder *e) { return (int32_t)e->dims.n_vocab; }
float mm_embedder_logit_scale(const mm_embedder *e) { return e->dims.logit_scale; }

static mm_status check_batch(int32_t batch)
{
    if (batch < 1 || batch > EMBEDDER_MAX_BATCH)
        return mm_error_set(MM_ERR_INVALID, "embedder: batch of %d (1..%d)", batch, EMBEDDER_MAX_BATCH);
    return MM_OK;
}

mm_status mm_embedder_image_shape(const mm_embedder *e, int32_t batch, mm_shape *out)
{
    mm_status s = check_batch(batch);
    return s != MM_OK ? s : e->ops->image_input_shape(e->state, batch, out);
}

/* Computes t with its inputs set and copies the {E, B} output to out. */
static mm_status tower_run(mm_embedder *e, tower_graph *t, float *out)
{
    mm_status s = mm_backend_compute(mm_runtime_backend(e->rt), t->graph);
    if (s != MM_OK)
        return s;
    return mm_tensor_read(t->output, out, (size_t)t->batch * (size_t)e->dims.n_embd * sizeof *out);
}

mm_status mm_embedder_image(mm_embedder *e, const float *pixels, int32_t batch, float *out)
{
    mm_status s = check_batch(batch);
    tower_graph *t = NULL;
    if (s != MM_OK || (s = tower_get(e, e->image, batch, 0, &t)) != MM_OK)
        return s;
    mm_tensor_set_data(t->input, pixels);
    return tower_run(e, t, out);
}

mm_status mm_embedder_text(mm_embedder *e, const int32_t *ids, int32_t n_tokens, int32_t batch, const int32_t *len,
                           float *out)
{
    mm_status s = check_batch(batch);
    if (s != MM_OK)
        return s;
    if (n_tokens < 1 || n_tokens > e->dims.n_ctx)
        return mm_error_set(MM_ERR_INVALID, "text of %d tokens: the model takes at most %lld", n_tokens,
                            (long long)e->dims.n_ctx);
    for (int32_t b = 0; b < batch; b++) {
        int32_t n = len ? len[b] : n_tokens;
        if (n < 1 || n > n_tokens)
            return mm_error_set(MM_ERR_INVALID, "text %d: length %d of %d padded tokens", b, n, n_tokens);
        for (int32_t i = 0; i < n_tokens; i++) {
            int32_t id = ids[(size_t)b * (size_t)n_tokens + (size_t)i];
            if (id < 0 || id >= e->dims.n_vocab)
                return mm_error_set(MM_ERR_INVALID, "text %d: token %d is id %d, outside the vocabulary (%lld)", b, i,
                                    id, (long long)e->dims.n_vocab);
        }
    }
    tower_graph *t = NULL;
    if ((s = tower_get(e, e->text, batch, n_tokens, &t)) != MM_OK)
        return s;
    int32_t *full = NULL;
    if (!len) {
        full = malloc((size_t)batch * sizeof *full);
        if (!full)
            return mm_error_set(MM_ERR_NOMEM, "embedder: out of memory");
        for (int32_t b = 0; b < batch; b++)
            full[b] = n_tokens;
        len = full;
    }
    s = e->ops->text_pool(e->state, ids, n_tokens, batch, len, t->pool_data);
    for (int32_t b = 0; s == MM_OK && b < batch; b++) {
        int32_t p = t->pool_data[b];
        if (p < 0 || p >= len[b])
            s = mm_error_set(MM_ERR_PLUGIN, "text %d: pooled at token %d of %d", b, p, len[b]);
        t->pool_data[b] = b * n_tokens + p;
        for (int32_t i = 0; i < n_tokens; i++)
            t->mask_data[(size_t)b * (size_t)n_tokens + (size_t)i] = i < len[b] ? 0.0f : -INFINITY;
    }
    free(full);
    if (s != MM_OK)
        return s;
    mm_tensor_set_data(t->input, ids);
    mm_tensor_set_data(t->mask, t->mask_data);
    mm_tensor_set_data(t->pool, t->pool_data);
    return tower_run(e, t, out);
}

/* ---- similarity ------------------------------------------------------------------ */

/* 1/|x|, or 0 for a zero vector. The sum in double: E is up to a few
 * thousand values, and the reference normalises in float32 already. */
static double inv_norm(const float *x, int32_t n)
{
    double ss = 0;
    for (int32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    return ss > 0 ? 1.0 / sqrt(ss) : 0.0;
}

void mm_embedder_normalize(float *x, int32_t count, int32_t n_embd)
{
    for (int32_t j = 0; j < count; j++) {
        float *v = x + (size_t)j * (size_t)n_embd;
        double s = inv_norm(v, n_embd);
        for (int32_t i = 0; i < n_embd; i++)
            v[i] = (float)(v[i] * s);
    }
}

mm_status mm_embedder_logits(const mm_embedder *e, const float *img, int32_t n_img, const float *txt, int32_t n_txt,
                             float *logits)
{
    if (n_img < 0 || n_txt < 0)
        return mm_error_set(MM_ERR_INVALID, "embedder logits: %d images, %d texts", n_img, n_txt);
    int32_t n = (int32_t)e->dims.n_embd;
    for (int32_t i = 0; i < n_img; i++) {
        const float *a = img + (size_t)i * (size_t)n;
        double ia = inv_norm(a, n);
        for (int32_t t = 0; t < n_txt; t++) {
            const float *b = txt + (size_t)t * (size_t)n;
            double dot = 0;
            for (int32_t k = 0; k < n; k++)
                dot += (double)a[k] * b[k];
            logits[(size_t)i * (size_t)n_txt + (size_t)t] = (float)(e->dims.logit_scale * dot * ia * inv_norm(b, n));
        }
    }
    return MM_OK;
}
