/* One recorder per graph op: binds the op's tensors, fills the shader's push
 * constants (structs mirror the `PC` blocks of the shaders; strides and
 * offsets in 4-byte elements) and dispatches. Convolutions are im2col into
 * the op's arena scratch followed by a matmul with a bias epilogue. */
#include "vk_impl.h"

#include <string.h>

typedef struct { uint32_t ne[4], snb[4], dnb[4], s_off, d_off, n; } pc_copy;
typedef struct { uint32_t ne[4], snb[4], s_off, d_off, n, op, contiguous; float scale; } pc_unary;
typedef struct { uint32_t ne[4], anb[4], bnb[4], a_off, b_off, d_off, n, op; } pc_binary;
typedef struct { uint32_t ne0, nrows, x_off, w_off, b_off, d_off, has_w, has_b; float eps; } pc_layer_norm;
typedef struct { uint32_t ne[4], mnb[4], x_off, m_off, d_off, has_mask, causal; float scale; } pc_softmax;
typedef struct {
    uint32_t D, Dv, Tq, Tk, H, hr, q_off, k_off, v_off, m_off, d_off, q_s[3], k_s[3], v_s[3], m_s[3], has_mask, causal;
    float scale;
} pc_attention;
typedef struct {
    uint32_t M, N, K, a_off, b_off, d_off, bias_off, a_sk, a_sm, a_s2, a_s3, b_sk, b_sn, b_s2, b_s3, d_sn, d_s2, d_s3,
        a_r2, a_r3, b_r2, b_r3, ne2, bias_mode;
} pc_matmul;
typedef struct { uint32_t D, V, r0, r1, t_off, i_off, d_off, n; } pc_get_rows;
typedef struct { uint32_t ne[4], snb[4], dnb[4], ia, ib, R, s_off, i_off, d_off, rows; } pc_set_rows;
typedef struct { uint32_t ne0, nrows, k, s_off, d_off, t0, t1; } pc_rows; /* argmax, top_k */
typedef struct { uint32_t mode, ne0, ne1, ne2, K, stride, pad, rows, cols, x_off, d_off, n; } pc_im2col;

_Static_assert(sizeof(pc_attention) <= VK_PUSH_BYTES && sizeof(pc_matmul) <= VK_PUSH_BYTES, "push constants");

enum { UNARY_SCALE = 0, UNARY_GELU_ERF = 1 }; /* + mm_gelu_kind */
enum { BINARY_ADD = 0, BINARY_MUL = 1 };
enum { BIAS_NONE = 0, BIAS_M = 1, BIAS_N = 2 };

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        mm_status s_ = (x);                                                                                            \
        if (s_ != MM_OK)                                                                                               \
            return s_;                                                                                                 \
    } while (0)

static uint32_t el(size_t nb) { return (uint32_t)(nb / 4); }

/* One invocation per element (per 4 with vec4), n elements, over a 2-D grid. */
static mm_status launch_elems(vk_rec *r, const vk_args *a, vk_shader sh, const void *pc, uint32_t size, uint64_t n,
                              uint32_t vec4)
{
    uint32_t spec[2] = {vk_max_wg(r->vk), vec4}, gx, gy;
    uint64_t n_inv = vec4 ? n / 4 : n;
    TRY(vk_groups(r->vk, (n_inv + spec[0] - 1) / spec[0], &gx, &gy));
    return vk_dispatch(r, a, sh, spec, 2, pc, size, gx, gy, 1);
}

static mm_status launch_1d(vk_rec *r, const vk_args *a, vk_shader sh, const void *pc, uint32_t size, uint64_t n)
{
    return launch_elems(r, a, sh, pc, size, n, 0);
}

/* Whether 4 consecutive elements of a row sit together and 16-byte aligned
 * (elem_off: the tensor's first element within its binding). */
static bool rows_vec4(const mm_tensor *t, uint32_t elem_off)
{
    if (t->ne[0] % 4 || elem_off % 4 || t->nb[0] != 4)
        return false;
    for (int i = 1; i < 4; i++)
        if (t->ne[i] > 1 && t->nb[i] % 16)
            return false;
    return true;
}

/* One workgroup per row. */
static mm_status launch_rows(vk_rec *r, const vk_args *a, vk_shader sh, uint32_t wg, const void *pc, uint32_t size,
                             uint64_t rows)
{
    uint32_t spec[1] = {wg}, gx, gy;
    TRY(vk_groups(r->vk, rows, &gx, &gy));
    return vk_dispatch(r, a, sh, spec, 1, pc, size, gx, gy, 1);
}

