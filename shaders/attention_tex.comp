#version 450
/* Fused attention for CPU-emulated devices (lavapipe): each invocation owns
 * QPL whole queries, so softmax and the weighted sum of v need no cross-lane
 * reductions or barriers (slow there), and every k and v row fetched (texel
 * fetches, see common.glsl) serves all the workgroup's queries at once.
 * Online softmax: one pass over the keys, no score row in memory. Same
 * push constants and output layout {Dv,H,Tq,B} as attention.comp.
 * With few queries (a decoding step) the lanes would idle, so KS lanes
 * share each query instead: lane ks takes keys ks, ks + KS, ..., and the
 * KS partial softmaxes are merged at the end through shared memory, so the
 * result does not depend on how many lanes the device runs per subgroup
 * (lavapipe at LP_NATIVE_VECTOR_WIDTH=1024 reports 32 and runs 16).
 * llvmpipe ends any invocation's loops after 65535 iterations in all, so
 * keys go KU per iteration (the host checks Tk against that budget). */
#define TEXEL_READS
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "mask.glsl"

layout(constant_id = 1) const uint D4 = 16;  /* >= max(D, Dv) / 4, rounded up */
layout(constant_id = 2) const uint VEC4 = 0; /* D, Dv and all row starts are multiples of 4 */
layout(constant_id = 3) const uint QPL = 1;  /* queries per lane: k and v fetches serve them all */
layout(constant_id = 4) const uint KS = 1;   /* lanes per query (a power of two; QPL 1) */

IN_BUF(0, q);
IN_BUF(1, k);
IN_BUF(2, v);
IN_BUF(3, mask);
layout(binding = 4) writeonly buffer Dst { float dst[]; };

layout(push_constant) uniform PC {
    uint D, Dv, Tq, Tk, H, hr;
    uint q_off, k_off, v_off, m_off, d_off;
    uint q_s1, q_s2, q_s3;
    uint k_s1, k_s2, k_s3;
    uint v_s1, v_s2, v_s3;
    uint m_s1, m_s2, m_s3;
    uint has_mask, causal;
    float scale;
} p;

const uint KU = 4; /* keys per loop iteration */

/* the KS > 1 merge: every lane's partial (max, sum, accumulator); sized 1
 * when KS == 1 ((2KS - 2) / KS is 0 for KS 1, else 1) */
const uint NPART = gl_WorkGroupSize.x * ((2 * KS - 2) / KS) + 1;
shared float part_m[NPART], part_l[NPART];
shared vec4 part_acc[NPART * D4];

/* Elements 4*d4 .. 4*d4+3 of the row at float offset `row` of a tensor
 * with scalar view t and vec4 view t4 (zero past n). */
vec4 row4(samplerBuffer t, samplerBuffer t4, uint row, uint d4, uint n)
{
    if (VEC4 != 0)
        return 4 * d4 < n ? texelFetch(t4, int(row / 4 + d4)) : vec4(0.0);
    vec4 r = vec4(0.0);
    [[unroll]] for (uint c = 0; c < 4; c++)
        if (4 * d4 + c < n)
            r[c] = texelFetch(t, int(row + 4 * d4 + c)).x;
    return r;
}

