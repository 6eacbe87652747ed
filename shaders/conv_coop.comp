#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require

// The convolution of shaders/conv.comp (same bindings, same push-constant block, same semantics: read the comment
// there) as an implicit GEMM on cooperative matrices: fp16 operands, fp32 accumulation, fp16 storage.
//
// Built twice by shaders/Shaders.targets, only where the installed glslc accepts the GLSL extension:
//  - conv_coop_nv.spv  (default):            GL_NV_cooperative_matrix  -> device extension VK_NV_cooperative_matrix
//  - conv_coop_khr.spv (-DWFVAE_COOP_KHR=1): GL_KHR_cooperative_matrix -> device extension VK_KHR_cooperative_matrix
// The runtime (src/WfVae.Runtime/CooperativeMatrix.cs) enables one of them only where the device offers a subgroup
// 16x16x16 fp16 x fp16 + fp32 shape, and the dispatcher (src/WfVae.Operators/CooperativeConv.cs) runs a self-check
// against the scalar kernel before first use. Neither path has been executed by its authors (no device at hand
// offered the extension); see docs/architecture.md.
//
// GEMM: y[m, n] = sum_k A[m, k] * B[k, n], M = Cout, N = output positions, K = taps x Cin. Workgroup: SGM x SGN
// subgroups (WG = SGM*SGN*subgroup size invocations, chosen by the dispatcher); subgroup (sm, sn) owns TMT x TNT
// 16x16 accumulator tiles, so the workgroup tile is BM = SGM*TMT*16 channels x BN = SGN*TNT*16 positions.
// K advances one 16-channel block of one tap at a time (tap-major, input channels ascending, the last block of a tap
// zero-padded): the whole workgroup stages the weight block As (column-major A: As[k*BM + m]) and the gathered input
// block Bs (row-major B: Bs[k*BN + n]) in shared memory, then each subgroup multiplies-adds its tiles.
//
// Determinism (docs/model.md#exactness): the K blocks an output element sees (their order and their contents, including the zero
// padding) depend only on its channel m and position n, never on the tile it falls in or on the frames of the
// dispatch, so streamed and whole-clip runs give the same bits provided the hardware's 16x16x16 multiply-add treats
// every element of a tile alike (it is one instruction for the whole tile). Bias and residual are added in fp32 after
// the chain, then the result is rounded to fp16 once.
//
// Not bit-identical to the scalar conv: the order inside one 16-term block is the hardware's. The self-check compares
// with a tolerance (see CooperativeConv.Judge).

#ifdef WFVAE_COOP_KHR
#extension GL_KHR_cooperative_matrix : require
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define MAT_C coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define LOAD_COL_MAJOR(M, BUF, OFF, STRIDE) coopMatLoad(M, BUF, OFF, STRIDE, gl_CooperativeMatrixLayoutColumnMajor)
#define LOAD_ROW_MAJOR(M, BUF, OFF, STRIDE) coopMatLoad(M, BUF, OFF, STRIDE, gl_CooperativeMatrixLayoutRowMajor)
#define STORE_ROW_MAJOR(M, BUF, OFF, STRIDE) coopMatStore(M, BUF, OFF, STRIDE, gl_CooperativeMatrixLayoutRowMajor)
#define MUL_ADD(A, B, C) coopMatMulAdd(A, B, C)
#else
#extension GL_NV_cooperative_matrix : require
#define MAT_A fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_B fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_C fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define LOAD_COL_MAJOR(M, BUF, OFF, STRIDE) coopMatLoadNV(M, BUF, OFF, STRIDE, true)
#define LOAD_ROW_MAJOR(M, BUF, OFF, STRIDE) coopMatLoadNV(M, BUF, OFF, STRIDE, false)
#define STORE_ROW_MAJOR(M, BUF, OFF, STRIDE) coopMatStoreNV(M, BUF, OFF, STRIDE, false)
#define MUL_ADD(A, B, C) coopMatMulAddNV(A, B, C)
#endif

#include "common.glsl"

