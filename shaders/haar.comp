#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

//! fp16

// Haar wavelet transforms of WF-VAE (docs/model.md#wavelets) on frame-major [T][C][H][W] views.
//
// MODE 0  forward 3D: a = "past" frames (P of them), b = x.  Virtual frames v = past ++ x; output frame j is
//         built from v[2j] (time tap 0) and v[2j+1] (time tap 1) — a causal conv kt = 2, st = 2.
//         y[j, f*C + c, yy, xx] = kappa * sum_{a,b,c'} s_f(a,b,c') v[2j+a][c, 2yy+b, 2xx+c'],
//         sub-band bits (bt, bh, bw) = ((f>>2)&1, (f>>1)&1, f&1): f = 1 is the W high-pass, f = 2 the H one.
// MODE 1  inverse 3D: a = coefficients [t, 8C, h, w], b = optional addend of the first C channels (LLL band).
//         out[2j + a - drop][c, 2yy+b, 2xx+c'] = kappa * sum_f s_f(a,b,c') (Y[f*C+c] (+ add[c] for f = 0)).
//         With drop = 1 the very first output frame (j = 0, a = 0) is not written.
// MODE 2  forward 2D per frame: y[n, g*C + c] = 0.5 * sum_{b,c'} s2_g(b,c') x[n, c, 2yy+b, 2xx+c'],
//         order aa, ad (H / row high-pass), da (W / column high-pass), dd.
// MODE 3  inverse 2D per frame: out[n, c, 2yy+b, 2xx+c'] = 0.5 * sum_g s2_g(b,c') (Y[g*C+c] (+ add[c] for g = 0)).
//
// One invocation handles one (frame, channel, yy, xx) cell of the half-resolution grid: it loads the 2x2(x2)
// block (or the 4/8 coefficients) once and writes all 4/8 results. The sums are evaluated as a fixed butterfly
// (sum/difference along W, then H, then T), then scaled once by the constant; every output depends only on
// its own inputs and this fixed arithmetic, so results do not depend on how frames are grouped into dispatches
// (streamed == whole clip, bit for bit). The addend is applied first, as the official decoder does
// (coefficient + branch, then the inverse transform).
//
// Element access goes through ld_*/st_y (ELEM storage, float arithmetic; see common.glsl).

layout(local_size_x = 32, local_size_y = 4) in;
layout(constant_id = 0) const int MODE = 0;   // 0 fwd3d, 1 inv3d, 2 fwd2d, 3 inv2d
layout(constant_id = 1) const int ADD = 0;    // inverse modes: 1 adds b to the first C coefficient channels

layout(std430, binding = 0) readonly buffer A { ELEM a_[]; };
layout(std430, binding = 1) readonly buffer B { ELEM b_[]; };
layout(std430, binding = 2) writeonly buffer Y { ELEM y_[]; };

layout(push_constant) uniform Push {
    uint aBase, aFrame;
    uint bBase, bFrame;
    uint yBase, yFrame;
    uint C;        // channels per sub-band
    uint h, w;     // half-resolution grid
    uint H, W;     // full-resolution row count and row length (input of forward, output of inverse)
    uint past;     // MODE 0: frames in a (the past); MODE 1: 1 = drop the very first output frame
    float k;       // scale: kappa (3D) or 0.5 (2D)
} p;

float ld_a(uint i) { return float(a_[i]); }
float ld_b(uint i) { return float(b_[i]); }
void st_y(uint i, float v) { y_[i] = ELEM(v); }

// Element (c, row, col) of virtual frame n = past ++ x (MODE 0) or of frame n of a (MODE 2).
float ld_virtual(uint n, uint c, uint row, uint col)
{
    uint off = c * p.H * p.W + row * p.W + col;
    if (MODE == 0 && n >= p.past) return ld_b(p.bBase + (n - p.past) * p.bFrame + off);
    return ld_a(p.aBase + n * p.aFrame + off);
}

