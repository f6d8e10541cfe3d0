/* The one place plugin graphs are built (plugin_graph.h). Plugins used to
 * build their graph once in load() to check a checkpoint, each on its own;
 * the runtime does it here for every role, and keeps the graph. */
#include "plugin_graph.h"

mm_status mm_plugin_graph_build(mm_plugin_graph_fn build, void *ctx, mm_graph **out)
{
    *out = NULL;
    mm_graph *g = mm_graph_init();
    if (!g)
        return MM_ERR_NOMEM; /* message set by mm_graph_init */
    mm_status s = build(ctx, g);
    /* A builder may return OK with an error recorded in the graph (an op it
     * did not check); the graph's first error is the one to report. */
    if (s == MM_OK)
        s = mm_graph_status(g);
    if (s != MM_OK) {
        mm_graph_free(g);
        return s;
    }
    *out = g;
    return MM_OK;
}

typedef struct encoder_ctx {
    const mm_encoder_ops *ops;
    const void *state;
    int32_t batch;
    mm_tensor *input, *output;
} encoder_ctx;

static mm_status encoder_append(void *ctx, mm_graph *g)
{
    encoder_ctx *e = ctx;
    mm_shape shape;
    mm_status s = e->ops->input_shape(e->state, e->batch, &shape);
    if (s != MM_OK)
        return s;
    if (shape.n_dims < 1 || shape.n_dims > MM_MAX_DIMS)
        return mm_error_set(MM_ERR_PLUGIN, "input_shape gave %d dimensions", shape.n_dims);
    e->input = mm_graph_input(g, MM_DTYPE_F32, shape.n_dims, shape.ne, NULL);
    mm_tensor_set_name(e->input, "encoder input");
    if ((s = mm_graph_status(g)) != MM_OK || (s = e->ops->build(e->state, g, e->input, &e->output)) != MM_OK)
        return s;
    if (!e->output)
        return mm_error_set(MM_ERR_PLUGIN, "encoder build gave no output");
    mm_graph_output(g, e->output);
    return MM_OK;
}

mm_status mm_encoder_graph_build(const mm_encoder_ops *ops, const void *state, int32_t batch, mm_encoder_graph *out)
{
    encoder_ctx ctx = {.ops = ops, .state = state, .batch = batch};
    *out = (mm_encoder_graph){0};
    mm_status s = mm_plugin_graph_build(encoder_append, &ctx, &out->graph);
    if (s == MM_OK) {
        out->input = ctx.input;
        out->output = ctx.output;
    }
    return s;
}