/* The variant for this device: texel reads on CPU devices, else subgroup
 * reductions where available, else plain. */
static vk_shader variant(const mm_vk *vk, vk_shader plain, vk_shader sg, vk_shader tex)
{
    return vk->cpu_device ? tex : vk->subgroup_arith ? sg : plain;
}

static uint64_t n_rows(const mm_tensor *t) { return (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]); }

/* Binds graph tensor t (NULL: an absent optional input, left unbound). */
static mm_status arg_tensor(vk_rec *r, vk_args *a, int binding, const mm_tensor *t, bool write, uint32_t *elem_off)
{
    if (!t)
        return MM_OK;
    vk_view v = vk_view_of(r, t);
    return vk_arg(r, a, binding, &v, write, elem_off);
}

/* ---- layout ---------------------------------------------------------------------- */

static mm_status record_copy(vk_rec *r, const vk_view *src, const vk_view *dst)
{
    pc_copy pc = {.n = 1};
    for (int i = 0; i < 4; i++) {
        pc.ne[i] = (uint32_t)src->ne[i];
        pc.snb[i] = el(src->nb[i]);
        pc.dnb[i] = el(dst->nb[i]);
        pc.n *= pc.ne[i];
    }
    vk_args a = vk_args_for(VK_SH_COPY);
    TRY(vk_arg(r, &a, 0, src, false, &pc.s_off));
    TRY(vk_arg(r, &a, VK_BIND_DST, dst, true, &pc.d_off));
    return launch_1d(r, &a, VK_SH_COPY, &pc, sizeof pc, pc.n);
}

static mm_status op_cont(vk_rec *r, const mm_tensor *t)
{
    vk_view src = vk_view_of(r, t->src[0]), dst = vk_view_of(r, t);
    return record_copy(r, &src, &dst);
}

/* Each input is copied into its window of the result. */
static mm_status op_concat(vk_rec *r, const mm_tensor *t)
{
    int dim = t->op_i[0];
    vk_view dst = vk_view_of(r, t);
    for (int s = 0; s < 2; s++) {
        const mm_tensor *in = t->src[s];
        vk_view src = vk_view_of(r, in), win = dst;
        memcpy(win.ne, in->ne, sizeof win.ne);
        if (s == 1)
            win.off += (VkDeviceSize)t->src[0]->ne[dim] * dst.nb[dim];
        TRY(record_copy(r, &src, &win));
    }
    return MM_OK;
}

/* ---- elementwise --------------------------------------------------------------------- */

static mm_status op_unary(vk_rec *r, const mm_tensor *t, uint32_t op, float scale)
{
    const mm_tensor *x = t->src[0];
    pc_unary pc = {.n = (uint32_t)mm_tensor_nelements(t), .op = op, .scale = scale,
                   .contiguous = mm_tensor_is_contiguous(x)};
    for (int i = 0; i < 4; i++) {
        pc.ne[i] = (uint32_t)x->ne[i];
        pc.snb[i] = el(x->nb[i]);
    }
    vk_shader sh = r->vk->cpu_device ? VK_SH_UNARY_TEX : VK_SH_UNARY;
    vk_args a = vk_args_for(sh);
    TRY(arg_tensor(r, &a, 0, x, false, &pc.s_off));
    TRY(arg_tensor(r, &a, VK_BIND_DST, t, true, &pc.d_off));
    return launch_elems(r, &a, sh, &pc, sizeof pc, pc.n, rows_vec4(x, pc.s_off) && pc.d_off % 4 == 0);
}

static mm_status op_binary(vk_rec *r, const mm_tensor *t, uint32_t op)
{
    const mm_tensor *x = t->src[0], *y = t->src[1];
    pc_binary pc = {.n = (uint32_t)mm_tensor_nelements(t), .op = op};
    for (int i = 0; i < 4; i++) {
        pc.ne[i] = (uint32_t)x->ne[i];
        pc.anb[i] = el(x->nb[i]);
        pc.bnb[i] = y->ne[i] == 1 ? 0 : el(y->nb[i]);
    }
    vk_shader sh = r->vk->cpu_device ? VK_SH_BINARY_TEX : VK_SH_BINARY;
    vk_args a = vk_args_for(sh);
    TRY(arg_tensor(r, &a, 0, x, false, &pc.a_off));
    TRY(arg_tensor(r, &a, 1, y, false, &pc.b_off));
    TRY(arg_tensor(r, &a, VK_BIND_DST, t, true, &pc.d_off));
    /* b: vec4 rows, or one element broadcast along ne0 */
    bool b4 = y->ne[0] == 1 || rows_vec4(y, pc.b_off);
    return launch_elems(r, &a, sh, &pc, sizeof pc, pc.n, rows_vec4(x, pc.a_off) && b4 && pc.d_off % 4 == 0);
}

