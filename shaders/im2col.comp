#version 450
/* Unfolds convolution inputs into a matrix whose rows are the receptive
 * fields, so the convolution becomes one matmul with the weight:
 *  mode 0, conv1d: x {T,Cin,B} -> cols {K*Cin, Tout, B},
 *          cols[k + K*ci, t, b] = x[t*stride + k - pad, ci, b] (0 outside);
 *  mode 1, patches: x {W,H,C,B} -> cols {P*P*C, (H/P)*(W/P), B},
 *          cols[px + P*(py + P*c), hy*(W/P) + wx, b] = x[wx*P + px, hy*P + py, c, b]. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 4) writeonly buffer Dst { float dst[]; };

layout(push_constant) uniform PC {
    uint mode;
    uint ne0, ne1, ne2;  /* input x: conv1d {T, Cin, B}; patches {W, H, C} */
    uint K, stride, pad; /* conv1d kernel; patches: K = P */
    uint rows, cols;     /* dst row length (K*Cin or P*P*C) and rows per batch */
    uint x_off, d_off, n;
} p;

void main()
{
    const uint i = mm_thread_linear();
    if (i >= p.n)
        return;
    const uint kk = i % p.rows, r = (i / p.rows) % p.cols, b = i / (p.rows * p.cols);
    float v = 0.0;
    if (p.mode == 0) {
        const int pos = int(r * p.stride + kk % p.K) - int(p.pad);
        if (pos >= 0 && pos < int(p.ne0))
            v = x[p.x_off + uint(pos) + p.ne0 * (kk / p.K + p.ne1 * b)];
    } else {
        const uint P = p.K, px = kk % P, py = (kk / P) % P, c = kk / (P * P);
        const uint wx = r % (p.ne0 / P), hy = r / (p.ne0 / P);
        v = x[p.x_off + wx * P + px + p.ne0 * (hy * P + py + p.ne1 * (c + p.ne2 * b))];
    }
    dst[p.d_off + i] = v;
}
