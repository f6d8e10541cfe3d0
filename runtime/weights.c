/* Weight sets (mm/tensor.h): a model's weights resident on one backend,
 * owned by whoever loaded the model. This file holds what every backend
 * shares: lifetime, the slot of a graph leaf, memory accounting. The
 * backends decide what a slot holds (backend_impl.h). */
#include "backend_impl.h"
#include "model_impl.h"

#include <stdlib.h>

mm_status mm_weights_init(mm_backend *b, const mm_model *m, mm_weights **out)
{
    *out = NULL;
    if (!b || !m)
        return mm_error_set(MM_ERR_INVALID, "weights: NULL backend or model");
    mm_weights *w = calloc(1, sizeof *w);
    if (!w)
        return mm_error_set(MM_ERR_NOMEM, "weights: out of memory");
    *w = (mm_weights){.backend = b, .model = m, .n_weights = mm_model_weight_count(m)};
    mm_status s = b->iface->weights_init(b, w);
    if (s != MM_OK) {
        free(w);
        return mm_error_wrap(s, "weights of %s on %s", mm_model_dir(m), b->name);
    }
    *out = w;
    return MM_OK;
}

void mm_weights_free(mm_weights *w)
{
    if (!w)
        return;
    w->backend->iface->weights_free(w->backend, w);
    mm_weights_account(w, -(int64_t)w->nbytes);
    free(w);
}

mm_status mm_weights_load(mm_weights *w, mm_graph *g)
{
    if (!w || !g)
        return mm_error_set(MM_ERR_INVALID, "weights: NULL set or graph");
    mm_status s = mm_graph_status(g);
    if (s != MM_OK)
        return mm_error_wrap(s, "weights: graph was built with an error");
    mm_graph_plan plan;
    if ((s = mm_graph_plan_build(g, &plan)) != MM_OK)
        return s;
    /* the backend resolves slots through the graph's set: bind w for the call */
    mm_weights *bound = g->weights;
    g->weights = w;
    s = w->backend->iface->weights_load(w->backend, w, g, &plan);
    g->weights = bound;
    mm_graph_plan_free(&plan);
    return s == MM_OK ? MM_OK : mm_error_wrap(s, "loading the weights of %s", mm_model_dir(w->model));
}

size_t mm_weights_nbytes(const mm_weights *w)
{
    return w ? (size_t)w->nbytes : 0;
}

void mm_graph_set_weights(mm_graph *g, mm_weights *w)
{
    if (g)
        g->weights = w;
}

mm_status mm_weights_slot(const mm_weights *w, const mm_tensor *leaf, int32_t *slot)
{
    *slot = -1;
    if (!w || !leaf->weight)
        return MM_OK;
    *slot = mm_model_weight_index(w->model, leaf->weight);
    if (*slot < 0)
        return mm_error_set(MM_ERR_INVALID, "weight %s is not a weight of %s, whose weight set the graph uses",
                            leaf->weight->name, mm_model_dir(w->model));
    return MM_OK;
}

void mm_weights_account(mm_weights *w, int64_t delta)
{
    w->nbytes = (uint64_t)((int64_t)w->nbytes + delta);
    w->backend->weight_bytes = (uint64_t)((int64_t)w->backend->weight_bytes + delta);
}