void main()
{
    const uint WQ = gl_WorkGroupSize.x / KS; /* query slots per workgroup */
    const uint lane = gl_LocalInvocationID.x / KS, ks = gl_LocalInvocationID.x % KS;
    const uint i0 = gl_WorkGroupID.x * WQ * QPL, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    const uint hk = h / p.hr;
    const uint kb = p.k_off + hk * p.k_s2 + b * p.k_s3;
    const uint vb = p.v_off + hk * p.v_s2 + b * p.v_s3;

    /* this lane's queries i0 + lane + t*WG; extra lanes redo the last query */
    uint qi[QPL], mb[QPL], jend[QPL];
    vec4 qv[QPL * D4], acc[QPL * D4];
    float m[QPL], l[QPL];
    [[unroll]] for (uint t = 0; t < QPL; t++) {
        qi[t] = min(i0 + lane + t * WQ, p.Tq - 1);
        const uint qb = p.q_off + qi[t] * p.q_s1 + h * p.q_s2 + b * p.q_s3;
        [[unroll]] for (uint d4 = 0; d4 < D4; d4++) {
            qv[t * D4 + d4] = row4(q, q4, qb, d4, p.D);
            acc[t * D4 + d4] = vec4(0.0);
        }
        mb[t] = p.m_off + qi[t] * p.m_s1 + h * p.m_s2 + b * p.m_s3;
        /* keys j < jend are visible (causal: j <= i + Tk - Tq) */
        jend[t] = p.causal != 0 ? uint(clamp(int(qi[t]) + int(p.Tk) - int(p.Tq) + 1, 0, int(p.Tk))) : p.Tk;
        m[t] = MM_MASKED;
        l[t] = 0.0;
    }
    /* the loop runs to the workgroup's largest jend (its last query) */
    uint jmax = p.Tk;
    if (p.causal != 0)
        jmax = uint(clamp(int(min(i0 + WQ * QPL - 1, p.Tq - 1)) + int(p.Tk) - int(p.Tq) + 1, 0, int(p.Tk)));

    for (uint j0 = 0; j0 < jmax; j0 += KU * KS) {
      [[unroll]] for (uint u = 0; u < KU; u++) {
        const uint j = j0 + u * KS + ks;
        if (j >= jmax)
            break; /* uniform when KS == 1 */
        const uint kr = kb + j * p.k_s1, vr = vb + j * p.v_s1;
        vec4 kv[D4];
        [[unroll]] for (uint d4 = 0; d4 < D4; d4++)
            kv[d4] = row4(k, k4, kr, d4, p.D);
        float w[QPL], alpha[QPL];
        [[unroll]] for (uint t = 0; t < QPL; t++) {
            float dt = 0.0;
            [[unroll]] for (uint d4 = 0; d4 < D4; d4++)
                dt += dot(qv[t * D4 + d4], kv[d4]);
            float s = mm_score(dt, p.scale, p.has_mask != 0 ? LD(mask, mb[t] + j) : 0.0);
            if (j >= jend[t])
                s = MM_MASKED;
            /* branch-free online softmax update; masked keys weigh exactly 0 */
            const float mn = max(m[t], s);
            alpha[t] = m[t] == mn ? 1.0 : mm_exp_below(m[t], mn);
            w[t] = mm_weight(s, mn);
            l[t] = l[t] * alpha[t] + w[t];
            m[t] = mn;
        }
        [[unroll]] for (uint d4 = 0; d4 < D4; d4++) {
            const vec4 vv = row4(v, v4, vr, d4, p.Dv);
            [[unroll]] for (uint t = 0; t < QPL; t++)
                acc[t * D4 + d4] = acc[t * D4 + d4] * alpha[t] + w[t] * vv;
        }
      }
    }

    if (KS > 1) { /* merge the KS lanes' partial softmaxes (QPL == 1) */
        const uint lid = gl_LocalInvocationID.x;
        part_m[lid] = m[0];
        part_l[lid] = l[0];
        [[unroll]] for (uint d4 = 0; d4 < D4; d4++)
            part_acc[lid * D4 + d4] = acc[d4];
        barrier();
        if (ks != 0)
            return;
        float mm = m[0];
        for (uint o = 1; o < KS; o++)
            mm = max(mm, part_m[lid + o]);
        l[0] = 0.0;
        [[unroll]] for (uint d4 = 0; d4 < D4; d4++)
            acc[d4] = vec4(0.0);
        for (uint o = 0; o < KS; o++) {
            /* a lane that saw no unmasked key has l == 0 and adds nothing */
            const float f = part_m[lid + o] == mm ? 1.0 : mm_exp_below(part_m[lid + o], mm);
            l[0] += part_l[lid + o] * f;
            [[unroll]] for (uint d4 = 0; d4 < D4; d4++)
                acc[d4] += part_acc[(lid + o) * D4 + d4] * f;
        }
    }
    [[unroll]] for (uint t = 0; t < QPL; t++) {
        if (i0 + lane + t * WQ >= p.Tq)
            break;
        const uint ob = p.d_off + p.Dv * (h + p.H * (qi[t] + p.Tq * b));
        const float inv = l[t] > 0.0 ? 1.0 / l[t] : 0.0;
        [[unroll]] for (uint d4 = 0; d4 < D4; d4++)
            [[unroll]] for (uint c = 0; c < 4; c++)
                if (4 * d4 + c < p.Dv)
                    dst[ob + 4 * d4 + c] = acc[t * D4 + d4][c] * inv;
    }
}
