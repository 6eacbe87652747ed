#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

//! variant texel: -DWFVAE_TEXEL=1
//! variant texel_rows: -DWFVAE_TEXEL=1 -DWFVAE_TEXEL_ROWS=1
//! variant texel_pointwise: -DWFVAE_TEXEL=1 -DWFVAE_TEXEL_POINTWISE=1
//! fp16

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
// positions); invocation (mi, ni) owns channels m0 + mi*TM + i and positions n0 + ni*TN + j. K advances in chunks of
// BK input channels of one tap, staged in shared memory (weights Ws[BK][BM], gathered input Xs[BK][BN]) as vec4s:
// TM and TN are multiples of 4 and every shared/weight access moves a vec4 (on lavapipe each memory instruction is a
// loop over the SIMD lanes, so wide accesses matter as much as register blocking; on GPUs they are 128-bit accesses
// that consecutive invocations make at consecutive addresses).
//
// Bit-exactness (docs/model.md#exactness): every output element accumulates with one fma chain in the same K order
// (tap-major, input channel ascending), independent of the tile it falls in and of the number of frames of the
// dispatch; padded positions contribute exact zeros. Bias and residual are added after the chain.
//
// Element loads/stores go through load*/storeY helpers: ELEM storage (float or float16_t, common.glsl), fp32
// arithmetic. The texel variant reads halves through R16F/RGBA16F views, which widen in the fetch.
//
// Four variants from this one file (the //! lines above; each also in fp16, "<name>_f16.spv"):
//  - conv.spv (default): the shared-memory tiled kernel above, for GPUs.
//  - conv_texel.spv (-DWFVAE_TEXEL=1): for CPU drivers (lavapipe). There every storage-buffer and shared-memory access
//    is a scalar loop over the SIMD lanes with a branch per lane, while texel fetches are branch-free gathers whose
//    cost is per fetch, not per component. So: no shared memory; past and x are R32F texel buffers (one gather per
//    input value for 8 lanes), the packed weights an RGBA32F texel buffer (4 output channels per fetch). Lanes are 8
//    consecutive output positions; with SG8 each lane fetches the weights of one of 8 consecutive input channels
//    and the subgroup shares them by subgroupBroadcast (the weights are the same for every lane). Invocation (mi, ni)
//    owns TM channels m0 + mi*TM + i and TN positions n0 + (ni/8)*8*TN + 8*j + ni%8. The fma chain per output
//    (tap-major, input channel ascending, padding as exact +0 inputs) is the same as above: both variants give the
//    same bits.
//  - conv_texel_rows.spv (-DWFVAE_TEXEL=1 -DWFVAE_TEXEL_ROWS=1): the texel kernel for kw = 3, spatial stride 1 and
//    rows of 16+ output columns (the large layers on lavapipe). An invocation computes TM output channels x TN
//    CONSECUTIVE columns of one output row (a "segment"; a row has ceil(wo/TN) segments, the last one partial). For
//    each (a, u) of the kernel and input channel ci it fetches the TN + 2 inputs of the row window once and applies the
//    3 horizontal taps from registers: TN + 2 input fetches and 3*TM/4 weight fetches feed 3*TM*TN FMAs (conv_texel:
//    one input fetch per position per tap). Lanes are 8 consecutive segments (WGN a multiple of 8), invocation
//    (mi, ni) owns channels m0 + mi*TM + i and segment s0 + ni. BK is unused.
//    Bit-exactness: every output still accumulates in ONE fixed fma chain, but in (a, u, ci ascending, v) order
//    instead of (a, u, v, ci): results are NOT bit-identical to conv.spv / conv_texel.spv (a few ulp apart). They
//    are identical between streamed and whole-clip runs because the host picks this kernel from the layer's shape
//    (kernel, strides, Cout, H, W), never from the number of frames of a dispatch, and an output's chain does not
//    depend on the segment grouping. The 3 taps of one accumulator are applied back to back (v innermost), so
//    llvmpipe's spilled accumulators are loaded and stored once per 3 FMAs (with v outermost the kernel was slower
//    than conv_texel on 16x16 layers).
//  - conv_texel_pointwise.spv (-DWFVAE_TEXEL=1 -DWFVAE_TEXEL_POINTWISE=1): 1x1x1 convs at stride 1 without past frames
//    on CPU drivers, where x's layout allows vec4 reads (conv_pointwise.glsl): a GEMM with vec4 accumulators of 4
//    consecutive positions, x fetched 4 positions at a time, K in unrolled steps of BK channels. Same fma chain as
//    conv.spv and conv_texel.spv: identical bits.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const int WG = 64;   // invocations per workgroup (= WGM * WGN)
layout(constant_id = 1) const int WGN = 8;   // invocations along N
layout(constant_id = 2) const int TM = 4;    // output channels per invocation (multiple of 4)
layout(constant_id = 3) const int TN = 4;    // output positions per invocation (multiple of 4)
layout(constant_id = 4) const int BK = 16;   // input channels per K chunk
// SG8 = 1: subgroups are 8 invocations that share mi (WGN a multiple of 8, BK a multiple of 8). Lane l then reads
// weight row k8 + l once and the other lanes get it by subgroupBroadcast, instead of all 8 lanes reading every row
// (lavapipe: one memory instruction instead of eight; bits are unchanged).
layout(constant_id = 5) const int SG8 = 0;

