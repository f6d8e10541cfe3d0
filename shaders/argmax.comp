#version 450
/* Index of the largest value of each contiguous row (first on ties). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "argmax.glsl"

layout(binding = 0) readonly buffer Src { float src[]; };
layout(binding = 4) writeonly buffer Dst { int dst[]; };

layout(push_constant) uniform PC {
    uint ne0, nrows, k, s_off, d_off; /* k: unused, shared layout with top_k */
} p;

void main()
{
    const uint row = mm_group_linear();
    if (row >= p.nrows)
        return;
    const uint sb = p.s_off + row * p.ne0;
    float v = 0.0;
    uint i = NONE;
    for (uint j = gl_LocalInvocationID.x; j < p.ne0; j += gl_WorkGroupSize.x)
        if (better(src[sb + j], j, v, i)) {
            v = src[sb + j];
            i = j;
        }
    wg_best(v, i);
    if (gl_LocalInvocationID.x == 0)
        dst[p.d_off + row] = int(i);
}
