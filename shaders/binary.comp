#version 450
/* a (op) b elementwise, b broadcast through zero strides; contiguous result. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 4) writeonly buffer Dst { float dst[]; };

#define BINARY_ADD 0
#define BINARY_MUL 1

layout(push_constant) uniform PC {
    uvec4 ne;  /* shape of a and of the result   */
    uvec4 anb; /* a strides, in elements          */
    uvec4 bnb; /* b strides (0 where broadcast)   */
    uint a_off, b_off, d_off, n, op;
} p;

void main()
{
    const uint i = mm_thread_linear();
    if (i >= p.n)
        return;
    const uvec4 c = mm_unravel(i, p.ne);
    const float x = a[p.a_off + c.x * p.anb.x + c.y * p.anb.y + c.z * p.anb.z + c.w * p.anb.w];
    const float y = b[p.b_off + c.x * p.bnb.x + c.y * p.bnb.y + c.z * p.bnb.z + c.w * p.bnb.w];
    dst[p.d_off + i] = p.op == BINARY_MUL ? x * y : x + y;
}