const int WGM = WG / WGN;
const int BM = WGM * TM;
const int BN = WGN * TN;
const int BM4 = BM / 4;
const int BN4 = BN / 4;
const int TM4 = TM / 4;
const int TN4 = TN / 4;
const int XPASS = (BK * BN4 + WG - 1) / WG; // shared-memory fill passes (one vec4 each) for the input tile
const int WPASS = (BK * BM4 + WG - 1) / WG; // ... and for the weight tile

#if defined(WFVAE_TEXEL_POINTWISE)
// No past (1x1x1 kernels read no earlier frames): four bindings.
layout(binding = 0) uniform textureBuffer xTex4;    // RGBA32F (RGBA16F with WFVAE_F16) view of x's block
layout(binding = 1) uniform textureBuffer wTex;     // RGBA32F (RGBA16F) view: [Cin][CoutPad4], then bias[CoutPad4]
layout(std430, binding = 2) readonly buffer Res { ELEM4 resData4[]; };   // read and stored 4 positions at a time
layout(std430, binding = 3) buffer Y { ELEM4 yData4[]; };
#else
#ifdef WFVAE_TEXEL
layout(binding = 0) uniform textureBuffer pastTex;  // R32F (R16F with WFVAE_F16) view of past's block
layout(binding = 1) uniform textureBuffer xTex;     // R32F view of x's block
layout(binding = 2) uniform textureBuffer wTex;     // RGBA32F (RGBA16F) view: [taps][Cin][CoutPad4], then bias[CoutPad4]
#else
layout(std430, binding = 0) readonly buffer Past { ELEM pastData[]; };
layout(std430, binding = 1) readonly buffer X { ELEM xData[]; };
layout(std430, binding = 2) readonly buffer Wt { ELEM4 wData[]; };   // [taps][Cin][CoutPad4], then bias[CoutPad4]
#endif
layout(std430, binding = 3) readonly buffer Res { ELEM resData[]; };
layout(std430, binding = 4) buffer Y { ELEM yData[]; };
#endif

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
    uint wBase4;               // vec4 index of the packed weights in wData
    uint cout4;                // CoutPad4 / 4: vec4s per weight row
    uint biasBase4;            // vec4 index of bias[0]; ~0u: no bias
} p;

#if !defined(WFVAE_TEXEL_POINTWISE)
float loadRes(uint i) { return float(resData[i]); }
void storeY(uint i, float v) { yData[i] = ELEM(v); }
#endif

