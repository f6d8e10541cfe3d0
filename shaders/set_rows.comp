#version 450
/* Scatter of rows into a persistent buffer (a KV cache): element c of src
 * row n in batch (a, b) goes to row ids[n] of dst in that batch. ids are
 * contiguous {N, A|1, B|1}; ia/ib are their batch strides (0 where they
 * broadcast). An id outside [0, R) writes nothing and sets status[1] (the
 * host then fails the compute with MM_ERR_INVALID). When a batch lists a
 * row twice, only the later n writes it, so the result is the sequential
 * loop's (the CPU reference): the scan over later ids costs nothing for a
 * decoding step (N = 1). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Src { uint src[]; };
layout(binding = 1) readonly buffer Ids { int ids[]; };
layout(binding = 4) writeonly buffer Dst { uint dst[]; };
layout(binding = 5) buffer Status { uint status[]; };

layout(push_constant) uniform PC {
    uvec4 ne;  /* src shape {D, N, A, B}                  */
    uvec4 snb; /* src strides, in elements                */
    uvec4 dnb; /* dst strides, in elements (x: 1)         */
    uint ia, ib, R;
    uint s_off, i_off, d_off, n;
} p;

void main()
{
    const uint i = mm_thread_linear();
    if (i >= p.n)
        return;
    const uvec4 c = mm_unravel(i, p.ne);
    const uint base = p.i_off + c.z * p.ia + c.w * p.ib;
    const int id = ids[base + c.y];
    if (id < 0 || uint(id) >= p.R) {
        status[1] = 1u;
        return;
    }
    for (uint m = c.y + 1; m < p.ne.y; m++)
        if (ids[base + m] == id)
            return;
    dst[p.d_off + c.x * p.dnb.x + uint(id) * p.dnb.y + c.z * p.dnb.z + c.w * p.dnb.w] =
        src[p.s_off + c.x * p.snb.x + c.y * p.snb.y + c.z * p.snb.z + c.w * p.snb.w];
}