/* ---- row reductions ---------------------------------------------------------------- */

static mm_status op_layer_norm(vk_rec *r, const mm_tensor *t)
{
    const mm_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    pc_layer_norm pc = {.ne0 = (uint32_t)x->ne[0], .nrows = (uint32_t)n_rows(x), .has_w = w != NULL,
                        .has_b = b != NULL, .eps = t->op_f[0]};
    vk_shader sh = variant(r->vk, VK_SH_LAYER_NORM, VK_SH_LAYER_NORM_SG, VK_SH_LAYER_NORM_TEX);
    vk_args a = vk_args_for(sh);
    TRY(arg_tensor(r, &a, 0, x, false, &pc.x_off));
    TRY(arg_tensor(r, &a, 1, w, false, &pc.w_off));
    TRY(arg_tensor(r, &a, 2, b, false, &pc.b_off));
    TRY(arg_tensor(r, &a, VK_BIND_DST, t, true, &pc.d_off));
    return launch_rows(r, &a, sh, vk_reduce_wg(r->vk, x->ne[0]), &pc, sizeof pc, pc.nrows);
}

static mm_status op_softmax(vk_rec *r, const mm_tensor *t)
{
    const mm_tensor *x = t->src[0], *mask = t->src[1];
    pc_softmax pc = {.has_mask = mask != NULL, .causal = t->op_i[0] != 0, .scale = t->op_f[0]};
    for (int i = 0; i < 4; i++) {
        pc.ne[i] = (uint32_t)x->ne[i];
        pc.mnb[i] = mask && mask->ne[i] > 1 ? el(mask->nb[i]) : 0;
    }
    vk_shader sh = variant(r->vk, VK_SH_SOFTMAX, VK_SH_SOFTMAX_SG, VK_SH_SOFTMAX_TEX);
    vk_args a = vk_args_for(sh);
    TRY(arg_tensor(r, &a, 0, x, false, &pc.x_off));
    TRY(arg_tensor(r, &a, 1, mask, false, &pc.m_off));
    TRY(arg_tensor(r, &a, VK_BIND_DST, t, true, &pc.d_off));
    return launch_rows(r, &a, sh, vk_reduce_wg(r->vk, x->ne[0]), &pc, sizeof pc, n_rows(x));
}

static mm_status op_rows_index(vk_rec *r, const mm_tensor *t, vk_shader sh)
{
    const mm_tensor *x = t->src[0];
    pc_rows pc = {.ne0 = (uint32_t)x->ne[0], .nrows = (uint32_t)n_rows(x), .k = (uint32_t)t->op_i[0]};
    vk_args a = vk_args_for(sh);
    TRY(arg_tensor(r, &a, 0, x, false, &pc.s_off));
    TRY(arg_tensor(r, &a, VK_BIND_DST, t, true, &pc.d_off));
    /* a power of two for the pair tree (no subgroup variant) */
    uint32_t wg = 32, k = sh == VK_SH_TOP_K ? pc.k : 1, cap = vk_max_wg_pow2(r->vk);
    while (wg * 2 <= cap && (int64_t)wg < x->ne[0])
        wg *= 2;
    /* picks per dispatch within the loop budget (one pass: a scan and the tree) */
    uint32_t pass = (pc.ne0 + wg - 1) / wg + 2 * 32, chunk = VK_LOOP_BUDGET / pass;
    if (chunk < 1)
        return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: rows of %u values are too long for this device", pc.ne0);
    for (pc.t0 = 0; pc.t0 < k; pc.t0 += chunk) {
        pc.t1 = k - pc.t0 < chunk ? k : pc.t0 + chunk;
        TRY(launch_rows(r, &a, sh, wg, &pc, sizeof pc, pc.nrows));
    }
    return MM_OK;
}

/* ---- attention ------------------------------------------------------------------------ */

