#version 450
/* Elementwise unary ops on a strided F32 source into a contiguous result. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "gelu.glsl"

layout(binding = 0) readonly buffer Src { float src[]; };
layout(binding = 4) writeonly buffer Dst { float dst[]; };

#define UNARY_SCALE 0
#define UNARY_GELU_ERF 1
#define UNARY_GELU_TANH 2
#define UNARY_GELU_QUICK 3

layout(push_constant) uniform PC {
    uvec4 ne;
    uvec4 snb; /* source strides, in elements */
    uint s_off, d_off, n, op, contiguous;
    float scale;
} p;

void main()
{
    const uint i = mm_thread_linear();
    if (i >= p.n)
        return;
    uint si = i;
    if (p.contiguous == 0) {
        const uvec4 c = mm_unravel(i, p.ne);
        si = c.x * p.snb.x + c.y * p.snb.y + c.z * p.snb.z + c.w * p.snb.w;
    }
    const float x = src[p.s_off + si];
    float y;
    switch (p.op) {
    case UNARY_GELU_ERF: y = mm_gelu_erf(x); break;
    case UNARY_GELU_TANH: y = mm_gelu_tanh(x); break;
    case UNARY_GELU_QUICK: y = mm_gelu_quick(x); break;
    default: y = x * p.scale; break;
    }
    dst[p.d_off + i] = y;
}
