#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

//! variant texel: -DWFVAE_TEXEL=1
//! fp16

// Attention core of AttnBlock3DFix (docs/model.md#attention), flash style, per frame:
//   O[:, n] = sum_j softmax_j(q_n . k_j * scale) v_j,   tokens n = y * W + x, N = H * W.
// q, k, v, o are [T][C][H][W] views: token n, channel c of frame t at base + t * frameStride + c * N + n.
//
// One workgroup = BQ = 16 queries of one frame (grid: ceil(N / 16) x T). It walks the keys in blocks of
// BK = 256 (one key per invocation), in order, never materialising the N x N scores:
//   1. Scores: invocation lid owns key k0 + lid and computes its 16 scores s[q] = Q_q . K_k, over channel
//      chunks of CK; the Q chunk [CK][16] is staged in shared memory (read uniformly by all invocations),
//      K is read straight from memory (consecutive keys across invocations). 16 FMAs per K load.
//   2. Online softmax, base 2 with the scale folded in: row maxima and row sums over the block are reduced
//      in a fixed two-level order (16 partials of 16 keys, by 64 invocations of 4 rows each, then the 16
//      partials, by 16 invocations of one row each); per row
//      m' = max(m, block max), alpha = 2^(m − m'), p = 2^(s − m'), l = l·alpha + Σp.
//   3. acc = acc·alpha + P V: invocation lid owns output channels lid, lid + 256, ... (ACCC = ceil(C / 256))
//      of all 16 queries (16·ACCC accumulators in registers); for each key in order it loads its V values
//      and reads the 16 probabilities of that key uniformly from shared memory. 16 FMAs per V load.
// Every sum runs in a fixed order that depends only on N and C, so a frame's result does not depend on
// the number of frames in the dispatch (streamed == whole clip, bit for bit).
//
// Shared memory holds the scores and probabilities key-major as vec4s of 4 queries (Pk[key][q / 4]), the partial
// results row-major (red[q][rs]) and the row state as vec4s: on llvmpipe every shared-memory access is a loop over the
// SIMD lanes that LLVM unrolls, and compiling ~170 scalar accesses took 2.5 s on Mesa 25 (a cold start's longest
// compile); vec4 accesses need about half as many. (CK·16 + 16·256 + 16·16 + 48) floats ≤ 21.2 KiB (< 32 KiB of
// lavapipe).
//
// Variant attention_texel (-DWFVAE_TEXEL=1), for CPU drivers, where storage-buffer and shared-memory loads are loops
// over the SIMD lanes and texel fetches gathers: q, k and v are read through R32F (R16F) texel views, and step 1 reads
// the 16 query values of a channel straight from the texel view instead of staging them in shared memory. Without
// that staging step 1 has no barrier, so invocations whose key is past N skip it (a loop with no iterations: on
// llvmpipe a SIMD row of such invocations then does nothing, where it used to run all C channels; at N = 64 tokens
// three quarters of the workgroup). The same values enter the same fma chains in the same order: both variants give
// the same bits.

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint C = 64;    // channels
layout(constant_id = 1) const int ACCC = 1;   // ceil(C / 256): output channels per invocation
layout(constant_id = 2) const uint CK = 64;   // channels per staged Q chunk (≤ 64)

#define WG 256u
#define BQ 16
#define BK 256u
#define NEG (-1.0e30)

#ifdef WFVAE_TEXEL
layout(binding = 0) uniform textureBuffer qTex;
layout(binding = 1) uniform textureBuffer kTex;
layout(binding = 2) uniform textureBuffer vTex;
#else
layout(std430, binding = 0) readonly buffer Q { ELEM qs[]; };
layout(std430, binding = 1) readonly buffer K { ELEM ks[]; };
layout(std430, binding = 2) readonly buffer V { ELEM vs[]; };
#endif
layout(std430, binding = 3) buffer O { ELEM os[]; };