#if defined(WFVAE_TEXEL_POINTWISE)
#include "conv_pointwise.glsl"
#elif defined(WFVAE_TEXEL)
float loadPast(uint i) { return texelFetch(pastTex, int(i)).x; }
float loadX(uint i) { return texelFetch(xTex, int(i)).x; }
vec4 loadW4(uint i) { return texelFetch(wTex, int(i)); }

#ifdef WFVAE_TEXEL_ROWS
const int KW = 3;            // horizontal taps (the host only picks this kernel for kw = 3, spatial stride 1)
const int WIN = TN + KW - 1; // inputs of one row window

void main()
{
    const uint lid = gl_LocalInvocationIndex;
    const uint mi = lid / WGN;
    const uint ni = lid % WGN;
    const uint gTile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint segRow = (p.wo + uint(TN) - 1u) / uint(TN);   // segments per output row
    const uint rows = p.n / p.wo;                            // output rows of all frames (Tout * ho)
    const uint nseg = rows * segRow;
    if (gTile * uint(WGN) >= nseg) return; // whole workgroup: uniform
    const uint seg = gTile * uint(WGN) + ni;
    const bool segOk = seg < nseg;
    const uint row = segOk ? seg / segRow : 0u;
    const uint xs = (seg - (seg / segRow) * segRow) * uint(TN);  // first output column of the segment
    const uint t = row / p.ho;
    const uint yo = row - t * p.ho;
    const uint m0 = gl_WorkGroupID.z * BM + mi * TM;

    const uint hw = p.h * p.w;
    // Column validity of the window: input column xs - padLeft + e.
    bool colOk[WIN];
    [[unroll]] for (int e = 0; e < WIN; e++) {
        int ix = int(xs) - int(p.padLeft) + e;
        colOk[e] = ix >= 0 && ix < int(p.w);
    }

    float acc[TM][TN];
    [[unroll]] for (int i = 0; i < TM; i++)
        [[unroll]] for (int j = 0; j < TN; j++) acc[i][j] = 0.0;

    uint wCol[TM4];
    [[unroll]] for (int i = 0; i < TM4; i++) wCol[i] = min(m0 / 4u + uint(i), p.cout4 - 1u);
    const uint tapStride = p.cin * p.cout4;   // vec4s between taps (a, u, v) and (a, u, v + 1)
    for (uint a = 0; a < p.kt; a++) {
        const uint vf = t * p.st + a;
        const bool isPast = vf < p.pastT;
        for (uint u = 0; u < p.kh; u++) {
            const int iy = int(yo) + int(u) - int(p.padTop);
            const bool rowOk = segOk && iy >= 0 && iy < int(p.h);
            // Element of window column 0 (without ci*hw); windows outside the frame read texel 0 and become zeros.
            const int rowBase = (isPast ? int(p.pastBase + vf * p.pastFrame) : int(p.xBase + (vf - p.pastT) * p.xFrame))
                              + iy * int(p.w) + int(xs) - int(p.padLeft);
            uint off[WIN];
            bool ok[WIN];
            [[unroll]] for (int e = 0; e < WIN; e++) {
                ok[e] = rowOk && colOk[e];
                off[e] = ok[e] ? uint(rowBase + e) : 0u;
            }
            const bool anyPast = subgroupAny(rowOk && isPast);
            const bool anyX = subgroupAny(rowOk && !isPast);
            const uint wRow = p.wBase4 + ((a * p.kh + u) * uint(KW)) * tapStride;

#define ROW_STEP(SRC) \
            for (uint ci = 0; ci < p.cin; ci++) { \
                float xv[WIN]; \
                [[unroll]] for (int e = 0; e < WIN; e++) { \
                    uint idx = off[e] + ci * hw; \
                    float f = SRC == 0 ? loadX(idx) : SRC == 1 ? loadPast(idx) : (isPast ? loadPast(idx) : loadX(idx)); \
                    xv[e] = ok[e] ? f : 0.0; \
                } \
                const uint wc = wRow + ci * p.cout4; \
                [[unroll]] for (int i = 0; i < TM4; i++) { \
                    vec4 wv[KW]; \
                    [[unroll]] for (int v = 0; v < KW; v++) wv[v] = loadW4(wc + uint(v) * tapStride + wCol[i]); \
                    /* v innermost: each accumulator takes its 3 taps back to back (one spill load/store per 3 fmas) */ \
                    [[unroll]] for (int c = 0; c < 4; c++) \
                        [[unroll]] for (int j = 0; j < TN; j++) { \
                            float s = acc[4 * i + c][j]; \
                            [[unroll]] for (int v = 0; v < KW; v++) s = fma(wv[v][c], xv[j + v], s); \
                            acc[4 * i + c][j] = s; \
                        } \
                } \
            }
            if (!anyPast) {
                ROW_STEP(0)
            } else if (!anyX) {
                ROW_STEP(1)
            } else {
                ROW_STEP(2)
            }
#undef ROW_STEP
        }
    }

    // Epilogue: + bias (+ residual), store into the (possibly strided) output view.
    if (!segOk) return;
    const uint howo = p.ho * p.wo;
    const uint r0 = yo * p.wo + xs;
    [[unroll]] for (int j = 0; j < TN; j++) {
        if (xs + uint(j) >= p.wo) continue;
        uint r = r0 + uint(j);
        [[unroll]] for (int i = 0; i < TM; i++) {
            uint m = m0 + uint(i);
            if (m >= p.cout) continue;
            float val = acc[i][j];
            if (p.biasBase4 != 0xFFFFFFFFu) val += loadW4(p.biasBase4 + m / 4u)[m % 4u];
            if (p.hasRes != 0u) val += loadRes(p.rBase + t * p.rFrame + m * howo + r);
            storeY(p.yBase + t * p.yFrame + m * howo + r, val);
        }
    }
}

