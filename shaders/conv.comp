#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Every convolution of WF-VAE as one implicit GEMM:
//   y[m, n] = bias[m] (+ residual[m, n]) + sum_k W[m, k] * X[k, n]
// with M = Cout, N = output positions (frame, row, column of y), K = taps * Cin, tap = (a, u, v) of the kernel.
//
// Temporal input is the virtual sequence  past ++ x : virtual frame f < pastT is past frame f, otherwise x frame
// f - pastT (the caller supplies the causal cache or the replicated first frames as `past`). Output frame j reads
// virtual frames st*j + a, a = 0..kt-1. Spatially, input row sh*yo + u - padTop, column sh*xo + v - padLeft; rows
// and columns outside the frame read zero (Same: pad (k-1)/2 on all sides; RightBottom: padTop = padLeft = 0 and the
// bottom/right zero row/column fall out of the bounds test).
//
// Workgroup: WG = WGM * WGN invocations computing a BM x BN tile of y (BM = WGM*TM output channels, BN = WGN*TN
// positions); invocation (mi, ni) owns channels m0 + mi*TM + i and positions n0 + ni + j*WGN (adjacent invocations
// hold adjacent positions: coalesced stores and shared reads). K advances in chunks of BK input channels of one tap,
// staged in shared memory (weights Ws[BK][BM], gathered input Xs[BK][BN]).
//
// Bit-exactness (spec §6.4): every output element accumulates with one fma chain in the same K order
// (tap-major, input channel ascending), independent of the tile it falls in and of the number of frames of the
// dispatch; padded positions contribute exact zeros. Bias and residual are added after the chain.
//
// Element loads/stores go through LOADX/STOREY-style helpers so an fp16-storage variant can swap them.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const int WG = 64;   // invocations per workgroup (= WGM * WGN)
layout(constant_id = 1) const int WGN = 8;   // invocations along N
layout(constant_id = 2) const int TM = 4;    // output channels per invocation
layout(constant_id = 3) const int TN = 4;    // output positions per invocation
layout(constant_id = 4) const int BK = 16;   // input channels per K chunk

const int WGM = WG / WGN;
const int BM = WGM * TM;
const int BN = WGN * TN;
const int XPASS = (BK * BN + WG - 1) / WG; // shared-memory fill passes for the input tile
const int WPASS = (BK * BM + WG - 1) / WG; // ... and for the weight tile

layout(std430, binding = 0) readonly buffer Past { float pastData[]; };
layout(std430, binding = 1) readonly buffer X { float xData[]; };
layout(std430, binding = 2) readonly buffer Wt { float wData[]; };   // [taps][Cin][Cout], then bias[Cout]
layout(std430, binding = 3) readonly buffer Res { float resData[]; };
layout(std430, binding = 4) buffer Y { float yData[]; };

layout(push_constant) uniform Push {
    uint pastBase, pastFrame, pastT;
    uint xBase, xFrame;
    uint cin, h, w;            // input channels and frame size (past and x share them)
    uint yBase, yFrame;
    uint cout, ho, wo, n;      // output channels, frame size, positions (Tout * ho * wo)
    uint rBase, rFrame, hasRes;
    uint st, sh;               // temporal and spatial stride
    uint padTop, padLeft;
    uint kt, kh, kw;
    uint wBase;                // element index of the packed weights in wData
    uint biasOffset;           // element index of bias[0] in wData; ~0u: no bias
} p;

shared float Ws[BK * BM];
shared float Xs[BK * BN];

float loadPast(uint i) { return pastData[i]; }
float loadX(uint i) { return xData[i]; }
float loadW(uint i) { return wData[i]; }
float loadRes(uint i) { return resData[i]; }
void storeY(uint i, float v) { yData[i] = v; }