// Element types of the fp16 storage convention (-DWFVAE_F16=1: ELEM = float16_t, ELEM4 = f16vec4); defined here when
// common.glsl does not provide them. This kernel exists only for fp16 storage.
#ifndef ELEM
#define ELEM float16_t
#endif
#ifndef ELEM4
#define ELEM4 f16vec4
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const int WG = 128;  // invocations per workgroup = SGM * SGN * subgroup size
layout(constant_id = 1) const int SGM = 2;   // subgroups along M (output channels)
layout(constant_id = 2) const int SGN = 2;   // subgroups along N (output positions)
layout(constant_id = 3) const int TMT = 2;   // 16-row tiles per subgroup along M
layout(constant_id = 4) const int TNT = 2;   // 16-column tiles per subgroup along N

const int BK = 16;
const int BM = SGM * TMT * 16;
const int BN = SGN * TNT * 16;
const int BM4 = BM / 4;
const int XPASS = (BK * BN + WG - 1) / WG;  // input-block fill passes (one element each)
const int WPASS = (BK * BM4 + WG - 1) / WG; // weight-block fill passes (one ELEM4 each)

layout(std430, binding = 0) readonly buffer Past { ELEM pastData[]; };
layout(std430, binding = 1) readonly buffer X { ELEM xData[]; };
layout(std430, binding = 2) readonly buffer Wt { ELEM4 wData[]; };   // [taps][Cin][CoutPad4], then bias[CoutPad4]
layout(std430, binding = 3) readonly buffer Res { ELEM resData[]; };
layout(std430, binding = 4) buffer Y { ELEM yData[]; };

layout(push_constant) uniform Push {
    uint pastBase, pastFrame, pastT;
    uint xBase, xFrame;
    uint cin, h, w;
    uint yBase, yFrame;
    uint cout, ho, wo, n;
    uint rBase, rFrame, hasRes;
    uint st, sh;
    uint padTop, padLeft;
    uint kt, kh, kw;
    uint wBase4;
    uint cout4;
    uint biasBase4;
} p;

shared float16_t As[BK * BM];
shared float16_t Bs[BK * BN];
shared float Cs[SGM * SGN * 256];   // one 16x16 fp32 scratch tile per subgroup, for the epilogue