// Element access in one place, so the fp16-storage and texel variants only change these.
#ifdef WFVAE_TEXEL
#define LOAD_Q(i) texelFetch(qTex, int(i)).x
#define LOAD_K(i) texelFetch(kTex, int(i)).x
#define LOAD_V(i) texelFetch(vTex, int(i)).x
#else
#define LOAD_Q(i) float(qs[i])
#define LOAD_K(i) float(ks[i])
#define LOAD_V(i) float(vs[i])
#endif
#define STORE_O(i, v) os[i] = ELEM(v)

layout(push_constant) uniform Push {
    uint qBase, qFrame;
    uint kBase, kFrame;
    uint vBase, vFrame;
    uint oBase, oFrame;
    uint N;
    float scaleLog2;  // scale * log2(e)
} p;

#ifndef WFVAE_TEXEL
shared float Qs[64 * BQ];       // Q chunk [CK][BQ] (staged for step 1)
#endif
shared vec4 Pk[BK * 4];         // scores, then probabilities [BK][BQ / 4]
shared vec4 red4[BQ * 4];       // partial row maxima / sums [BQ][16 / 4]
shared vec4 rowM4[BQ / 4];
shared vec4 rowA4[BQ / 4];
shared vec4 rowL4[BQ / 4];

void main()
{
    uint lid = gl_LocalInvocationIndex;
    uint t = gl_WorkGroupID.y;
    uint q0 = gl_WorkGroupID.x * uint(BQ);
    uint N = p.N;
    uint qb = p.qBase + t * p.qFrame;
    uint kb = p.kBase + t * p.kFrame;
    uint vb = p.vBase + t * p.vFrame;

    float acc[BQ * ACCC];
    [[unroll]] for (int i = 0; i < BQ * ACCC; i++) acc[i] = 0.0;
    if (lid < uint(BQ / 4))
    {
        rowM4[lid] = vec4(NEG);
        rowL4[lid] = vec4(0.0);
    }

    // Block reduction lanes (lid < 64): rows 4g .. 4g + 3, keys rs * 16 .. rs * 16 + 15 of the block.
    const uint g = lid & 3u, rs = lid >> 2u;
    const bool reducer = lid < 64u;
#ifdef WFVAE_TEXEL
    // Query values past N read as zeros, as the plain variant's staged chunk holds them.
    bool qOk[BQ];
    [[unroll]] for (int q = 0; q < BQ; q++) qOk[q] = q0 + uint(q) < N;
#endif

    for (uint k0 = 0u; k0 < N; k0 += BK)
    {
        uint k = k0 + lid;
        bool kValid = k < N;

        // ---- 1. scores of key k against the 16 queries
        float s[BQ];
        [[unroll]] for (int q = 0; q < BQ; q++) s[q] = 0.0;
#ifdef WFVAE_TEXEL
        // Keys past N run no iterations.
        const uint cEnd = kValid ? C : 0u;
        barrier(); // the previous block's P V reads of Pk are done (the plain variant's Q staging barrier does this)
        for (uint c = 0u; c < cEnd; c++)
        {
            float kv = LOAD_K(kb + c * N + k);
            [[unroll]] for (int q = 0; q < BQ; q++)
            {
                float qv = qOk[q] ? LOAD_Q(qb + c * N + min(q0 + uint(q), N - 1u)) : 0.0; // in bounds either way
                s[q] = fma(qv, kv, s[q]);
            }
        }
#else
        for (uint c0 = 0u; c0 < C; c0 += CK)
        {
            barrier(); // Qs is free
            for (uint e = lid; e < CK * uint(BQ); e += WG)
            {
                uint cc = e / uint(BQ), qq = e % uint(BQ);
                uint c = c0 + cc, qn = q0 + qq;
                Qs[e] = (c < C && qn < N) ? LOAD_Q(qb + c * N + qn) : 0.0;
            }
            barrier();
            uint cn = min(CK, C - c0);
            for (uint cc = 0u; cc < cn; cc++)
            {
                float kv = kValid ? LOAD_K(kb + (c0 + cc) * N + k) : 0.0;
                [[unroll]] for (int q = 0; q < BQ; q++) s[q] = fma(Qs[cc * uint(BQ) + uint(q)], kv, s[q]);
            }
        }
#endif
        [[unroll]] for (int q = 0; q < BQ; q++) s[q] = kValid ? s[q] * p.scaleLog2 : NEG;
        [[unroll]] for (int i = 0; i < BQ / 4; i++) Pk[lid * 4u + uint(i)] = vec4(s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]);
        barrier();

        // ---- 2. online softmax: block maxima
        if (reducer)
        {
            vec4 mx = vec4(NEG);
            for (uint j = 0u; j < 16u; j++) mx = max(mx, Pk[(rs * 16u + j) * 4u + g]);
            [[unroll]] for (int c = 0; c < 4; c++) red4[(4u * g + uint(c)) * 4u + (rs >> 2u)][rs & 3u] = mx[c];
        }
        barrier();
        if (lid < uint(BQ))
        {
            float mOld = rowM4[lid >> 2u][lid & 3u];
            float mx = mOld;
            [[unroll]] for (int i = 0; i < 4; i++)
            {
                vec4 r = red4[lid * 4u + uint(i)];
                mx = max(mx, r.x); mx = max(mx, r.y); mx = max(mx, r.z); mx = max(mx, r.w);
            }
            rowA4[lid >> 2u][lid & 3u] = exp2(mOld - mx);
            rowM4[lid >> 2u][lid & 3u] = mx;
        }
        barrier();
        [[unroll]] for (int i = 0; i < BQ / 4; i++)
            Pk[lid * 4u + uint(i)] = exp2(vec4(s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]) - rowM4[i]);
        barrier();
        if (reducer)
        {
            vec4 sum = vec4(0.0);
            for (uint j = 0u; j < 16u; j++) sum += Pk[(rs * 16u + j) * 4u + g];
            [[unroll]] for (int c = 0; c < 4; c++) red4[(4u * g + uint(c)) * 4u + (rs >> 2u)][rs & 3u] = sum[c];
        }
        [[unroll]] for (int i = 0; i < BQ / 4; i++)
        {
            vec4 a = rowA4[i];
            [[unroll]] for (int j = 0; j < ACCC; j++)
            {
                acc[(4 * i) * ACCC + j] *= a.x;
                acc[(4 * i + 1) * ACCC + j] *= a.y;
                acc[(4 * i + 2) * ACCC + j] *= a.z;
                acc[(4 * i + 3) * ACCC + j] *= a.w;
            }
        }
        barrier();
        if (lid < uint(BQ))
        {
            float sum = 0.0;
            [[unroll]] for (int i = 0; i < 4; i++)
            {
                vec4 r = red4[lid * 4u + uint(i)];
                sum += r.x; sum += r.y; sum += r.z; sum += r.w;
            }
            rowL4[lid >> 2u][lid & 3u] = rowL4[lid >> 2u][lid & 3u] * rowA4[lid >> 2u][lid & 3u] + sum;
        }

        // ---- 3. acc += P V, keys in order
        uint kn = min(BK, N - k0);
        for (uint kk = 0u; kk < kn; kk++)
        {
            float v[ACCC];
            [[unroll]] for (int j = 0; j < ACCC; j++)
            {
                uint c = lid + WG * uint(j);
                v[j] = c < C ? LOAD_V(vb + c * N + k0 + kk) : 0.0;
            }
            [[unroll]] for (int i = 0; i < BQ / 4; i++)
            {
                vec4 pq = Pk[kk * 4u + uint(i)];
                [[unroll]] for (int c = 0; c < 4; c++)
                    [[unroll]] for (int j = 0; j < ACCC; j++) acc[(4 * i + c) * ACCC + j] = fma(pq[c], v[j], acc[(4 * i + c) * ACCC + j]);
            }
        }
    }

    barrier();
    [[unroll]] for (int i = 0; i < BQ / 4; i++)
    {
        vec4 l = rowL4[i];
        [[unroll]] for (int c = 0; c < 4; c++)
        {
            uint qn = q0 + uint(4 * i + c);
            if (qn < N)
            {
                float inv = 1.0 / l[c];
                [[unroll]] for (int j = 0; j < ACCC; j++)
                {
                    uint ch = lid + WG * uint(j);
                    if (ch < C) STORE_O(p.oBase + t * p.oFrame + ch * N + qn, acc[(4 * i + c) * ACCC + j] * inv);
                }
            }
        }
    }
}