static mm_status op_attention(vk_rec *r, const mm_tensor *t)
{
    mm_vk *vk = r->vk;
    const mm_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2], *mask = t->src[3];
    pc_attention pc = {
        .D = (uint32_t)q->ne[0],
        .Dv = (uint32_t)v->ne[0],
        .Tq = (uint32_t)q->ne[1],
        .Tk = (uint32_t)k->ne[1],
        .H = (uint32_t)q->ne[2],
        .hr = (uint32_t)(q->ne[2] / k->ne[2]),
        .has_mask = mask != NULL,
        .causal = t->op_i[0] != 0,
        .scale = t->op_f[0],
    };
    for (int i = 0; i < 3; i++) {
        pc.q_s[i] = el(q->nb[i + 1]);
        pc.k_s[i] = el(k->nb[i + 1]);
        pc.v_s[i] = el(v->nb[i + 1]);
        pc.m_s[i] = mask && mask->ne[i + 1] > 1 ? el(mask->nb[i + 1]) : 0;
    }
    uint32_t dmax = pc.D > pc.Dv ? pc.D : pc.Dv, spec[5], gx = pc.Tq;
    vk_shader sh = variant(vk, VK_SH_ATTENTION, VK_SH_ATTENTION_SG, VK_SH_ATTENTION_TEX);
    if (vk->cpu_device) { /* a query per lane, head rows in registers */
        spec[0] = vk_lanes(vk);
        spec[1] = (dmax + 3) / 4;
        /* queries per lane: k/v fetches serve them all, while extra lanes
         * redo the last query, so only as many as the queries fill; with
         * fewer queries than lanes (decoding) the lanes split the keys */
        spec[3] = pc.Tq >= 4 * spec[0] && spec[1] <= 32 ? 4 : pc.Tq >= 2 * spec[0] ? 2 : 1;
        spec[4] = pc.Tq < spec[0] ? spec[0] : 1;
        /* the lanes of a query merge through shared memory (attention_tex.comp) */
        if (spec[4] > 1 && (spec[0] + 1) * (8 + 16 * (VkDeviceSize)spec[1]) > vk->max_shared)
            spec[4] = 1;
        if (pc.Tk / (4 * spec[4]) > VK_LOOP_BUDGET)
            return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: attention over %u keys is too long for this device", pc.Tk);
        gx = (pc.Tq * spec[4] + spec[0] * spec[3] - 1) / (spec[0] * spec[3]);
    } else { /* a workgroup per query, head rows in shared memory */
        spec[0] = vk_max_wg_pow2(vk) < 64 ? vk_max_wg_pow2(vk) : 64;
        spec[1] = (dmax + spec[0] - 1) / spec[0] * spec[0];
        if ((spec[1] + 2 * spec[0]) * 4 > vk->max_shared)
            return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: attention head size %u exceeds shared memory", dmax);
    }
    vk_args a = vk_args_for(sh);
    TRY(arg_tensor(r, &a, 0, q, false, &pc.q_off));
    TRY(arg_tensor(r, &a, 1, k, false, &pc.k_off));
    TRY(arg_tensor(r, &a, 2, v, false, &pc.v_off));
    TRY(arg_tensor(r, &a, 3, mask, false, &pc.m_off));
    TRY(arg_tensor(r, &a, VK_BIND_DST, t, true, &pc.d_off));
    /* attention_tex: vec4 reads when every row starts 16-byte aligned */
    spec[2] = pc.D % 4 == 0 && pc.Dv % 4 == 0 && pc.q_off % 4 == 0 && pc.k_off % 4 == 0 && pc.v_off % 4 == 0;
    for (int i = 0; i < 3; i++)
        spec[2] &= pc.q_s[i] % 4 == 0 && pc.k_s[i] % 4 == 0 && pc.v_s[i] % 4 == 0;
    return vk_dispatch(r, &a, sh, spec, vk->cpu_device ? 5 : 2, &pc, sizeof pc, gx, pc.H, (uint32_t)q->ne[3]);
}

/* ---- matmul ------------------------------------------------------------------------------ */

typedef struct vk_matmul {
    vk_view a, b, d; /* a {K,M,..}, b {K,N,..}, d {M,N,ne2,ne3} contiguous */
    vk_view bias;    /* when bias_mode != BIAS_NONE */
    uint32_t bias_mode;
    uint32_t a_r2, a_r3, b_r2, b_r3; /* batch i of a is i / a_r; of b, i / b_r */
} vk_matmul;