void main()
{
    const uint lid = gl_LocalInvocationIndex;
    const uint nTile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint n0 = nTile * BN;
    const uint m0 = gl_WorkGroupID.z * BM;
    if (n0 >= p.n) return; // whole workgroup: uniform

    const uint hw = p.h * p.w;
    const uint howo = p.ho * p.wo;
    const uint sg = gl_SubgroupID;
    const uint sm = sg / uint(SGN);
    const uint sn = sg % uint(SGN);
    // Subgroups beyond SGM*SGN (a device running smaller subgroups than the dispatcher assumed) only help staging;
    // their tiles would be missing, which the self-check detects.
    const bool mma = sg < uint(SGM * SGN);

    // Input-block fill: pass q writes element e = lid + q*WG of Bs (row e / BN, column e % BN). Decode the output
    // position of that column once.
    int colT[XPASS], colY[XPASS], colX[XPASS];
    bool colOk[XPASS];
    [[unroll]] for (int q = 0; q < XPASS; q++) {
        uint e = lid + uint(q * WG);
        uint nn = n0 + e % uint(BN);
        colOk[q] = e < uint(BK * BN) && nn < p.n;
        uint t = nn / howo;
        uint r = nn - t * howo;
        uint yo = r / p.wo;
        uint xo = r - yo * p.wo;
        colT[q] = int(t * p.st);
        colY[q] = int(yo * p.sh) - int(p.padTop);
        colX[q] = int(xo * p.sh) - int(p.padLeft);
    }

    MAT_C acc[TMT][TNT];
    [[unroll]] for (int i = 0; i < TMT; i++)
        [[unroll]] for (int j = 0; j < TNT; j++) acc[i][j] = MAT_C(0.0);

    const uint taps = p.kt * p.kh * p.kw;
    for (uint tap = 0; tap < taps; tap++) {
        const uint a = tap / (p.kh * p.kw);
        const uint uv = tap - a * (p.kh * p.kw);
        const uint u = uv / p.kw;
        const uint v = uv - u * p.kw;
        uint srcOff[XPASS];
        bool srcPast[XPASS], srcOk[XPASS];
        [[unroll]] for (int q = 0; q < XPASS; q++) {
            int iy = colY[q] + int(u);
            int ix = colX[q] + int(v);
            uint vf = uint(colT[q]) + a;
            srcOk[q] = colOk[q] && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
            srcPast[q] = vf < p.pastT;
            uint sp = uint(iy) * p.w + uint(ix);
            srcOff[q] = srcPast[q] ? p.pastBase + vf * p.pastFrame + sp : p.xBase + (vf - p.pastT) * p.xFrame + sp;
        }
        const uint wTap = p.wBase4 + tap * p.cin * p.cout4;

        for (uint c0 = 0; c0 < p.cin; c0 += uint(BK)) {
            // Gathered inputs; exact zeros for padding, positions beyond N and channels beyond Cin.
            [[unroll]] for (int q = 0; q < XPASS; q++) {
                uint e = lid + uint(q * WG);
                if (e < uint(BK * BN)) {
                    uint ci = c0 + e / uint(BN);
                    float16_t val = float16_t(0.0);
                    if (srcOk[q] && ci < p.cin) {
                        uint idx = srcOff[q] + ci * hw;
                        val = srcPast[q] ? pastData[idx] : xData[idx];
                    }
                    Bs[e] = val;
                }
            }
            // Weights: As[k*BM + m] = W[tap][c0 + k][m0 + m]; zero beyond Cin and beyond CoutPad (columns between Cout
            // and CoutPad are zero in the packed weights).
            [[unroll]] for (int q = 0; q < WPASS; q++) {
                uint e = lid + uint(q * WG);
                if (e < uint(BK * BM4)) {
                    uint k = e / uint(BM4);
                    uint m4 = e % uint(BM4);
                    uint ci = c0 + k;
                    uint m4g = m0 / 4u + m4;
                    f16vec4 val = (ci < p.cin && m4g < p.cout4) ? f16vec4(wData[wTap + ci * p.cout4 + m4g]) : f16vec4(0.0);
                    uint base = k * uint(BM) + 4u * m4;
                    As[base] = val.x;
                    As[base + 1u] = val.y;
                    As[base + 2u] = val.z;
                    As[base + 3u] = val.w;
                }
            }
            barrier();
            if (mma) {
                MAT_B b[TNT];
                [[unroll]] for (int j = 0; j < TNT; j++) LOAD_ROW_MAJOR(b[j], Bs, (sn * uint(TNT) + uint(j)) * 16u, uint(BN));
                [[unroll]] for (int i = 0; i < TMT; i++) {
                    MAT_A am;
                    LOAD_COL_MAJOR(am, As, (sm * uint(TMT) + uint(i)) * 16u, uint(BM));
                    [[unroll]] for (int j = 0; j < TNT; j++) acc[i][j] = MUL_ADD(am, b[j], acc[i][j]);
                }
            }
            barrier();
        }
    }

    // Epilogue, one tile at a time through the subgroup's scratch: + bias (+ residual) in fp32, one rounding to fp16,
    // store into the (possibly strided) output view.
    if (!mma) return;
    const uint scratch = sg * 256u;
    [[unroll]] for (int i = 0; i < TMT; i++) {
        [[unroll]] for (int j = 0; j < TNT; j++) {
            STORE_ROW_MAJOR(acc[i][j], Cs, scratch, 16u);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            for (uint e = gl_SubgroupInvocationID; e < 256u; e += gl_SubgroupSize) {
                uint m = m0 + (sm * uint(TMT) + uint(i)) * 16u + e / 16u;
                uint nn = n0 + (sn * uint(TNT) + uint(j)) * 16u + e % 16u;
                if (m >= p.cout || nn >= p.n) continue;
                uint t = nn / howo;
                uint r = nn - t * howo;
                float val = Cs[scratch + e];
                if (p.biasBase4 != 0xFFFFFFFFu) val += float(wData[p.biasBase4 + m / 4u][m % 4u]);
                if (p.hasRes != 0u) val += float(resData[p.rBase + t * p.rFrame + m * howo + r]);
                yData[p.yBase + t * p.yFrame + m * howo + r] = float16_t(val);
            }
            subgroupMemoryBarrierShared();
            subgroupBarrier();
        }
    }
}
