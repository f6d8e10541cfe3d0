#version 450
/* Elementwise unary ops on a strided F32 source into a contiguous result.
 * VEC4: 4 consecutive elements per invocation (the host checks ne0 % 4 == 0,
 * unit inner stride and 16-byte aligned rows). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "gelu.glsl"

layout(constant_id = 1) const uint VEC4 = 0;

IN_BUF(0, src);
layout(binding = 4) writeonly buffer Dst { float dst[]; };
layout(binding = 4) writeonly buffer Dst4 { vec4 dst4[]; };

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

float apply(float x)
{
    switch (p.op) {
    case UNARY_GELU_ERF: return mm_gelu_erf(x);
    case UNARY_GELU_TANH: return mm_gelu_tanh(x);
    case UNARY_GELU_QUICK: return mm_gelu_quick(x);
    default: return x * p.scale;
    }
}

/* Source offset of element i. */
uint src_index(uint i)
{
    if (p.contiguous != 0)
        return i;
    const uvec4 c = mm_unravel(i, p.ne);
    return c.x * p.snb.x + c.y * p.snb.y + c.z * p.snb.z + c.w * p.snb.w;
}

void main()
{
    const uint i = mm_thread_linear() * (VEC4 != 0 ? 4 : 1);
    if (i >= p.n)
        return;
    if (VEC4 != 0) {
        const vec4 x = LD4(src, (p.s_off + src_index(i)) / 4);
        dst4[p.d_off / 4 + i / 4] = vec4(apply(x.x), apply(x.y), apply(x.z), apply(x.w));
    } else {
        dst[p.d_off + i] = apply(LD(src, p.s_off + src_index(i)));
    }
}
