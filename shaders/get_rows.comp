#version 450
/* Embedding lookup: dst row r = table row ids[r]. A table larger than one
 * storage-buffer binding is bound in row chunks [r0, r1), one dispatch each;
 * an id outside [0, V) yields a zero row and sets status[0] (the host then
 * fails the compute with MM_ERR_INVALID). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Table { float table[]; };
layout(binding = 1) readonly buffer Ids { int ids[]; };
layout(binding = 4) writeonly buffer Dst { float dst[]; };
layout(binding = 5) buffer Status { uint status[]; };

layout(push_constant) uniform PC {
    uint D, V, r0, r1;
    uint t_off, i_off, d_off, n;
} p;

void main()
{
    const uint i = mm_thread_linear();
    if (i >= p.n)
        return;
    const uint r = i / p.D, c = i % p.D;
    const int id = ids[p.i_off + r];
    if (id < 0 || uint(id) >= p.V) {
        if (p.r0 == 0) {
            dst[p.d_off + i] = 0.0;
            status[0] = 1u;
        }
    } else if (uint(id) >= p.r0 && uint(id) < p.r1) {
        dst[p.d_off + i] = table[p.t_off + (uint(id) - p.r0) * p.D + c];
    }
}
