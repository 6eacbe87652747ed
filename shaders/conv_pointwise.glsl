// The body of conv_texel_pointwise.spv (conv.comp with -DWFVAE_TEXEL=1 -DWFVAE_TEXEL_POINTWISE=1; included there after
// the bindings and push constants): 1x1x1 convolutions at stride 1 with no past frames on CPU drivers, i.e. the plain
// GEMM  y[m][t][p] = bias[m] (+ residual) + sum over ci of W[ci][m] * x[t][ci][p]  with K = Cin.
//
// conv_texel runs these at 10-25 GFLOP/s on lavapipe: 128 scalar accumulators that llvmpipe keeps in memory, each
// loaded and stored once per input channel for one fma, and one scalar gather per input value. This kernel is laid
// out like winograd_gemm_texel instead: invocation (mi, ni) owns TM output channels x TN CONSECUTIVE positions as vec4
// accumulators acc[TM][TN/4]; x is read through an RGBA32F (RGBA16F) view, one fetch = 4 consecutive positions of one
// channel, the packed weights as in conv_texel (one fetch = 4 output channels); K advances BK channels per unrolled
// step and every accumulator takes its BK fmas back to back, so each spill load/store serves BK fmas.
//
// The host picks it only where every vec4 of x lies in one frame and starts on a texel: x's base element, its frame
// stride and H*W multiples of 4 (so is N = T*H*W). Positions n = t*H*W + p; the TN-column run of an invocation may
// cross frames, but its 4-column groups never do.
//
// Bit-exactness: every output is one fma chain over ci ascending from +0 (products of the same fp32 values), then
// + bias, then + residual, as in conv_texel and conv.spv: the three give identical bits, so the choice between them
// (by layout) never changes a result.

vec4 loadX4(uint i) { return texelFetch(xTex4, int(i)); }
vec4 loadW4(uint i) { return texelFetch(wTex, int(i)); }

void main()
{
    const uint lid = gl_LocalInvocationIndex;
    const uint mi = lid / WGN;
    const uint ni = lid % WGN;
    const uint nTile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (nTile * BN >= p.n) return; // whole workgroup: uniform
    const uint n0 = nTile * BN + ni * TN;             // this invocation's first position
    const uint m0 = gl_WorkGroupID.z * BM + mi * TM;  // its first channel
    const uint hw = p.h * p.w;
    const uint hw4 = hw / 4u;

    // Texel of channel 0 for each 4-column group; groups past N read the last group (never stored).
    uint xOff[TN4];
    [[unroll]] for (int j = 0; j < TN4; j++) {
        uint col = min(n0 + uint(4 * j), p.n - 4u);
        uint t = col / hw;
        xOff[j] = (p.xBase + t * p.xFrame + (col - t * hw)) / 4u;
    }
    // Weight column (vec4 of output channels) of accumulator rows 4i..4i+3, clamped into the packed row.
    uint wCol[TM4];
    [[unroll]] for (int i = 0; i < TM4; i++) wCol[i] = p.wBase4 + min(m0 / 4u + uint(i), p.cout4 - 1u);

    vec4 acc[TM][TN4];
    [[unroll]] for (int i = 0; i < TM; i++)
        [[unroll]] for (int j = 0; j < TN4; j++) acc[i][j] = vec4(0.0);

    const uint kFull = p.cin / uint(BK) * uint(BK);
    for (uint c0 = 0; c0 < kFull; c0 += uint(BK)) {
        vec4 xv[BK][TN4];
        vec4 wv[BK][TM4];
        [[unroll]] for (int k = 0; k < BK; k++)
            [[unroll]] for (int j = 0; j < TN4; j++) xv[k][j] = loadX4(xOff[j] + (c0 + uint(k)) * hw4);
        // (Sharing the weight fetches across the 8 lanes by subgroupBroadcast, as conv_texel's SG8 does, made this
        // kernel 1.7x slower on lavapipe: the fetches are cheaper than the broadcasts.)
        [[unroll]] for (int k = 0; k < BK; k++)
            [[unroll]] for (int i = 0; i < TM4; i++) wv[k][i] = loadW4(wCol[i] + (c0 + uint(k)) * p.cout4);
        // k innermost: each accumulator takes its BK fmas back to back, in ascending channel order.
        [[unroll]] for (int i = 0; i < TM; i++)
            [[unroll]] for (int j = 0; j < TN4; j++) {
                vec4 s = acc[i][j];
                [[unroll]] for (int k = 0; k < BK; k++) s = fma(vec4(wv[k][i / 4][i % 4]), xv[k][j], s);
                acc[i][j] = s;
            }
    }
    for (uint ci = kFull; ci < p.cin; ci++) {
        vec4 xv[TN4];
        [[unroll]] for (int j = 0; j < TN4; j++) xv[j] = loadX4(xOff[j] + ci * hw4);
        [[unroll]] for (int i4 = 0; i4 < TM4; i4++) {
            vec4 w = loadW4(wCol[i4] + ci * p.cout4);
            [[unroll]] for (int c = 0; c < 4; c++)
                [[unroll]] for (int j = 0; j < TN4; j++) acc[4 * i4 + c][j] = fma(vec4(w[c]), xv[j], acc[4 * i4 + c][j]);
        }
    }

    // Epilogue: + bias (+ residual), store into the (possibly strided) output view (ho*wo = hw at stride 1), 4 positions
    // at a time (the host checks that y and the residual are laid out in vec4s like x): a quarter of the per-lane
    // memory loops of scalar stores, which were most of the code LLVM had to compile. Component-wise the same adds.
    [[unroll]] for (int i = 0; i < TM; i++) {
        uint m = m0 + uint(i);
        if (m >= p.cout) continue;
        const bool hasBias = p.biasBase4 != 0xFFFFFFFFu;
        const float b = hasBias ? loadW4(p.biasBase4 + m / 4u)[m % 4u] : 0.0;
        [[unroll]] for (int j = 0; j < TN4; j++) {
            uint col = n0 + uint(4 * j);
            if (col >= p.n) continue;
            uint t = col / hw;
            uint r = col - t * hw;
            vec4 val = acc[i][j];
            if (hasBias) val += vec4(b);
            if (p.hasRes != 0u) val += vec4(resData4[(p.rBase + t * p.rFrame + m * hw + r) / 4u]);
            yData4[(p.yBase + t * p.yFrame + m * hw + r) / 4u] = ELEM4(val);
        }
    }
}
