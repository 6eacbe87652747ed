#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

//! variant texel: -DWFVAE_TEXEL=1
//! variant address: -DWFVAE_TEXEL=1 -DWFVAE_ADDRESS=1
//! fp16

// Phase 2 of the Winograd convolution (WinogradConv.cs): the batched products in the transformed domain.
// For every point xi of the ALPHA x ALPHA transformed tile (one batch per xi: point0 + gl_WorkGroupID.y; the transformed
// weights of large layers are split into parts of consecutive points, one dispatch each):
//   M[xi][co][n] = sum over (a, ci) of U[xi][a][ci][co] * V[xi][ci][a * tapStride + n]
// n runs over the output tiles of the chunk (frame-major, tiles of a frame padded to a multiple of 4), a over the
// kt temporal taps and ci over the input channels: V holds the transformed input frames of the chunk, and output frame
// t's tap a reads input frame t + a, which is tapStride = (tiles per frame) elements further along n.
//
// Bit-exactness: every M element is ONE fma chain over (a ascending, ci ascending) from +0, whatever the tile of
// invocations it falls in, the number of frames in the chunk or the chunk's first tile; so the output of a tile depends
// only on its inputs, and streamed output equals whole-clip output. Rows beyond Cout read a clamped weight column and
// columns beyond N (texel kernels: a clamped column; GPU kernel: zeros): neither is stored.
//
// V and M are float scratch in both precisions (the transform would lose accuracy in halves); U, the transformed
// weights (vec4s of 4 output channels, padded with zeros to CoutPad), are ELEM4: halves in the _f16 modules.
//
// Three variants (the //! lines above):
//  - winograd_gemm.spv: shared-memory tiles for GPUs. A workgroup of WG invocations computes BM = WGM*TM channels x
//    BN = WGN*TN tiles; K advances BK rows of (a, ci) at a time through shared memory as vec4s.
//  - winograd_gemm_texel.spv: for CPU drivers (lavapipe), where storage-buffer and shared-memory loads are per-lane
//    loops and texel fetches are gathers on Mesa 22.3 (docs/performance.md). V and U are read as RGBA32F (RGBA16F for halves) texel
//    views: one fetch gives 4 consecutive tiles of V or 4 output channels of U. Invocation (mi, ni) owns TM channels x
//    TN consecutive tiles; per step of KU rows it fetches KU*(TN/4 + TM/4) vec4s and applies KU fmas to each of its
//    TM*TN accumulators back to back (llvmpipe keeps large accumulator sets in memory: each load/store serves KU fmas).
//  - winograd_gemm_address.spv: the texel kernel reading V and U through device addresses (GL_EXT_buffer_reference)
//    instead of texel views. From Mesa 25 a texel fetch is a call into a sampling function while an address load is
//    a vector gather; on Mesa 22.3 an address load is a loop over the lanes (WinogradConv.UsesAddressLoads).
//    Columns past N are clamped to the last one (an address load has no bounds to stop at); they are not stored.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const int WG = 64;   // invocations per workgroup (= WGM * WGN)
layout(constant_id = 1) const int WGN = 8;   // invocations along N
layout(constant_id = 2) const int TM = 8;    // output channels per invocation (multiple of 4)
layout(constant_id = 3) const int TN = 8;    // tiles per invocation (multiple of 4)
layout(constant_id = 4) const int BK = 16;   // GPU: K rows per shared-memory chunk; texel: rows per unrolled step (KU)

const int WGM = WG / WGN;
const int BM = WGM * TM;
const int BN = WGN * TN;
const int TM4 = TM / 4;
const int TN4 = TN / 4;