void main()
{
    // Grid: x = column, y = row of the half-resolution grid, z = frame * C + channel (uniform per workgroup).
    uint xx = gl_GlobalInvocationID.x, yy = gl_GlobalInvocationID.y;
    if (xx >= p.w || yy >= p.h) return;
    uint z = gl_WorkGroupID.z;
    uint n = z / p.C;              // frame on the half-resolution side
    uint c = z - n * p.C;
    uint hw = p.h * p.w;
    uint pix = yy * p.w + xx;
    float k = p.k;

    if (MODE == 0 || MODE == 2) {
        // v[a][b][c'] = input at time tap a, row 2yy+b, column 2xx+c'.
        float v[2][2][2];
        int taps = MODE == 0 ? 2 : 1;
        for (int a = 0; a < taps; a++) {
            uint fr = MODE == 0 ? 2u * n + uint(a) : n;
            for (int b = 0; b < 2; b++) {
                v[a][b][0] = ld_virtual(fr, c, 2u * yy + uint(b), 2u * xx);
                v[a][b][1] = ld_virtual(fr, c, 2u * yy + uint(b), 2u * xx + 1u);
            }
        }
        // Butterfly: W (index bw), then H (bh), then T (bt). s[a][bh][bw] after the spatial stages.
        float s[2][2][2];
        for (int a = 0; a < taps; a++) {
            float l0 = v[a][0][0] + v[a][0][1], d0 = v[a][0][0] - v[a][0][1];
            float l1 = v[a][1][0] + v[a][1][1], d1 = v[a][1][0] - v[a][1][1];
            s[a][0][0] = l0 + l1; s[a][1][0] = l0 - l1;   // W low:  H low / H high
            s[a][0][1] = d0 + d1; s[a][1][1] = d0 - d1;   // W high: H low / H high
        }
        uint plane = hw;
        if (MODE == 0) {
            uint ob = p.yBase + n * p.yFrame + c * plane + pix;
            for (int f = 0; f < 8; f++) {
                int bt = (f >> 2) & 1, bh = (f >> 1) & 1, bw = f & 1;
                float r = bt == 0 ? s[0][bh][bw] + s[1][bh][bw] : s[0][bh][bw] - s[1][bh][bw];
                st_y(ob + uint(f) * p.C * plane, k * r);
            }
        } else {
            // 2D order g = 0 aa, 1 ad (H high), 2 da (W high), 3 dd.
            uint ob = p.yBase + n * p.yFrame + c * plane + pix;
            uint cs = p.C * plane;
            st_y(ob,          k * s[0][0][0]);
            st_y(ob + cs,     k * s[0][1][0]);
            st_y(ob + 2u * cs, k * s[0][0][1]);
            st_y(ob + 3u * cs, k * s[0][1][1]);
        }
        return;
    }

    // Inverse modes: coefficients q[f] (3D, f = 0..7) or q[g] (2D, g = 0..3) of channel c at (yy, xx).
    uint ib = p.aBase + n * p.aFrame + c * hw + pix;
    uint cs = p.C * hw;
    if (MODE == 1) {
        float q[8];
        for (int f = 0; f < 8; f++) q[f] = ld_a(ib + uint(f) * cs);
        if (ADD != 0) q[0] = q[0] + ld_b(p.bBase + n * p.bFrame + c * hw + pix);
        // Butterfly over T (bit 2), then H (bit 1), then W (bit 0): r[a][b][c'] = sum_f s_f(a,b,c') q[f].
        float t0[4], t1[4];                       // time tap 0 / 1, indexed by (bh, bw) = f & 3
        for (int m = 0; m < 4; m++) { t0[m] = q[m] + q[m + 4]; t1[m] = q[m] - q[m + 4]; }
        uint OW = p.W, plane = p.H * p.W;
        for (int a = 0; a < 2; a++) {
            int fr = 2 * int(n) + a - int(p.past);
            if (fr < 0) continue;
            float u0 = a == 0 ? t0[0] : t1[0], u1 = a == 0 ? t0[1] : t1[1];
            float u2 = a == 0 ? t0[2] : t1[2], u3 = a == 0 ? t0[3] : t1[3];
            // H stage: (bh = 0 ± bh = 1) keeping the W index.
            float h00 = u0 + u2, h01 = u1 + u3;  // row tap b = 0: W low, W high
            float h10 = u0 - u2, h11 = u1 - u3;  // row tap b = 1
            uint ob = p.yBase + uint(fr) * p.yFrame + c * plane + (2u * yy) * OW + 2u * xx;
            st_y(ob,          k * (h00 + h01));
            st_y(ob + 1u,     k * (h00 - h01));
            st_y(ob + OW,     k * (h10 + h11));
            st_y(ob + OW + 1u, k * (h10 - h11));
        }
    } else {
        float q0 = ld_a(ib), q1 = ld_a(ib + cs), q2 = ld_a(ib + 2u * cs), q3 = ld_a(ib + 3u * cs);
        if (ADD != 0) q0 = q0 + ld_b(p.bBase + n * p.bFrame + c * hw + pix);
        // g = 1 is the H high-pass (sign (-1)^b), g = 2 the W high-pass (sign (-1)^c').
        float r0 = q0 + q1, r1 = q0 - q1;    // row tap b = 0 / 1, W low
        float e0 = q2 + q3, e1 = q2 - q3;    // row tap b = 0 / 1, W high
        uint OW = p.W, plane = p.H * p.W;
        uint ob = p.yBase + n * p.yFrame + c * plane + (2u * yy) * OW + 2u * xx;
        st_y(ob,          k * (r0 + e0));
        st_y(ob + 1u,     k * (r0 - e0));
        st_y(ob + OW,     k * (r1 + e1));
        st_y(ob + OW + 1u, k * (r1 - e1));
    }
}