void main()
{
    const uint lid = gl_LocalInvocationIndex;
    const uint mi = lid / WGN;
    const uint ni = lid % WGN;
    const uint nTile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint n0 = nTile * BN;
    const uint m0 = gl_WorkGroupID.z * BM;
    if (n0 >= p.n) return; // whole workgroup: uniform

    const uint hw = p.h * p.w;
    const uint howo = p.ho * p.wo;

    // Input-tile fill: pass q covers tile element e = lid + q*WG (row e / BN, column e % BN). Decode the output
    // position of each column once.
    int colT[XPASS], colY[XPASS], colX[XPASS];
    uint colRow[XPASS];
    bool colOk[XPASS];
    for (int q = 0; q < XPASS; q++) {
        uint e = lid + uint(q * WG);
        uint c = e % BN;
        colRow[q] = e / BN;
        uint nn = n0 + c;
        colOk[q] = e < uint(BK * BN) && nn < p.n;
        uint t = nn / howo;
        uint r = nn - t * howo;
        uint yo = r / p.wo;
        uint xo = r - yo * p.wo;
        colT[q] = int(t * p.st);
        colY[q] = int(yo * p.sh) - int(p.padTop);
        colX[q] = int(xo * p.sh) - int(p.padLeft);
    }

    float acc[TM][TN];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0;

    const uint taps = p.kt * p.kh * p.kw;
    for (uint tap = 0; tap < taps; tap++) {
        const uint a = tap / (p.kh * p.kw);
        const uint uv = tap - a * (p.kh * p.kw);
        const uint u = uv / p.kw;
        const uint v = uv - u * p.kw;

        // Source of each of this invocation's tile columns for this tap: element offset (without ci*hw) in past
        // or x, or nothing (zero padding / beyond N).
        uint srcOff[XPASS];
        bool srcPast[XPASS];
        bool srcOk[XPASS];
        for (int q = 0; q < XPASS; q++) {
            int iy = colY[q] + int(u);
            int ix = colX[q] + int(v);
            uint vf = uint(colT[q]) + a;
            srcOk[q] = colOk[q] && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
            srcPast[q] = vf < p.pastT;
            uint sp = uint(iy) * p.w + uint(ix);
            srcOff[q] = srcPast[q] ? p.pastBase + vf * p.pastFrame + sp : p.xBase + (vf - p.pastT) * p.xFrame + sp;
        }
        const uint wTap = p.wBase + tap * p.cin * p.cout;

        for (uint c0 = 0; c0 < p.cin; c0 += BK) {
            const uint kc = min(uint(BK), p.cin - c0);
            // Fill the input tile.
            for (int q = 0; q < XPASS; q++) {
                uint e = lid + uint(q * WG);
                if (e < uint(BK * BN)) {
                    uint ci = c0 + colRow[q];
                    float val = 0.0;
                    if (srcOk[q] && ci < p.cin) {
                        uint idx = srcOff[q] + ci * hw;
                        val = srcPast[q] ? loadPast(idx) : loadX(idx);
                    }
                    Xs[e] = val;
                }
            }
            // Fill the weight tile: Ws[r][c] = W[tap][c0 + r][m0 + c].
            for (int q = 0; q < WPASS; q++) {
                uint e = lid + uint(q * WG);
                if (e < uint(BK * BM)) {
                    uint r = e / BM;
                    uint c = e % BM;
                    uint ci = c0 + r;
                    uint m = m0 + c;
                    Ws[e] = (ci < p.cin && m < p.cout) ? loadW(wTap + ci * p.cout + m) : 0.0;
                }
            }
            barrier();

            if (kc == uint(BK)) {
                for (int k = 0; k < BK; k++) {
                    float av[TM], bv[TN];
                    for (int i = 0; i < TM; i++) av[i] = Ws[k * BM + int(mi) * TM + i];
                    for (int j = 0; j < TN; j++) bv[j] = Xs[k * BN + int(ni) + j * WGN];
                    for (int i = 0; i < TM; i++)
                        for (int j = 0; j < TN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            } else {
                for (int k = 0; k < int(kc); k++) {
                    float av[TM], bv[TN];
                    for (int i = 0; i < TM; i++) av[i] = Ws[k * BM + int(mi) * TM + i];
                    for (int j = 0; j < TN; j++) bv[j] = Xs[k * BN + int(ni) + j * WGN];
                    for (int i = 0; i < TM; i++)
                        for (int j = 0; j < TN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
            barrier();
        }
    }

    // Epilogue: + bias (+ residual), store into the (possibly strided) output view.
    for (int j = 0; j < TN; j++) {
        uint nn = n0 + ni + uint(j * WGN);
        if (nn >= p.n) continue;
        uint t = nn / howo;
        uint r = nn - t * howo;
        for (int i = 0; i < TM; i++) {
            uint m = m0 + mi * uint(TM) + uint(i);
            if (m >= p.cout) continue;
            float val = acc[i][j];
            if (p.biasOffset != 0xFFFFFFFFu) val += loadW(p.biasOffset + m);
            if (p.hasRes != 0u) val += loadRes(p.rBase + t * p.rFrame + m * howo + r);
            storeY(p.yBase + t * p.yFrame + m * howo + r, val);
        }
    }
}