#else
void main()
{
    const uint lid = gl_LocalInvocationIndex;
    const uint mi = lid / WGN;
    const uint ni = lid % WGN;
    const uint nTile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    const uint n0 = nTile * BN + (ni / 8u) * 8u * TN + ni % 8u;   // this invocation's first position; then +8 per j
    const uint m0 = gl_WorkGroupID.z * BM + mi * TM;             // its first channel
    if (nTile * BN >= p.n) return; // whole workgroup: uniform

    const uint hw = p.h * p.w;
    const uint howo = p.ho * p.wo;
    int posT[TN], posY[TN], posX[TN];
    bool posOk[TN];
    [[unroll]] for (int j = 0; j < TN; j++) {
        uint nn = n0 + 8u * uint(j);
        posOk[j] = nn < p.n;
        uint t = nn / howo;
        uint r = nn - t * howo;
        uint yo = r / p.wo;
        uint xo = r - yo * p.wo;
        posT[j] = int(t * p.st);
        posY[j] = int(yo * p.sh) - int(p.padTop);
        posX[j] = int(xo * p.sh) - int(p.padLeft);
    }

    float acc[TM][TN];
    [[unroll]] for (int i = 0; i < TM; i++)
        [[unroll]] for (int j = 0; j < TN; j++) acc[i][j] = 0.0;

    const uint lane = gl_SubgroupInvocationID;
    // Weight column (vec4 of output channels) of accumulator row group i; clamped into the packed row so tiles that
    // run past Cout read valid texels (those accumulators are never stored).
    uint wCol[TM4];
    [[unroll]] for (int i = 0; i < TM4; i++) wCol[i] = min(m0 / 4u + uint(i), p.cout4 - 1u);
    const uint taps = p.kt * p.kh * p.kw;
    for (uint tap = 0; tap < taps; tap++) {
        const uint a = tap / (p.kh * p.kw);
        const uint uv = tap - a * (p.kh * p.kw);
        const uint u = uv / p.kw;
        const uint v = uv - u * p.kw;
        // Source element (without ci*hw) of each position for this tap; padded positions read texel 0 and are
        // replaced by exact zeros.
        uint srcOff[TN];
        bool srcPast[TN], srcOk[TN];
        bool anyPast = false, anyX = false;
        [[unroll]] for (int j = 0; j < TN; j++) {
            int iy = posY[j] + int(u);
            int ix = posX[j] + int(v);
            uint vf = uint(posT[j]) + a;
            srcOk[j] = posOk[j] && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
            srcPast[j] = vf < p.pastT;
            uint sp = uint(iy) * p.w + uint(ix);
            srcOff[j] = !srcOk[j] ? 0u : srcPast[j] ? p.pastBase + vf * p.pastFrame + sp : p.xBase + (vf - p.pastT) * p.xFrame + sp;
            anyPast = anyPast || (srcOk[j] && srcPast[j]);
            anyX = anyX || (srcOk[j] && !srcPast[j]);
        }
        // Only fetch from the sources some lane needs (uniform: usually one of the two).
        anyPast = subgroupAny(anyPast);
        anyX = subgroupAny(anyX);
        const uint wTap = p.wBase4 + tap * p.cin * p.cout4;

        // Inputs of input channel CI at this invocation's positions. SRC: 0 = every source is x, 1 = every source is
        // past, 2 = mixed (both fetched, one selected); padded positions read exact zeros.
#define TEXEL_INPUTS(CI, SRC) \
        float xv[TN]; \
        [[unroll]] for (int j = 0; j < TN; j++) { \
            uint idx = srcOff[j] + (CI) * hw; \
            float f = SRC == 0 ? loadX(idx) : SRC == 1 ? loadPast(idx) : (srcPast[j] ? loadPast(idx) : loadX(idx)); \
            xv[j] = srcOk[j] ? f : 0.0; \
        }
        // Full chunks of 8 input channels first, without any condition inside (llvmpipe executes conditional
        // blocks with lane masks: every accumulator update would become a blend), then the remaining channels.
#define TEXEL_STEP(S, SRC) \
            { \
                TEXEL_INPUTS(c0 + S, SRC) \
                [[unroll]] for (int i = 0; i < TM4; i++) { \
                    vec4 wv = subgroupBroadcast(wl[i], S); \
                    [[unroll]] for (int c = 0; c < 4; c++) \
                        [[unroll]] for (int j = 0; j < TN; j++) acc[4 * i + c][j] = fma(wv[c], xv[j], acc[4 * i + c][j]); \
                } \
            }
#define TEXEL_TAP(SRC) \
        for (uint c0 = 0; c0 < cinFull; c0 += 8u) { \
            vec4 wl[TM4]; /* lane l fetches the weight rows of input channel c0 + l */ \
            [[unroll]] for (int i = 0; i < TM4; i++) wl[i] = loadW4(wTap + (c0 + lane) * p.cout4 + wCol[i]); \
            TEXEL_STEP(0, SRC) TEXEL_STEP(1, SRC) TEXEL_STEP(2, SRC) TEXEL_STEP(3, SRC) \
            TEXEL_STEP(4, SRC) TEXEL_STEP(5, SRC) TEXEL_STEP(6, SRC) TEXEL_STEP(7, SRC) \
        } \
        for (uint ci = cinFull; ci < p.cin; ci++) { \
            TEXEL_INPUTS(ci, SRC) \
            [[unroll]] for (int i = 0; i < TM4; i++) { \
                vec4 wv = loadW4(wTap + ci * p.cout4 + wCol[i]); \
                [[unroll]] for (int c = 0; c < 4; c++) \
                    [[unroll]] for (int j = 0; j < TN; j++) acc[4 * i + c][j] = fma(wv[c], xv[j], acc[4 * i + c][j]); \
            } \
        }
        const uint cinFull = SG8 != 0 ? p.cin / 8u * 8u : 0u;
        if (!anyPast) {
            TEXEL_TAP(0)
        } else if (!anyX) {
            TEXEL_TAP(1)
        } else {
            TEXEL_TAP(2)
        }
#undef TEXEL_TAP
#undef TEXEL_STEP
#undef TEXEL_INPUTS
    }

    // Epilogue: + bias (+ residual), store into the (possibly strided) output view.
    [[unroll]] for (int j = 0; j < TN; j++) {
        uint nn = n0 + 8u * uint(j);
        if (nn >= p.n) continue;
        uint t = nn / howo;
        uint r = nn - t * howo;
        [[unroll]] for (int i = 0; i < TM; i++) {
            uint m = m0 + uint(i);
            if (m >= p.cout) continue;
            float val = acc[i][j];
            if (p.biasBase4 != 0xFFFFFFFFu) val += loadW4(p.biasBase4 + m / 4u)[m % 4u];
            if (p.hasRes != 0u) val += loadRes(p.rBase + t * p.rFrame + m * howo + r);
            storeY(p.yBase + t * p.yFrame + m * howo + r, val);
        }
    }
}

