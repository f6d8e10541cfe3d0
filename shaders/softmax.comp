#version 450
/* softmax(x*scale + mask) over ne0 with optional causal masking, one
 * workgroup per row; a row with every key masked becomes zeros. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"
#include "mask.glsl"

IN_BUF(0, x);
IN_BUF(1, mask);
layout(binding = 4) writeonly buffer Dst { float dst[]; };

layout(push_constant) uniform PC {
    uvec4 ne;  /* x shape: keys, queries, heads, batch               */
    uvec4 mnb; /* mask strides in elements, 0 where it broadcasts    */
    uint x_off, m_off, d_off, has_mask, causal;
    float scale;
} p;

/* finite, MM_MASKED for masked keys (mask.glsl) */
float score(uint xb, uint mb, uint j)
{
    return mm_score(LD(x, xb + j), p.scale, p.has_mask != 0 ? LD(mask, mb + j) : 0.0);
}

void main()
{
    const uint row = mm_group_linear();
    const uint nrows = p.ne.y * p.ne.z * p.ne.w;
    if (row >= nrows)
        return;
    const uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    const uint i1 = row % p.ne.y, i2 = (row / p.ne.y) % p.ne.z, i3 = row / (p.ne.y * p.ne.z);
    const uint xb = p.x_off + row * p.ne.x, db = p.d_off + row * p.ne.x;
    const uint mb = p.m_off + i1 * p.mnb.y + i2 * p.mnb.z + i3 * p.mnb.w;
    /* keys j < jend are visible (causal: j <= i1 + ne0 - ne1) */
    uint jend = p.ne.x;
    if (p.causal != 0)
        jend = uint(clamp(int(i1) + int(p.ne.x) - int(p.ne.y) + 1, 0, int(p.ne.x)));

    float mx = MM_MASKED;
    for (uint j = lid; j < jend; j += WG) {
        const float v = score(xb, mb, j);
        mx = max(mx, v);
    }
    mx = wg_max(mx);
    if (mx == MM_MASKED) { /* uniform: every key is masked */
        for (uint j = lid; j < p.ne.x; j += WG)
            dst[db + j] = 0.0;
        return;
    }

    float s = 0.0;
    for (uint j = lid; j < jend; j += WG)
        s += mm_weight(score(xb, mb, j), mx);
    const float inv = 1.0 / wg_sum(s);

    for (uint j = lid; j < p.ne.x; j += WG) {
        float y = 0.0;
        if (j < jend)
            y = mm_weight(score(xb, mb, j), mx) * inv;
        dst[db + j] = y;
    }
}
