#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

//! fp16

// DiagonalGaussian posterior of WF-VAE (docs/model.md#posterior) on frame-major [T][C][h][w] views.
//
// MODE 0  split:  mean[t, c] = moments[t, c], logvar[t, c] = clamp(moments[t, L + c], -30, 20)   (c < L)
//                 bindings: 0 moments (read), 1 mean (written), 2 logvar (written).
// MODE 1  sample: sample = mean + exp(0.5 * logvar) * eps
//                 bindings: 0 mean (read), 1 logvar (read), 2 sample (written; may be mean itself).
//
// eps ~ N(0, 1) comes from the counter-based generator Philox4x32-10 (Salmon, Moraes, Dror, Shaw,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011), written from its definition:
//   counter = (x, y, channel, absolute latent frame), key = (seed & 0xffffffff, seed >> 32);
//   10 rounds of  (c0, c1, c2, c3) <- (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)),
//   the key bumped by the Weyl constants (W0, W1) between rounds.
// Box-Muller on the first two output words r0, r1:
//   u1 = ((r0 >> 8) + 1) * 2^-24 in (0, 1],   u2 = (r1 >> 8) * 2^-24 in [0, 1),
//   eps = sqrt(-2 ln u1) * cos(2 pi u2) = -sqrt(-2 ln u1) * cos(2 pi (u2 - 0.5))   (argument kept in [-pi, pi)).
// eps depends only on (seed, frame, channel, y, x), so streamed and whole-clip sampling are identical.
// The float32 log / cos / sqrt / exp are the device's (a few ulps); the raw Philox words are exact everywhere.

layout(local_size_x = 128) in;
layout(constant_id = 0) const int MODE = 0;   // 0 split, 1 sample

layout(std430, binding = 0) readonly buffer A { ELEM a_[]; };
layout(std430, binding = 1) buffer B { ELEM b_[]; };
layout(std430, binding = 2) writeonly buffer Y { ELEM y_[]; };

layout(push_constant) uniform Push {
    uint aBase, aFrame;
    uint bBase, bFrame;
    uint yBase, yFrame;
    uint L;            // latent channels
    uint h, w;
    uint count;        // T * L * h * w
    uint seedLo, seedHi;
    uint firstFrame;   // absolute index of frame 0 of these views in the stream
} p;

float ld_a(uint i) { return float(a_[i]); }
float ld_b(uint i) { return float(b_[i]); }
void st_b(uint i, float v) { b_[i] = ELEM(v); }
void st_y(uint i, float v) { y_[i] = ELEM(v); }

const uint PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u;
const uint PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u;

uvec4 philox4x32_10(uvec4 ctr, uvec2 key)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0) key += uvec2(PHILOX_W0, PHILOX_W1);
        uint hi0, lo0, hi1, lo1;
        umulExtended(PHILOX_M0, ctr.x, hi0, lo0);
        umulExtended(PHILOX_M1, ctr.z, hi1, lo1);
        ctr = uvec4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
    }
    return ctr;
}

void main()
{
    uint i = linear_index(128);
    if (i >= p.count) return;
    uint hw = p.h * p.w;
    uint pix = i % hw;
    uint rest = i / hw;
    uint c = rest % p.L;
    uint t = rest / p.L;
    uint inPlane = c * hw + pix;

    if (MODE == 0) {
        float m = ld_a(p.aBase + t * p.aFrame + inPlane);
        float lv = ld_a(p.aBase + t * p.aFrame + (p.L + c) * hw + pix);
        st_b(p.bBase + t * p.bFrame + inPlane, m);
        st_y(p.yBase + t * p.yFrame + inPlane, clamp(lv, -30.0, 20.0));
        return;
    }

    uint yy = pix / p.w, xx = pix - yy * p.w;
    uvec4 r = philox4x32_10(uvec4(xx, yy, c, p.firstFrame + t), uvec2(p.seedLo, p.seedHi));
    float u1 = float((r.x >> 8) + 1u) * (1.0 / 16777216.0);
    float u2 = float(r.y >> 8) * (1.0 / 16777216.0);
    float rad = sqrt(-2.0 * log(u1));
    float eps = -rad * cos(6.28318530717958647 * (u2 - 0.5));
    float m = ld_a(p.aBase + t * p.aFrame + inPlane);
    float lv = ld_b(p.bBase + t * p.bFrame + inPlane);
    precise float s = m + exp(0.5 * lv) * eps;
    st_y(p.yBase + t * p.yFrame + inPlane, s);
}