#endif // WFVAE_TEXEL_ROWS

#else
shared vec4 Ws[BK * BM4];
shared vec4 Xs[BK * BN4];

float loadPast(uint i) { return float(pastData[i]); }
float loadX(uint i) { return float(xData[i]); }
vec4 loadW4(uint i) { return vec4(wData[i]); }

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

    // Input-tile fill: pass q fills vec4 e = lid + q*WG of Xs: row e / BN4, columns 4*(e % BN4) .. +3. Decode the
    // output position of each of those columns once.
    int colT[XPASS][4], colY[XPASS][4], colX[XPASS][4];
    bool colOk[XPASS][4];
    for (int q = 0; q < XPASS; q++) {
        uint e = lid + uint(q * WG);
        for (int c = 0; c < 4; c++) {
            uint nn = n0 + (e % BN4) * 4u + uint(c);
            colOk[q][c] = e < uint(BK * BN4) && nn < p.n;
            uint t = nn / howo;
            uint r = nn - t * howo;
            uint yo = r / p.wo;
            uint xo = r - yo * p.wo;
            colT[q][c] = int(t * p.st);
            colY[q][c] = int(yo * p.sh) - int(p.padTop);
            colX[q][c] = int(xo * p.sh) - int(p.padLeft);
        }
    }

    vec4 acc[TM][TN4];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN4; j++) acc[i][j] = vec4(0.0);

    const uint taps = p.kt * p.kh * p.kw;
    for (uint tap = 0; tap < taps; tap++) {
        const uint a = tap / (p.kh * p.kw);
        const uint uv = tap - a * (p.kh * p.kw);
        const uint u = uv / p.kw;
        const uint v = uv - u * p.kw;

        // Source of each of this invocation's tile columns for this tap: element offset (without ci*hw) in past
        // or x, or nothing (zero padding / beyond N).
        uint srcOff[XPASS][4];
        bool srcPast[XPASS][4];
        bool srcOk[XPASS][4];
        for (int q = 0; q < XPASS; q++) {
            for (int c = 0; c < 4; c++) {
                int iy = colY[q][c] + int(u);
                int ix = colX[q][c] + int(v);
                uint vf = uint(colT[q][c]) + a;
                srcOk[q][c] = colOk[q][c] && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
                srcPast[q][c] = vf < p.pastT;
                uint sp = uint(iy) * p.w + uint(ix);
                srcOff[q][c] = srcPast[q][c] ? p.pastBase + vf * p.pastFrame + sp : p.xBase + (vf - p.pastT) * p.xFrame + sp;
            }
        }
        const uint wTap = p.wBase4 + tap * p.cin * p.cout4;

        for (uint c0 = 0; c0 < p.cin; c0 += BK) {
            const uint kc = min(uint(BK), p.cin - c0);
            // Fill the input tile.
            for (int q = 0; q < XPASS; q++) {
                uint e = lid + uint(q * WG);
                if (e < uint(BK * BN4)) {
                    uint ci = c0 + e / BN4;
                    vec4 val = vec4(0.0);
                    if (ci < p.cin) {
                        for (int c = 0; c < 4; c++) {
                            if (srcOk[q][c]) {
                                uint idx = srcOff[q][c] + ci * hw;
                                val[c] = srcPast[q][c] ? loadPast(idx) : loadX(idx);
                            }
                        }
                    }
                    Xs[e] = val;
                }
            }
            // Fill the weight tile: Ws[r][c4] = W[tap][c0 + r][m0 + 4*c4 .. +3] (zero rows beyond Cin; columns beyond
            // Cout are zero in the packed weights up to CoutPad4, and tiles beyond that are never stored).
            for (int q = 0; q < WPASS; q++) {
                uint e = lid + uint(q * WG);
                if (e < uint(BK * BM4)) {
                    uint ci = c0 + e / BM4;
                    uint m4 = m0 / 4u + e % BM4;
                    Ws[e] = (ci < p.cin && m4 < p.cout4) ? loadW4(wTap + ci * p.cout4 + m4) : vec4(0.0);
                }
            }
            barrier();

            if (SG8 != 0) {
                const uint lane = gl_SubgroupInvocationID;
                for (int k8 = 0; k8 < BK; k8 += 8) {
                    if (uint(k8) < kc) {
                        vec4 wl[TM4];
                        for (int i = 0; i < TM4; i++) wl[i] = Ws[(uint(k8) + lane) * BM4 + mi * TM4 + i];
#define CONV_STEP(S) \
                        if (uint(k8 + S) < kc) { \
                            vec4 bv[TN4]; \
                            for (int j = 0; j < TN4; j++) bv[j] = Xs[(k8 + S) * BN4 + int(ni) * TN4 + j]; \
                            for (int i = 0; i < TM4; i++) { \
                                vec4 wv = subgroupBroadcast(wl[i], S); \
                                for (int c = 0; c < 4; c++) \
                                    for (int j = 0; j < TN4; j++) acc[4 * i + c][j] = fma(vec4(wv[c]), bv[j], acc[4 * i + c][j]); \
                            } \
                        }
                        CONV_STEP(0) CONV_STEP(1) CONV_STEP(2) CONV_STEP(3) CONV_STEP(4) CONV_STEP(5) CONV_STEP(6) CONV_STEP(7)
#undef CONV_STEP
                    }
                }
            } else {
                for (int k = 0; k < BK; k++) {
                    if (uint(k) < kc) {
                        vec4 av[TM4], bv[TN4];
                        for (int i = 0; i < TM4; i++) av[i] = Ws[k * BM4 + int(mi) * TM4 + i];
                        for (int j = 0; j < TN4; j++) bv[j] = Xs[k * BN4 + int(ni) * TN4 + j];
                        for (int i = 0; i < TM; i++)
                            for (int j = 0; j < TN4; j++) acc[i][j] = fma(vec4(av[i / 4][i % 4]), bv[j], acc[i][j]);
                    }
                }
            }
            barrier();
        }
    }

    // Epilogue: + bias (+ residual), store into the (possibly strided) output view.
    for (int j = 0; j < TN; j++) {
        uint nn = n0 + ni * uint(TN) + uint(j);
        if (nn >= p.n) continue;
        uint t = nn / howo;
        uint r = nn - t * howo;
        for (int i = 0; i < TM; i++) {
            uint m = m0 + mi * uint(TM) + uint(i);
            if (m >= p.cout) continue;
            float val = acc[i][j / 4][j % 4];
            if (p.biasBase4 != 0xFFFFFFFFu) val += loadW4(p.biasBase4 + m / 4u)[m % 4u];
            if (p.hasRes != 0u) val += loadRes(p.rBase + t * p.rFrame + m * howo + r);
            storeY(p.yBase + t * p.yFrame + m * howo + r, val);
        }
    }
}
#endif
