#version 450
/* a (op) b elementwise, b broadcast through zero strides; contiguous result.
 * VEC4: 4 consecutive elements per invocation (the host checks ne0 % 4 == 0,
 * unit inner strides or a broadcast b element, and 16-byte aligned rows). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint VEC4 = 0;

IN_BUF(0, a);
IN_BUF(1, b);
layout(binding = 4) writeonly buffer Dst { float dst[]; };
layout(binding = 4) writeonly buffer Dst4 { vec4 dst4[]; };

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
    const uint i = mm_thread_linear() * (VEC4 != 0 ? 4 : 1);
    if (i >= p.n)
        return;
    const uvec4 c = mm_unravel(i, p.ne);
    const uint ai = p.a_off + c.x * p.anb.x + c.y * p.anb.y + c.z * p.anb.z + c.w * p.anb.w;
    const uint bi = p.b_off + c.x * p.bnb.x + c.y * p.bnb.y + c.z * p.bnb.z + c.w * p.bnb.w;
    if (VEC4 != 0) {
        const vec4 x = LD4(a, ai / 4);
        const vec4 y = p.bnb.x == 0 ? vec4(LD(b, bi)) : LD4(b, bi / 4);
        dst4[p.d_off / 4 + i / 4] = p.op == BINARY_MUL ? x * y : x + y;
    } else {
        const float x = LD(a, ai), y = LD(b, bi);
        dst[p.d_off + i] = p.op == BINARY_MUL ? x * y : x + y;
    }
}
