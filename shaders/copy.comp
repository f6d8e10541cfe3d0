#version 450
/* Strided copy of 32-bit elements (F32 or I32): CONT, and each half of CONCAT
 * (written into a strided window of the destination). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Src { uint src[]; };
layout(binding = 4) writeonly buffer Dst { uint dst[]; };

layout(push_constant) uniform PC {
    uvec4 ne;  /* shape copied                         */
    uvec4 snb; /* source strides, in elements          */
    uvec4 dnb; /* destination strides, in elements    */
    uint s_off, d_off, n;
} p;

void main()
{
    const uint i = mm_thread_linear();
    if (i >= p.n)
        return;
    const uvec4 c = mm_unravel(i, p.ne);
    dst[p.d_off + c.x * p.dnb.x + c.y * p.dnb.y + c.z * p.dnb.z + c.w * p.dnb.w] =
        src[p.s_off + c.x * p.snb.x + c.y * p.snb.y + c.z * p.snb.z + c.w * p.snb.w];
}
