#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Peak fp32 FMA probe: every invocation runs CHAINS independent register-resident fma chains for `iters`
// iterations (UNROLL chain steps per loop trip), then writes one sum so the work cannot be eliminated.
// FLOPs = 2 * CHAINS * UNROLL * iters * invocations.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const int WG = 64;
layout(constant_id = 1) const int CHAINS = 16;
layout(constant_id = 2) const int UNROLL = 8;

layout(std430, binding = 0) buffer Out { float outData[]; };

layout(push_constant) uniform Push {
    uint iters;
    uint count;   // invocations
    float a, b;   // multiplier close to 1 and addend: values stay finite
} p;

void main()
{
    uint i = linear_index(WG);
    float acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = float(i & 7u) * 1e-3 + float(c);
    float a = p.a;
    float b = p.b;
    for (uint it = 0; it < p.iters; it++) {
        for (int u = 0; u < UNROLL; u++)
            for (int c = 0; c < CHAINS; c++) acc[c] = fma(acc[c], a, b);
    }
    float s = 0.0;
    for (int c = 0; c < CHAINS; c++) s += acc[c];
    if (i < p.count) outData[i] = s;
}
