#version 450
/* The k largest values of each contiguous row, largest first, lower index
 * first on ties. Pass t selects the best element ranked after pass t-1's
 * pick in (value desc, index asc) order, so nothing needs marking: O(k*n)
 * reads per row, which suits the small k of samplers. One dispatch makes
 * picks [t0, t1) and resumes from pick t0-1 in dst, so the host can split a
 * large k over dispatches (llvmpipe ends an invocation's loops after 65535
 * iterations in all). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "argmax.glsl"

layout(binding = 0) readonly buffer Src { float src[]; };
layout(binding = 4) buffer Dst { int dst[]; };

layout(push_constant) uniform PC {
    uint ne0, nrows, k, s_off, d_off, t0, t1;
} p;

void main()
{
    const uint row = mm_group_linear();
    if (row >= p.nrows)
        return;
    const uint sb = p.s_off + row * p.ne0;
    uint pi = p.t0 > 0 ? uint(dst[p.d_off + row * p.k + p.t0 - 1]) : NONE;
    float pv = pi != NONE ? src[sb + pi] : 0.0;
    for (uint t = p.t0; t < p.t1; t++) {
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
