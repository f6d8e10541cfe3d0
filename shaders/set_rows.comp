#version 450
/* Scatter of rows into a persistent buffer (a KV cache): src row n of batch
 * (a, b) goes to row ids[n] of dst in that batch, one invocation per row.
 * ids are contiguous {N, A|1, B|1}; ia/ib are their batch strides (0 where
 * they broadcast). An id outside [0, R) writes nothing and sets status[1]
 * (the host then fails the compute with MM_ERR_INVALID). When a batch lists
 * a row twice only the later n writes it, so the result is the sequential
 * loop's (the CPU reference). The scan for a later equal id is free for a
 * decoding step (N = 1); per row rather than per element, it stays small
 * for a prompt (N^2/2 reads per batch). */
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
    uint s_off, i_off, d_off, rows;
} p;

void main()
{
    const uint r = mm_thread_linear();
    if (r >= p.rows)
        return;
    const uint n = r % p.ne.y, a = (r / p.ne.y) % p.ne.z, b = r / (p.ne.y * p.ne.z);
    const uint base = p.i_off + a * p.ia + b * p.ib;
    const int id = ids[base + n];
    if (id < 0 || uint(id) >= p.R) {
        status[1] = 1u;
        return;
    }
    for (uint m = n + 1; m < p.ne.y; m++)
        if (ids[base + m] == id)
            return;
    const uint s = p.s_off + n * p.snb.y + a * p.snb.z + b * p.snb.w;
    const uint d = p.d_off + uint(id) * p.dnb.y + a * p.dnb.z + b * p.dnb.w;
    for (uint c = 0; c < p.ne.x; c++)
        dst[d + c * p.dnb.x] = src[s + c * p.snb.x];
}
