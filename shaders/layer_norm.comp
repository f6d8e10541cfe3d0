#version 450
/* LayerNorm over ne0, one workgroup per row; two passes (mean, then the
 * centred variance) for accuracy. x, w, b and the result are contiguous. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"

IN_BUF(0, x);
IN_BUF(1, w);
IN_BUF(2, bias);
layout(binding = 4) writeonly buffer Dst { float dst[]; };

layout(push_constant) uniform PC {
    uint ne0, nrows;
    uint x_off, w_off, b_off, d_off;
    uint has_w, has_b;
    float eps;
} p;

void main()
{
    const uint row = mm_group_linear();
    if (row >= p.nrows)
        return; /* whole workgroup: barriers stay uniform */
    const uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    const uint xb = p.x_off + row * p.ne0, db = p.d_off + row * p.ne0;

    float s = 0.0;
    for (uint i = lid; i < p.ne0; i += WG)
        s += LD(x, xb + i);
    const float mean = wg_sum(s) / float(p.ne0);

    float v = 0.0;
    for (uint i = lid; i < p.ne0; i += WG) {
        const float d = LD(x, xb + i) - mean;
        v = fma(d, d, v);
    }
    const float rstd = 1.0 / sqrt(wg_sum(v) / float(p.ne0) + p.eps);

    for (uint i = lid; i < p.ne0; i += WG) {
        float y = (LD(x, xb + i) - mean) * rstd;
        if (p.has_w != 0)
            y *= LD(w, p.w_off + i);
        if (p.has_b != 0)
            y += LD(bias, p.b_off + i);
        dst[db + i] = y;
    }
}