typedef struct tile {
    uint32_t bm, bn, bk, tm, tn;
} tile;

static bool tile_fits(const mm_vk *vk, tile t)
{
    uint32_t wg = (t.bm / t.tm) * (t.bn / t.tn);
    return wg <= vk->max_invocations && wg <= vk->max_wg_size && t.bk * (t.bm + t.bn) * 4 <= vk->max_shared;
}

/* The biggest register-blocked tile the device holds, and that the problem
 * fills with enough workgroups to occupy a GPU. */
static tile pick_tile(const mm_vk *vk, int64_t M, int64_t N)
{
    static const tile tiles[] = {
        {128, 128, 8, 8, 8}, {64, 64, 16, 4, 4}, {32, 32, 16, 4, 4}, {16, 16, 8, 2, 2}, {8, 8, 8, 2, 2},
    };
    const int n = (int)(sizeof tiles / sizeof tiles[0]);
    for (int i = 0; i < n - 1; i++) {
        int64_t groups = ((M + tiles[i].bm - 1) / tiles[i].bm) * ((N + tiles[i].bn - 1) / tiles[i].bn);
        if (tile_fits(vk, tiles[i]) && (groups >= 64 || i == n - 2 || !tile_fits(vk, tiles[i + 1])))
            return tiles[i];
    }
    return tiles[n - 1];
}

/* vec4 loads need unit k strides, K % 4 == 0 and 16-byte aligned rows. */
static uint32_t can_vec4(const pc_matmul *p)
{
    return p->a_sk == 1 && p->b_sk == 1 && p->K % 4 == 0 && p->a_off % 4 == 0 && p->b_off % 4 == 0 &&
           p->a_sm % 4 == 0 && p->b_sn % 4 == 0 && p->a_s2 % 4 == 0 && p->a_s3 % 4 == 0 && p->b_s2 % 4 == 0 &&
           p->b_s3 % 4 == 0;
}

static mm_status matmul_dispatch(vk_rec *r, const vk_matmul *m)
{
    mm_vk *vk = r->vk;
    const uint32_t ae = (uint32_t)vk_view_esize(&m->a); /* a may be a 16-bit weight */
    pc_matmul pc = {
        .M = (uint32_t)m->a.ne[1], .N = (uint32_t)m->b.ne[1], .K = (uint32_t)m->a.ne[0],
        .a_sk = (uint32_t)(m->a.nb[0] / ae), .a_sm = (uint32_t)(m->a.nb[1] / ae), .a_s2 = (uint32_t)(m->a.nb[2] / ae),
        .a_s3 = (uint32_t)(m->a.nb[3] / ae),
        .b_sk = el(m->b.nb[0]), .b_sn = el(m->b.nb[1]), .b_s2 = el(m->b.nb[2]), .b_s3 = el(m->b.nb[3]),
        .d_sn = el(m->d.nb[1]), .d_s2 = el(m->d.nb[2]), .d_s3 = el(m->d.nb[3]),
        .a_r2 = m->a_r2, .a_r3 = m->a_r3, .b_r2 = m->b_r2, .b_r3 = m->b_r3,
        .ne2 = (uint32_t)m->d.ne[2], .bias_mode = m->bias_mode,
    };
    vk_shader sh = vk->cpu_device ? VK_SH_MATMUL_TEX
                   : pc.N <= 4    ? (vk->subgroup_arith ? VK_SH_MATVEC_SG : VK_SH_MATVEC)
                                  : VK_SH_MATMUL;
    vk_args a = vk_args_for(sh);
    TRY(vk_arg(r, &a, 0, &m->a, false, &pc.a_off));
    TRY(vk_arg(r, &a, 1, &m->b, false, &pc.b_off));
    if (m->bias_mode != BIAS_NONE)
        TRY(vk_arg(r, &a, 2, &m->bias, false, &pc.bias_off));
    TRY(vk_arg(r, &a, VK_BIND_DST, &m->d, true, &pc.d_off));
    uint32_t vec4 = can_vec4(&pc), gz = (uint32_t)(m->d.ne[2] * m->d.ne[3]);

    if (sh == VK_SH_MATMUL_TEX) { /* CPU: 4 x 8 register blocks, no shared memory */
        if (pc.K > VK_LOOP_BUDGET)
            return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: matmul with K = %u is too long for this device", pc.K);
        uint32_t lanes = vk_lanes(vk), tn = pc.N >= 8 ? 8 : pc.N, spec[4] = {lanes, 4, tn, vec4};
        return vk_dispatch(r, &a, sh, spec, 4, &pc, sizeof pc, (pc.M + 4 * lanes - 1) / (4 * lanes),
                           (pc.N + tn - 1) / tn, gz);
    }
    if (sh != VK_SH_MATMUL) { /* decoding: a matrix-vector product per column */
        uint32_t wg2 = vk_max_wg_pow2(vk), spec[4] = {wg2 < 128 ? wg2 : 128, 4, vec4, m->a.half}, gx, gy;
        TRY(vk_groups(vk, pc.M, &gx, &gy));
        return vk_dispatch(r, &a, sh, spec, 4, &pc, sizeof pc, gx, gy, gz);
    }
    tile t = pick_tile(vk, pc.M, pc.N);
    uint32_t spec[8] = {(t.bm / t.tm) * (t.bn / t.tn), t.bm, t.bn, t.bk, t.tm, t.tn, vec4, m->a.half};
    return vk_dispatch(r, &a, VK_SH_MATMUL, spec, 8, &pc, sizeof pc, (pc.M + t.bm - 1) / t.bm,
                       (pc.N + t.bn - 1) / t.bn, gz);
}

