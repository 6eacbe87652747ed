#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

// Attention core of AttnBlock3DFix (spec §3.6), flash style, per frame:
//   O[:, n] = sum_j softmax_j(q_n . k_j * scale) v_j,   tokens n = y * W + x, N = H * W.
// q, k, v, o are [T][C][H][W] views: token n, channel c of frame t at base + t * frameStride + c * N + n.
//
// One workgroup = BQ queries of one frame (grid: ceil(N / BQ) x T). It walks the keys in blocks of BK,
// in order, never materialising the N x N scores:
//   1. S = Q_blk K_blkᵀ (BQ x BK), accumulated over channel chunks of CK held in shared memory;
//      invocation (qi = lid / 16, ci = lid % 16) owns scores (qi, ci) and (qi, ci + 16).
//   2. Online softmax (base 2, scale folded in): per row, max over the block in key order (one lane per row),
//      alpha = 2^(m_old − m_new), p = 2^(s − m_new), l = l·alpha + Σp (key order).
//   3. acc = acc·alpha + P V_blk: invocation (qi, ci) owns output channels ci, ci + 16, ... of query qi in
//      registers (ACC = ceil(C / 16) floats); V is staged through shared memory KV keys x all C at a time.
// Every sum runs in a fixed order that depends only on N and C, so a frame's result does not depend on
// the number of frames in the dispatch (streamed == whole clip, bit for bit).
//
// Shared memory: 4096 + 512 + 48 floats ≈ 18.6 KiB (< 32 KiB of lavapipe). C, ACC, KV, CK are
// specialization constants chosen by Attention.cs (C ≤ 4096).

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint C = 64;   // channels
layout(constant_id = 1) const int ACC = 4;   // ceil(C / 16): output channels per invocation
layout(constant_id = 2) const uint KV = 32;  // keys of V staged at once: power of two, KV * C <= BUF, KV <= BK
layout(constant_id = 3) const uint CK = 64;  // channels per Q/K chunk: CK * (BQ + BK) <= BUF

#define WG 256u
#define BQ 16u
#define BK 32u
#define BUF 4096u
#define NEG (-1.0e30)

layout(std430, binding = 0) readonly buffer Q { float qs[]; };
layout(std430, binding = 1) readonly buffer K { float ks[]; };
layout(std430, binding = 2) readonly buffer V { float vs[]; };
layout(std430, binding = 3) buffer O { float os[]; };

// Element access in one place, so an fp16-storage variant only changes these.
#define LOAD_Q(i) qs[i]
#define LOAD_K(i) ks[i]
#define LOAD_V(i) vs[i]
#define STORE_O(i, v) os[i] = (v)

layout(push_constant) uniform Push {
    uint qBase, qFrame;
    uint kBase, kFrame;
    uint vBase, vFrame;
    uint oBase, oFrame;
    uint N;
    float scaleLog2;  // scale * log2(e)
} p;

shared float buf[BUF];      // Q chunk [CK][BQ] + K chunk [CK][BK], or V block [KV][C]
shared float Ps[BQ * BK];   // scores, then probabilities
shared float rowM[BQ];
shared float rowA[BQ];
shared float rowL[BQ];

void main()
{
    uint lid = gl_LocalInvocationIndex;
    uint qi = lid >> 4u, ci = lid & 15u;
    uint t = gl_WorkGroupID.y;
    uint q0 = gl_WorkGroupID.x * BQ;
    uint N = p.N;
    uint qb = p.qBase + t * p.qFrame;
    uint kb = p.kBase + t * p.kFrame;
    uint vb = p.vBase + t * p.vFrame;
    const uint KOFF = CK * BQ;

    float acc[ACC];
    [[unroll]] for (int i = 0; i < ACC; i++) acc[i] = 0.0;
    float m = NEG; // running max (meaningful in lanes ci == 0)
    float l = 0.0; // running sum (lanes ci == 0)

    for (uint k0 = 0u; k0 < N; k0 += BK)
    {
        // ---- 1. scores
        float s0 = 0.0, s1 = 0.0;
        for (uint c0 = 0u; c0 < C; c0 += CK)
        {
            barrier(); // buf is free
            for (uint e = lid; e < CK * BQ; e += WG)
            {
                uint cc = e / BQ, qq = e % BQ;
                uint c = c0 + cc, q = q0 + qq;
                buf[e] = (c < C && q < N) ? LOAD_Q(qb + c * N + q) : 0.0;
            }
            for (uint e = lid; e < CK * BK; e += WG)
            {
                uint cc = e / BK, kk = e % BK;
                uint c = c0 + cc, k = k0 + kk;
                buf[KOFF + e] = (c < C && k < N) ? LOAD_K(kb + c * N + k) : 0.0;
            }
            barrier();
            for (uint cc = 0u; cc < CK; cc++)
            {
                float qv = buf[cc * BQ + qi];
                s0 = fma(qv, buf[KOFF + cc * BK + ci], s0);
                s1 = fma(qv, buf[KOFF + cc * BK + ci + 16u], s1);
            }
        }
        s0 = k0 + ci < N ? s0 * p.scaleLog2 : NEG;
        s1 = k0 + ci + 16u < N ? s1 * p.scaleLog2 : NEG;
        Ps[qi * BK + ci] = s0;
        Ps[qi * BK + ci + 16u] = s1;
        barrier();

        // ---- 2. online softmax
        if (ci == 0u)
        {
            float mx = m;
            for (uint kk = 0u; kk < BK; kk++) mx = max(mx, Ps[qi * BK + kk]);
            rowA[qi] = exp2(m - mx);
            rowM[qi] = mx;
            m = mx;
        }
        barrier();
        float mrow = rowM[qi];
        float alpha = rowA[qi];
        Ps[qi * BK + ci] = exp2(s0 - mrow);
        Ps[qi * BK + ci + 16u] = exp2(s1 - mrow);
        barrier();
        if (ci == 0u)
        {
            float sum = 0.0;
            for (uint kk = 0u; kk < BK; kk++) sum += Ps[qi * BK + kk];
            l = l * alpha + sum;
        }
        [[unroll]] for (int i = 0; i < ACC; i++) acc[i] *= alpha;

        // ---- 3. acc += P V
        for (uint kv0 = 0u; kv0 < BK; kv0 += KV)
        {
            barrier(); // buf is free
            for (uint e = lid; e < KV * C; e += WG)
            {
                uint c = e / KV, kk = e % KV;
                uint k = k0 + kv0 + kk;
                buf[kk * C + c] = k < N ? LOAD_V(vb + c * N + k) : 0.0;
            }
            barrier();
            float pk[KV];
            [[unroll]] for (uint kk = 0u; kk < KV; kk++) pk[kk] = Ps[qi * BK + kv0 + kk];
            [[unroll]] for (int i = 0; i < ACC; i++)
            {
                uint c = ci + 16u * uint(i);
                if (c < C)
                {
                    float a = acc[i];
                    [[unroll]] for (uint kk = 0u; kk < KV; kk++) a = fma(pk[kk], buf[kk * C + c], a);
                    acc[i] = a;
                }
            }
        }
    }

    if (ci == 0u) rowL[qi] = l;
    barrier();
    uint q = q0 + qi;
    if (q < N)
    {
        float inv = 1.0 / rowL[qi];
        uint ob = p.oBase + t * p.oFrame + q;
        [[unroll]] for (int i = 0; i < ACC; i++)
        {
            uint c = ci + 16u * uint(i);
            if (c < C) STORE_O(ob + c * N, acc[i] * inv);
        }
    }
}
