#version 450
/* The k largest values of each contiguous row, largest first, lower index
 * first on ties. Pass t selects the best element ranked after pass t-1's
 * pick in (value desc, index asc) order, so nothing needs marking: O(k*n)
 * reads per row, which suits the small k of samplers. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "argmax.glsl"

layout(binding = 0) readonly buffer Src { float src[]; };
layout(binding = 4) writeonly buffer Dst { int dst[]; };

layout(push_constant) uniform PC {
    uint ne0, nrows, k, s_off, d_off;
} p;

void main()
{
    const uint row = mm_group_linear();
    if (row >= p.nrows)
        return;
    const uint sb = p.s_off + row * p.ne0;
    float pv = 0.0;
    uint pi = NONE;
    for (uint t = 0; t < p.k; t++) {
        float v = 0.0;
        uint i = NONE;
        for (uint j = gl_LocalInvocationID.x; j < p.ne0; j += gl_WorkGroupSize.x) {
            const float x = src[sb + j];
            if ((pi == NONE || better(pv, pi, x, j)) && better(x, j, v, i)) {
                v = x;
                i = j;
            }
        }
        wg_best(v, i);
        pv = v;
        pi = i;
        if (gl_LocalInvocationID.x == 0)
            dst[p.d_off + row * p.k + t] = int(i);
    }
}