static bool binds(const mm_vk *vk, const vk_view *v)
{
    return vk_view_span(v) + vk->align <= vk->max_range;
}

/* Operands beyond one storage-buffer binding (an embedding matrix reused as
 * the LM head, say) are split into row chunks of a and b, one dispatch per
 * pair; each writes its own block of d. */
static mm_status record_matmul(vk_rec *r, const vk_matmul *m)
{
    const mm_vk *vk = r->vk;
    int64_t M = m->a.ne[1], N = m->b.ne[1], mc = M, nc = N;
    vk_matmul c = *m;
    for (c.a.ne[1] = mc; mc > 1 && !binds(vk, &c.a); c.a.ne[1] = mc)
        mc = (mc + 1) / 2;
    for (c.b.ne[1] = nc; nc > 1 && !binds(vk, &c.b); c.b.ne[1] = nc)
        nc = (nc + 1) / 2;
    for (c.d.ne[0] = mc, c.d.ne[1] = nc; (mc > 1 || nc > 1) && !binds(vk, &c.d); c.d.ne[0] = mc, c.d.ne[1] = nc) {
        if (nc > 1)
            nc = (nc + 1) / 2;
        else
            mc = (mc + 1) / 2;
    }
    for (int64_t m0 = 0; m0 < M; m0 += mc) {
        for (int64_t n0 = 0; n0 < N; n0 += nc) {
            c = *m;
            c.a.ne[1] = c.d.ne[0] = M - m0 < mc ? M - m0 : mc;
            c.b.ne[1] = c.d.ne[1] = N - n0 < nc ? N - n0 : nc;
            c.a.off += (VkDeviceSize)m0 * m->a.nb[1];
            c.b.off += (VkDeviceSize)n0 * m->b.nb[1];
            c.d.off += (VkDeviceSize)m0 * 4 + (VkDeviceSize)n0 * m->d.nb[1];
            if (m->bias_mode == BIAS_M) {
                c.bias.off += (VkDeviceSize)m0 * 4;
                c.bias.ne[0] = c.d.ne[0];
            } else if (m->bias_mode == BIAS_N) {
                c.bias.off += (VkDeviceSize)n0 * 4;
                c.bias.ne[0] = c.d.ne[1];
            }
            TRY(matmul_dispatch(r, &c));
        }
    }
    return MM_OK;
}

static mm_status op_matmul(vk_rec *r, const mm_tensor *t)
{
    const mm_tensor *a = t->src[0], *b = t->src[1];
    vk_matmul m = {
        .a = vk_view_of(r, a), .b = vk_view_of(r, b), .d = vk_view_of(r, t),
        .a_r2 = (uint32_t)(b->ne[2] / a->ne[2]), .a_r3 = (uint32_t)(b->ne[3] / a->ne[3]), .b_r2 = 1, .b_r3 = 1,
    };
    return record_matmul(r, &m);
}

/* ---- convolutions ------------------------------------------------------------------------ */

