/* Runs the encoder part of a model folder (the routing table says where it
 * lives) through the plugin serving its model_type. */
#include "plugin_graph.h"
#include "routing.h"
#include "runtime_impl.h"

#include <stdlib.h>
#include <string.h>

struct mm_encoder {
    mm_runtime *rt;
    const mm_plugin *plugin;
    void *state;
    mm_model_part part;
    mm_component component;
    /* The last graph built (first the dry build at init, batch 1), reused
     * while the batch size stays the same so the backend keeps its buffers. */
    mm_encoder_graph graph;
    int32_t graph_batch;
    mm_weights *weights; /* the model's weights on the runtime's backend */
};

/* Replaces the encoder's graph by one for `batch` items. */
static mm_status encoder_rebuild(mm_encoder *e, int32_t batch)
{
    mm_graph_free(e->graph.graph);
    e->graph = (mm_encoder_graph){0};
    e->graph_batch = 0;
    mm_status s = mm_encoder_graph_build(e->plugin->encoder, e->state, batch, &e->graph);
    if (s != MM_OK)
        return s;
    mm_graph_set_weights(e->graph.graph, e->weights);
    e->graph_batch = batch;
    return MM_OK;
}

mm_status mm_encoder_init(mm_runtime *rt, const mm_model *m, mm_encoder **out)
{
    *out = NULL;
    mm_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return mm_error_set(MM_ERR_NOMEM, "encoder: out of memory");
    e->rt = rt;
    mm_status s = mm_route_component(m, MM_ROLE_ENCODER, &e->part, &e->component);
    if (s == MM_OK)
        s = mm_runtime_find_plugin(rt, e->part.model_type, MM_ROLE_ENCODER, &e->plugin);
    if (s == MM_OK)
        s = mm_weights_init(mm_runtime_backend(rt), m, &e->weights);
    if (s == MM_OK) {
        s = e->plugin->encoder->load(&e->component, &e->state);
        /* The dry build: every weight name and shape the encoder reads is
         * checked now, not at the first run. Its graph (batch 1) is kept. */
        if (s == MM_OK)
            s = encoder_rebuild(e, 1);
        /* Uploading the weights is part of loading: a model too big for
         * the device fails here, not at the first input. */
        if (s == MM_OK)
            s = mm_weights_load(e->weights, e->graph.graph);
        if (s != MM_OK)
            mm_error_wrap(s, "%s: %s encoder (plugin %s)", mm_model_dir(m), e->part.model_type, e->plugin->name);
    }
    if (s != MM_OK) {
        mm_encoder_free(e);
        return s;
    }
    *out = e;
    return MM_OK;
}

void mm_encoder_free(mm_encoder *e)
{
    if (!e)
        return;
    mm_graph_free(e->graph.graph);
    mm_weights_free(e->weights);
    if (e->state)
        e->plugin->encoder->free(e->state);
    free(e);
}

const mm_plugin *mm_encoder_plugin(const mm_encoder *e)
{
    return e->plugin;
}

mm_status mm_encoder_input_shape(const mm_encoder *e, int32_t batch, mm_shape *out)
{
    if (batch < 1)
        return mm_error_set(MM_ERR_INVALID, "encoder: batch of %d", batch);
    return e->plugin->encoder->input_shape(e->state, batch, out);
}

mm_status mm_encoder_run(mm_encoder *e, const float *input, int32_t batch, float **out, mm_shape *shape)
{
    *out = NULL;
    if (batch < 1)
        return mm_error_set(MM_ERR_INVALID, "encoder: batch of %d", batch);
    if (!e->graph.graph || e->graph_batch != batch) {
        mm_status s = encoder_rebuild(e, batch);
        if (s != MM_OK)
            return mm_error_wrap(s, "%s encoder graph", e->part.model_type);
    }
    mm_tensor *output = e->graph.output;
    mm_tensor_set_data(e->graph.input, input);
    mm_status s = mm_backend_compute(mm_runtime_backend(e->rt), e->graph.graph);
    if (s != MM_OK)
        return s;
    size_t bytes = (size_t)mm_tensor_nelements(output) * sizeof(float);
    float *result = malloc(bytes);
    if (!result)
        return mm_error_set(MM_ERR_NOMEM, "encoder: cannot allocate %zu bytes of output", bytes);
    s = mm_tensor_read(output, result, bytes);
    if (s != MM_OK) {
        free(result);
        return s;
    }
    shape->n_dims = mm_tensor_n_dims(output);
    for (int i = 0; i < MM_MAX_DIMS; i++)
        shape->ne[i] = mm_tensor_ne(output, i);
    *out = result;
    return MM_OK;
}
