/* CLIP's vision tower (HF CLIPVisionTransformer + visual_projection):
 * pixel values {S, S, C, B} -> patch embedding (no bias) with the class
 * embedding in front, + positions -> pre_layrnorm -> encoder layers ->
 * post_layernorm of the class token -> visual_projection (no bias) {E, B}. */
#include "clip.h"

#include <stdio.h>

/* cat(class_embedding, conv(pixels).flatten(2).T) + position_embedding. */
static mm_status vision_embeddings(const clip_model *m, mm_graph *g, mm_tensor *pixels, mm_tensor **out)
{
    const clip_tower *t = &m->vision;
    int64_t side = m->image / m->patch;
    mm_tensor *patch_w = mm_nn_weight(g, &t->c, "embeddings.patch_embedding.weight");
    mm_tensor *cls = mm_nn_weight(g, &t->c, "embeddings.class_embedding");
    mm_tensor *pos = mm_nn_weight(g, &t->c, "embeddings.position_embedding.weight");
    mm_status s = mm_graph_status(g);
    if (s != MM_OK || (s = mm_nn_expect_shape(patch_w, m->patch, m->patch, m->n_chan, t->n_embd)) != MM_OK ||
        (s = mm_nn_expect_shape(cls, t->n_embd, 1, 1, 1)) != MM_OK ||
        (s = mm_nn_expect_shape(pos, t->n_embd, 1 + side * side, 1, 1)) != MM_OK)
        return s;
    mm_tensor *x = mm_patch_embed(g, pixels, patch_w, NULL); /* {D, N, B} */
    *out = mm_add(g, mm_nn_prepend_row(g, x, cls), pos);
    return mm_graph_status(g);
}

mm_status clip_build_image(const void *state, mm_graph *g, mm_tensor *pixels, mm_tensor **embeds, mm_tensor **hidden)
{
    const clip_model *m = state;
    const clip_tower *t = &m->vision;
    *embeds = NULL;
    if (hidden)
        *hidden = NULL;
    if (!g || !pixels)
        return mm_error_set(MM_ERR_INVALID, "NULL graph or pixels");
    /* Positions are learned for exactly image_size (no interpolation). */
    if (mm_tensor_ne(pixels, 0) != m->image || mm_tensor_ne(pixels, 1) != m->image ||
        mm_tensor_ne(pixels, 2) != m->n_chan || mm_tensor_ne(pixels, 3) < 1)
        return mm_error_set(MM_ERR_INVALID, "pixels are {%lld,%lld,%lld,%lld}, {%lld,%lld,%lld,B} expected",
                            (long long)mm_tensor_ne(pixels, 0), (long long)mm_tensor_ne(pixels, 1),
                            (long long)mm_tensor_ne(pixels, 2), (long long)mm_tensor_ne(pixels, 3),
                            (long long)m->image, (long long)m->image, (long long)m->n_chan);
    mm_tensor *x = NULL;
    mm_status s = vision_embeddings(m, g, pixels, &x);
    if (s != MM_OK)
        return s;
    x = mm_layer_norm(g, x, mm_nn_weight(g, &t->c, "pre_layrnorm.weight"), mm_nn_weight(g, &t->c, "pre_layrnorm.bias"),
                      t->eps);
    if ((s = mm_graph_status(g)) != MM_OK || (s = clip_build_layers(t, g, &x, false, NULL)) != MM_OK)
        return s;
    mm_tensor_set_name(x, "clip.vision.last_hidden_state");
    /* The class token of every image: row 0 of each {D, 1 + N} slice. */
    int64_t batch = mm_tensor_ne(x, 2);
    mm_tensor *pooled = mm_view(g, x, 2, (int64_t[]){t->n_embd, batch}, (size_t[]){0, mm_tensor_nb(x, 2)}, 0);
    pooled = mm_layer_norm(g, pooled, mm_nn_weight(g, &t->c, "post_layernorm.weight"),
                           mm_nn_weight(g, &t->c, "post_layernorm.bias"), t->eps);
    mm_tensor *proj = mm_nn_weight(g, &m->c, "visual_projection.weight");
    if ((s = mm_graph_status(g)) != MM_OK || (s = mm_nn_expect_shape(proj, t->n_embd, m->n_proj, 1, 1)) != MM_OK)
        return s;
    mm_tensor *e = mm_nn_linear(g, pooled, proj, NULL);
    if ((s = mm_graph_status(g)) != MM_OK)
        return s;
    mm_tensor_set_name(e, "clip.image_embeds");
    *embeds = e;
    if (hidden)
        *hidden = x;
    return MM_OK;
}
