#version 450
/* Fused attention, one workgroup per (query, head, batch): keys are taken
 * WG at a time (one per invocation) with an online softmax, so neither the
 * score row nor Tk is bounded by shared memory. Rows of q, k, v are
 * contiguous (nb[0] == 4); every other stride is free. Output {Dv,H,Tq,B}. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"
#include "mask.glsl"

layout(constant_id = 1) const uint DMAX = 128; /* >= max(D, Dv), a multiple of WG */

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
layout(binding = 3) readonly buffer Mask { float mask[]; };
layout(binding = 4) writeonly buffer Dst { float dst[]; };

layout(push_constant) uniform PC {
    uint D, Dv, Tq, Tk, H, hr; /* hr = H / Hkv: query heads per kv head */
    uint q_off, k_off, v_off, m_off, d_off;
    uint q_s1, q_s2, q_s3; /* element strides: token, head, batch */
    uint k_s1, k_s2, k_s3;
    uint v_s1, v_s2, v_s3;
    uint m_s1, m_s2, m_s3; /* 0 where the mask broadcasts */
    uint has_mask, causal;
    float scale;
} p;

const uint NACC = DMAX / gl_WorkGroupSize.x;

shared float qs[DMAX];
shared float ps[gl_WorkGroupSize.x];

void main()
{
    const uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    const uint i = gl_WorkGroupID.x, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    const uint hk = h / p.hr;

    const uint qb = p.q_off + i * p.q_s1 + h * p.q_s2 + b * p.q_s3;
    for (uint d = lid; d < p.D; d += WG)
        qs[d] = q[qb + d];
    barrier();

    const uint kb = p.k_off + hk * p.k_s2 + b * p.k_s3;
    const uint vb = p.v_off + hk * p.v_s2 + b * p.v_s3;
    const uint mb = p.m_off + i * p.m_s1 + h * p.m_s2 + b * p.m_s3;
    uint jend = p.Tk; /* keys j < jend are visible */
    if (p.causal != 0)
        jend = uint(clamp(int(i) + int(p.Tk) - int(p.Tq) + 1, 0, int(p.Tk)));

    float m = MM_MASKED, l = 0.0; /* running max (finite: mask.glsl) and sum */
    float acc[NACC];
    [[unroll]] for (uint r = 0; r < NACC; r++)
        acc[r] = 0.0;

    for (uint j0 = 0; j0 < jend; j0 += WG) {
        const uint j = j0 + lid;
        float s = MM_MASKED; /* the tail chunk's lanes past jend */
        if (j < jend) {
            const uint kr = kb + j * p.k_s1;
            float dotv = 0.0;
            uint d = 0;
            for (; d + 4 <= p.D; d += 4) /* 4 per iteration: ILP, and few loop trips */
                dotv += qs[d] * k[kr + d] + qs[d + 1] * k[kr + d + 1] + qs[d + 2] * k[kr + d + 2] +
                        qs[d + 3] * k[kr + d + 3];
            for (; d < p.D; d++)
                dotv = fma(qs[d], k[kr + d], dotv);
            s = mm_score(dotv, p.scale, p.has_mask != 0 ? mask[mb + j] : 0.0);
        }
        const float mnew = max(m, wg_max(s));
        if (mnew == MM_MASKED)
            continue; /* uniform: every key so far is masked */
        barrier(); /* the previous chunk's readers of ps are done */
        ps[lid] = mm_weight(s, mnew);
        barrier();
        const float alpha = mm_exp_below(m, mnew); /* 0 when m is MM_MASKED */
        const uint cnt = min(WG, jend - j0);
        float csum = 0.0;
        uint jj = 0;
        for (; jj + 4 <= cnt; jj += 4)
            csum += (ps[jj] + ps[jj + 1]) + (ps[jj + 2] + ps[jj + 3]);
        for (; jj < cnt; jj++)
            csum += ps[jj];
        l = l * alpha + csum;
        [[unroll]] for (uint r = 0; r < NACC; r++) {
            const uint d = lid + r * WG;
            if (d < p.Dv) {
                float a = acc[r] * alpha;
                uint vr = vb + j0 * p.v_s1 + d, t = 0;
                for (; t + 4 <= cnt; t += 4, vr += 4 * p.v_s1)
                    a += ps[t] * v[vr] + ps[t + 1] * v[vr + p.v_s1] + ps[t + 2] * v[vr + 2 * p.v_s1] +
                         ps[t + 3] * v[vr + 3 * p.v_s1];
                for (; t < cnt; t++, vr += p.v_s1)
                    a = fma(ps[t], v[vr], a);
                acc[r] = a;
            }
        }
        m = mnew;
    }

    const uint ob = p.d_off + p.Dv * (h + p.H * (i + p.Tq * b));
    [[unroll]] for (uint r = 0; r < NACC; r++) {
        const uint d = lid + r * WG;
        if (d < p.Dv)
            dst[ob + d] = l > 0.0 ? acc[r] / l : 0.0;
    }
}