VkDeviceSize vk_op_scratch_bytes(const mm_tensor *t)
{
    if (t->op == MM_OP_CONV1D) /* im2col {K*Cin, Tout, B} */
        return (VkDeviceSize)(t->src[1]->ne[0] * t->src[1]->ne[1]) * (VkDeviceSize)(t->ne[0] * t->ne[2]) * 4;
    if (t->op == MM_OP_PATCH_EMBED) /* {P*P*C, patches, B} */
        return (VkDeviceSize)(t->src[1]->ne[0] * t->src[1]->ne[1] * t->src[1]->ne[2]) *
               (VkDeviceSize)(t->ne[1] * t->ne[2]) * 4;
    return 0;
}

static mm_status im2col(vk_rec *r, const mm_tensor *x, pc_im2col *pc, const vk_view *cols)
{
    vk_args a = vk_args_for(VK_SH_IM2COL);
    pc->ne0 = (uint32_t)x->ne[0];
    pc->ne1 = (uint32_t)x->ne[1];
    pc->ne2 = (uint32_t)x->ne[2];
    pc->n = (uint32_t)(cols->ne[0] * cols->ne[1] * cols->ne[2]);
    pc->rows = (uint32_t)cols->ne[0];
    pc->cols = (uint32_t)cols->ne[1];
    TRY(arg_tensor(r, &a, 0, x, false, &pc->x_off));
    TRY(vk_arg(r, &a, VK_BIND_DST, cols, true, &pc->d_off));
    return launch_1d(r, &a, VK_SH_IM2COL, pc, sizeof *pc, pc->n);
}

/* out {Tout, Cout, B} = cols {K*Cin, Tout, B} x w {K*Cin, Cout} + b[n] */
static mm_status op_conv1d(vk_rec *r, const mm_tensor *t)
{
    const mm_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    int64_t kc = w->ne[0] * w->ne[1], B = x->ne[2];
    vk_view cols = vk_view_contiguous(&r->vk->arena, r->scratch, 3, (int64_t[]){kc, t->ne[0], B});
    pc_im2col pc = {.mode = 0, .K = (uint32_t)w->ne[0], .stride = (uint32_t)t->op_i[0], .pad = (uint32_t)t->op_i[1]};
    TRY(im2col(r, x, &pc, &cols));
    vk_view vw = vk_view_of(r, w);
    vk_matmul m = {
        .a = cols, .b = vk_view_contiguous(vw.buf, vw.off, 2, (int64_t[]){kc, w->ne[2]}), .d = vk_view_of(r, t),
        .a_r2 = 1, .a_r3 = 1, .b_r2 = (uint32_t)B, .b_r3 = 1,
    };
    if (b) {
        m.bias = vk_view_of(r, b);
        m.bias_mode = BIAS_N;
    }
    return record_matmul(r, &m);
}

/* out {Cout, patches, B} = w {P*P*C, Cout} x cols {P*P*C, patches, B} + b[m] */
static mm_status op_patch_embed(vk_rec *r, const mm_tensor *t)
{
    const mm_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    int64_t ppc = w->ne[0] * w->ne[1] * w->ne[2], B = x->ne[3];
    vk_view cols = vk_view_contiguous(&r->vk->arena, r->scratch, 3, (int64_t[]){ppc, t->ne[1], B});
    pc_im2col pc = {.mode = 1, .K = (uint32_t)w->ne[0]};
    TRY(im2col(r, x, &pc, &cols));
    vk_view vw = vk_view_of(r, w);
    vk_matmul m = {
        .a = vk_view_contiguous(vw.buf, vw.off, 2, (int64_t[]){ppc, w->ne[3]}), .b = cols, .d = vk_view_of(r, t),
        .a_r2 = (uint32_t)B, .a_r3 = 1, .b_r2 = 1, .b_r3 = 1,
    };
    if (b) {
        m.bias = vk_view_of(r, b);
        m.bias_mode = BIAS_M;
    }
    return record_matmul(r, &m);
}

/* ---- lookups ----------------------------------------------------------------------------- */