#ifdef WFVAE_ADDRESS
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference_uvec2 : require
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer VRef { vec4 d[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer URef { ELEM4 d[]; };
#elif defined(WFVAE_TEXEL)
layout(binding = 0) uniform textureBuffer vTex;   // RGBA32F view of the V scratch
layout(binding = 1) uniform textureBuffer uTex;   // RGBA32F (RGBA16F) view of the transformed weights
#else
layout(std430, binding = 0) readonly buffer Vb { vec4 vData[]; };
layout(std430, binding = 1) readonly buffer Ub { ELEM4 uData[]; };
#endif
#ifdef WFVAE_ADDRESS
layout(std430, binding = 0) writeonly buffer Mb { float mData[]; };
#else
layout(std430, binding = 2) writeonly buffer Mb { float mData[]; };
#endif

layout(push_constant) uniform Push {
    uint vBase4;     // vec4 index of V[0][0][0]
    uint vRow4;      // vec4s between V rows (xi, ci) and (xi, ci + 1)
    uint tapStride4; // vec4s between taps a and a + 1 (tiles per frame / 4)
    uint uBase4;     // vec4 index of U[0][0][0][0]
    uint cin, kt, cout, cout4;
    uint n;          // columns of M (output tiles of the chunk, a multiple of 4)
    uint mBase;      // element index of M[0][0][0]; rows (xi, co) are n elements apart
    uint point0;     // first point of this dispatch: U holds points point0.. (the weights are split into parts)
    uvec2 vAddr;     // address variant: device addresses of the blocks holding V and U (vBase4 and uBase4 count from
    uvec2 uAddr;     // there); unused by the others
} p;

#ifdef WFVAE_TEXEL
#ifdef WFVAE_ADDRESS
vec4 loadV(uint i) { return VRef(p.vAddr).d[i]; }
vec4 loadU(uint i) { return vec4(URef(p.uAddr).d[i]); }
#else
vec4 loadV(uint i) { return texelFetch(vTex, int(i)); }
vec4 loadU(uint i) { return texelFetch(uTex, int(i)); }
#endif

void main()
{
    const uint lid = gl_LocalInvocationIndex;
    const uint mi = lid / WGN;
    const uint ni = lid % WGN;
    const uint xu = gl_WorkGroupID.y;      // point within this part of U
    const uint xi = p.point0 + xu;         // point within V and M
    const uint nBase = gl_WorkGroupID.x * BN + ni * TN;   // first column of this invocation
    const uint m0 = gl_WorkGroupID.z * BM + mi * TM;
    if (gl_WorkGroupID.x * BN >= p.n) return; // whole workgroup: uniform

    uint wCol[TM4];
    [[unroll]] for (int i = 0; i < TM4; i++) wCol[i] = min(m0 / 4u + uint(i), p.cout4 - 1u);
    uint vCol[TN4];   // columns past N read the last one (not stored)
    [[unroll]] for (int j = 0; j < TN4; j++) vCol[j] = min(nBase / 4u + uint(j), p.n / 4u - 1u);

    vec4 acc[TM][TN4];
    [[unroll]] for (int i = 0; i < TM; i++)
        [[unroll]] for (int j = 0; j < TN4; j++) acc[i][j] = vec4(0.0);

    const uint kFull = p.cin / uint(BK) * uint(BK);
    for (uint a = 0; a < p.kt; a++) {
        const uint vRow = p.vBase4 + xi * p.cin * p.vRow4 + a * p.tapStride4;
        const uint uRow = p.uBase4 + (xu * p.kt + a) * p.cin * p.cout4;
        for (uint c0 = 0; c0 < kFull; c0 += uint(BK)) {
            vec4 xv[BK][TN4];
            vec4 wv[BK][TM4];
            [[unroll]] for (int k = 0; k < BK; k++) {
                [[unroll]] for (int j = 0; j < TN4; j++) xv[k][j] = loadV(vRow + (c0 + uint(k)) * p.vRow4 + vCol[j]);
                [[unroll]] for (int i = 0; i < TM4; i++) wv[k][i] = loadU(uRow + (c0 + uint(k)) * p.cout4 + wCol[i]);
            }
            // k innermost: each accumulator takes its BK fmas back to back.
            [[unroll]] for (int i = 0; i < TM; i++)
                [[unroll]] for (int j = 0; j < TN4; j++) {
                    vec4 s = acc[i][j];
                    [[unroll]] for (int k = 0; k < BK; k++) s = fma(vec4(wv[k][i / 4][i % 4]), xv[k][j], s);
                    acc[i][j] = s;
                }
        }
        for (uint ci = kFull; ci < p.cin; ci++) {
            vec4 xv[TN4];
            [[unroll]] for (int j = 0; j < TN4; j++) xv[j] = loadV(vRow + ci * p.vRow4 + vCol[j]);
            [[unroll]] for (int i4 = 0; i4 < TM4; i4++) {
                vec4 w = loadU(uRow + ci * p.cout4 + wCol[i4]);
                [[unroll]] for (int c = 0; c < 4; c++)
                    [[unroll]] for (int j = 0; j < TN4; j++) acc[4 * i4 + c][j] = fma(vec4(w[c]), xv[j], acc[4 * i4 + c][j]);
            }
        }
    }

    [[unroll]] for (int i = 0; i < TM; i++) {
        uint co = m0 + uint(i);
        if (co >= p.cout) continue;
        uint row = p.mBase + (xi * p.cout + co) * p.n;
        [[unroll]] for (int j = 0; j < TN4; j++) {
            uint col = nBase + uint(4 * j);
            if (col >= p.n) continue;
            [[unroll]] for (int c = 0; c < 4; c++) mData[row + col + uint(c)] = acc[i][j][c];
        }
    }
}

#else
const int BM4 = BM / 4;
const int BN4 = BN / 4;
const int VPASS = (BK * BN4 + WG - 1) / WG;
const int UPASS = (BK * BM4 + WG - 1) / WG;
shared vec4 Us[BK * BM4];
shared vec4 Vs[BK * BN4];

void main()
{
    const uint lid = gl_LocalInvocationIndex;
    const uint mi = lid / WGN;
    const uint ni = lid % WGN;
    const uint xu = gl_WorkGroupID.y;      // point within this part of U
    const uint xi = p.point0 + xu;         // point within V and M
    const uint n0 = gl_WorkGroupID.x * BN;
    const uint m0 = gl_WorkGroupID.z * BM;
    if (n0 >= p.n) return; // whole workgroup: uniform

    vec4 acc[TM][TN4];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN4; j++) acc[i][j] = vec4(0.0);

    const uint rows = p.kt * p.cin;   // K = (a, ci), a-major
    for (uint k0 = 0; k0 < rows; k0 += uint(BK)) {
        const uint kc = min(uint(BK), rows - k0);
        for (int q = 0; q < VPASS; q++) {
            uint e = lid + uint(q * WG);
            if (e < uint(BK * BN4)) {
                uint k = k0 + e / BN4, c4 = n0 / 4u + e % BN4;
                vec4 v = vec4(0.0);
                if (k < rows && c4 < p.n / 4u) {
                    uint a = k / p.cin, ci = k - a * p.cin;
                    v = vData[p.vBase4 + (xi * p.cin + ci) * p.vRow4 + a * p.tapStride4 + c4];
                }
                Vs[e] = v;
            }
        }
        for (int q = 0; q < UPASS; q++) {
            uint e = lid + uint(q * WG);
            if (e < uint(BK * BM4)) {
                uint k = k0 + e / BM4, m4 = m0 / 4u + e % BM4;
                vec4 w = vec4(0.0);
                if (k < rows && m4 < p.cout4) {
                    uint a = k / p.cin, ci = k - a * p.cin;
                    w = vec4(uData[p.uBase4 + ((xu * p.kt + a) * p.cin + ci) * p.cout4 + m4]);
                }
                Us[e] = w;
            }
        }
        barrier();
        for (int k = 0; k < BK; k++) {
            if (uint(k) < kc) {
                vec4 av[TM4], bv[TN4];
                for (int i = 0; i < TM4; i++) av[i] = Us[k * BM4 + int(mi) * TM4 + i];
                for (int j = 0; j < TN4; j++) bv[j] = Vs[k * BN4 + int(ni) * TN4 + j];
                for (int i = 0; i < TM; i++)
                    for (int j = 0; j < TN4; j++) acc[i][j] = fma(vec4(av[i / 4][i % 4]), bv[j], acc[i][j]);
            }
        }
        barrier();
    }

    for (int i = 0; i < TM; i++) {
        uint co = m0 + mi * uint(TM) + uint(i);
        if (co >= p.cout) continue;
        uint row = p.mBase + (xi * p.cout + co) * p.n;
        for (int j = 0; j < TN4; j++) {
            uint col = n0 + ni * uint(TN) + uint(4 * j);
            if (col >= p.n) continue;
            for (int c = 0; c < 4; c++) mData[row + col + uint(c)] = acc[i][j][c];
        }
    }
}
#endif
