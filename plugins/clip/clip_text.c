/* CLIP's text tower (HF CLIPTextTransformer + text_projection): token ids
 * {T, B} -> token + position embeddings -> encoder layers under the causal
 * mask and the padding mask -> final_layer_norm -> the state at each text's
 * end-of-text token -> text_projection (no bias) {E, B}. */
#include "clip.h"

#include <stdio.h>

/* HF 4.40 CLIPTextTransformer: eos_token_id == 2 (openai's checkpoints) pools
 * at argmax(ids), which is <|endoftext|>, the largest id; any other config
 * pools at the first eos_token_id (position 0 when the text has none, as
 * argmax over all-false does). Only the real tokens are searched, so the
 * padding can never be pooled at whatever id it uses. */
mm_status clip_text_pool(const void *state, const int32_t *ids, int32_t n_tokens, int32_t batch, const int32_t *len,
                         int32_t *pos)
{
    const clip_model *m = state;
    for (int32_t b = 0; b < batch; b++) {
        const int32_t *row = ids + (size_t)b * (size_t)n_tokens;
        int32_t n = len[b];
        if (n < 1 || n > n_tokens)
            return mm_error_set(MM_ERR_INVALID, "text %d: %d tokens of %d", b, n, n_tokens);
        int32_t at = 0;
        if (m->eos == 2) {
            for (int32_t i = 1; i < n; i++)
                if (row[i] > row[at])
                    at = i;
        } else {
            while (at < n && row[at] != m->eos)
                at++;
            if (at == n)
                at = 0;
        }
        pos[b] = at;
    }
    return MM_OK;
}

static mm_status text_check_inputs(const clip_model *m, const mm_embedder_text_inputs *in)
{
    int64_t nt = in->n_tokens;
    if (!in->ids || !in->mask || !in->pool)
        return mm_error_set(MM_ERR_INVALID, "text tower: ids, mask and pool inputs are all needed");
    int64_t batch = mm_tensor_ne(in->ids, 1);
    if (nt < 1 || nt > m->n_ctx)
        return mm_error_set(MM_ERR_INVALID, "text of %lld tokens: the model takes 1..%lld", (long long)nt,
                            (long long)m->n_ctx);
    if (mm_tensor_type(in->ids) != MM_DTYPE_I32 || mm_tensor_ne(in->ids, 0) != nt || mm_tensor_ne(in->ids, 2) != 1 ||
        mm_tensor_type(in->mask) != MM_DTYPE_F32 || mm_tensor_ne(in->mask, 0) != nt || mm_tensor_ne(in->mask, 1) != 1 ||
        mm_tensor_ne(in->mask, 2) != 1 || mm_tensor_ne(in->mask, 3) != batch ||
        mm_tensor_type(in->pool) != MM_DTYPE_I32 || mm_tensor_ne(in->pool, 0) != batch ||
        mm_tensor_nelements(in->pool) != batch)
        return mm_error_set(MM_ERR_INVALID, "text tower: inputs are not ids I32 {%lld,B}, mask F32 {%lld,1,1,B}, pool I32 {B}",
                            (long long)nt, (long long)nt);
    return MM_OK;
}

mm_status clip_build_text(const void *state, mm_graph *g, const mm_embedder_text_inputs *in, mm_tensor **embeds,
                          mm_tensor **hidden)
{
    const clip_model *m = state;
    const clip_tower *t = &m->text;
    *embeds = NULL;
    if (hidden)
        *hidden = NULL;
    if (!g || !in)
        return mm_error_set(MM_ERR_INVALID, "NULL graph or inputs");
    mm_status s = text_check_inputs(m, in);
    if (s != MM_OK)
        return s;
    int64_t nt = in->n_tokens, batch = mm_tensor_ne(in->ids, 1);
    mm_tensor *tok = mm_nn_weight(g, &t->c, "embeddings.token_embedding.weight");
    mm_tensor *pos = mm_nn_weight(g, &t->c, "embeddings.position_embedding.weight");
    if ((s = mm_graph_status(g)) != MM_OK || (s = mm_nn_expect_shape(tok, t->n_embd, m->n_vocab, 1, 1)) != MM_OK ||
        (s = mm_nn_expect_shape(pos, t->n_embd, m->n_ctx, 1, 1)) != MM_OK)
        return s;
    /* Positions 0..T-1: the first T rows of the table, broadcast over texts. */
    if (nt < m->n_ctx)
        pos = mm_view(g, pos, 2, (int64_t[]){t->n_embd, nt}, (size_t[]){0, mm_tensor_nb(pos, 1)}, 0);
    mm_tensor *x = mm_add(g, mm_get_rows(g, tok, in->ids), pos);
    if ((s = mm_graph_status(g)) != MM_OK || (s = clip_build_layers(t, g, &x, true, in->mask)) != MM_OK)
        return s;
    x = mm_layer_norm(g, x, mm_nn_weight(g, &t->c, "final_layer_norm.weight"),
                      mm_nn_weight(g, &t->c, "final_layer_norm.bias"), t->eps);
    mm_tensor_set_name(x, "clip.text.last_hidden_state");
    /* Text b's pooled token is row b*T + pos[b] of the states as {D, T*B}. */
    mm_tensor *flat = mm_reshape(g, x, 2, (int64_t[]){t->n_embd, nt * batch});
    mm_tensor *pooled = mm_get_rows(g, flat, in->pool);
    mm_tensor *proj = mm_nn_weight(g, &m->c, "text_projection.weight");
    if ((s = mm_graph_status(g)) != MM_OK || (s = mm_nn_expect_shape(proj, t->n_embd, m->n_proj, 1, 1)) != MM_OK)
        return s;
    mm_tensor *e = mm_nn_linear(g, pooled, proj, NULL);
    if ((s = mm_graph_status(g)) != MM_OK)
        return s;
    mm_tensor_set_name(e, "clip.text_embeds");
    *embeds = e;
    if (hidden)
        *hidden = x;
    return MM_OK;
}