/* A table beyond one binding is bound in row chunks, one dispatch each. */
static mm_status op_get_rows(vk_rec *r, const mm_tensor *t)
{
    const mm_tensor *table = t->src[0], *ids = t->src[1];
    int64_t D = table->ne[0], V = table->ne[1], chunk = V;
    vk_view vt = vk_view_of(r, table), vi = vk_view_of(r, ids), dst = vk_view_of(r, t);
    if (!binds(r->vk, &vt)) {
        chunk = (int64_t)((r->vk->max_range - r->vk->align) / ((VkDeviceSize)D * 4));
        if (chunk < 1)
            chunk = 1;
    }
    for (int64_t r0 = 0; r0 < V; r0 += chunk) {
        pc_get_rows pc = {.D = (uint32_t)D, .V = (uint32_t)V, .r0 = (uint32_t)r0,
                          .r1 = (uint32_t)(V - r0 < chunk ? V : r0 + chunk), .n = (uint32_t)mm_tensor_nelements(t)};
        vk_view part = vt;
        part.off += (VkDeviceSize)r0 * vt.nb[1];
        part.ne[1] = pc.r1 - pc.r0;
        vk_args a = vk_args_for(VK_SH_GET_ROWS);
        TRY(vk_arg(r, &a, 0, &part, false, &pc.t_off));
        TRY(vk_arg(r, &a, 1, &vi, false, &pc.i_off));
        TRY(vk_arg(r, &a, VK_BIND_DST, &dst, true, &pc.d_off));
        TRY(launch_1d(r, &a, VK_SH_GET_ROWS, &pc, sizeof pc, pc.n));
    }
    return MM_OK;
}

/* One invocation per source row, into its row of the buffer region (the
 * node's own view); later reads of the buffer overlap the bound
 * destination, so vk_dispatch puts a barrier before them. */
static mm_status op_set_rows(vk_rec *r, const mm_tensor *t)
{
    const mm_tensor *src = t->src[0], *ids = t->src[1];
    /* loops: the scan for a later equal id, then the row */
    if (r->vk->cpu_device && src->ne[1] + src->ne[0] > VK_LOOP_BUDGET)
        return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: set_rows of %lld rows of %lld is too long for this device",
                            (long long)src->ne[1], (long long)src->ne[0]);
    pc_set_rows pc = {.ia = ids->ne[1] > 1 ? el(ids->nb[1]) : 0, .ib = ids->ne[2] > 1 ? el(ids->nb[2]) : 0,
                      .R = (uint32_t)t->ne[1], .rows = (uint32_t)n_rows(src)};
    for (int i = 0; i < 4; i++) {
        pc.ne[i] = (uint32_t)src->ne[i];
        pc.snb[i] = el(src->nb[i]);
        pc.dnb[i] = el(t->nb[i]);
    }
    vk_args a = vk_args_for(VK_SH_SET_ROWS);
    TRY(arg_tensor(r, &a, 0, src, false, &pc.s_off));
    TRY(arg_tensor(r, &a, 1, ids, false, &pc.i_off));
    TRY(arg_tensor(r, &a, VK_BIND_DST, t, true, &pc.d_off));
    return launch_1d(r, &a, VK_SH_SET_ROWS, &pc, sizeof pc, pc.rows);
}

mm_status vk_op_record(vk_rec *r, const mm_tensor *t)
{
    switch (t->op) {
    case MM_OP_CONT: return op_cont(r, t);
    case MM_OP_STORE: return op_cont(r, t); /* the destination view is the store's region of its buffer */
    case MM_OP_CONCAT: return op_concat(r, t);
    case MM_OP_MATMUL: return op_matmul(r, t);
    case MM_OP_ADD: return op_binary(r, t, BINARY_ADD);
    case MM_OP_MUL: return op_binary(r, t, BINARY_MUL);
    case MM_OP_SCALE: return op_unary(r, t, UNARY_SCALE, t->op_f[0]);
    case MM_OP_GELU: return op_unary(r, t, UNARY_GELU_ERF + (uint32_t)t->op_i[0], 1.0f);
    case MM_OP_LAYER_NORM: return op_layer_norm(r, t);
    case MM_OP_SOFTMAX: return op_softmax(r, t);
    case MM_OP_ATTENTION: return op_attention(r, t);
    case MM_OP_CONV1D: return op_conv1d(r, t);
    case MM_OP_PATCH_EMBED: return op_patch_embed(r, t);
    case MM_OP_GET_ROWS: return op_get_rows(r, t);
    case MM_OP_SET_ROWS: return op_set_rows(r, t);
    case MM_OP_ARGMAX: return op_rows_index(r, t, VK_SH_ARGMAX);
    case MM_OP_TOP_K: return op_rows_index(r, t, VK_SH_TOP_K);
    default: return mm_error_set(MM_ERR_UNSUPPORTED, "vulkan: op %s is not implemented", mm_op_name(t->op));
    }
}
