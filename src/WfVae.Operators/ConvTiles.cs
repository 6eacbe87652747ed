using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>
/// Tile shape of shaders/conv.comp (specialization constants): WG invocations per workgroup, WGN of them along the
/// output positions, each computing TM output channels × TN positions (both multiples of 4); K advances BK input channels at a time.
/// The workgroup tile is (WG/WGN·TM) channels × (WGN·TN) positions. Any valid tiling gives bit-identical results
/// (one fma chain per output in a fixed K order); the tiling only changes speed.
/// </summary>
public readonly record struct ConvTiles(int WG, int WGN, int TM, int TN, int BK, bool Subgroup8 = false)
{
    public int BM => WG / WGN * TM;
    public int BN => WGN * TN;
    public int SharedBytes => BK * (BM + BN) * 4;

    /// <summary>
    /// lavapipe / CPU drivers: 64 invocations (a workgroup runs on one core as 8-wide SIMD), 8×4 outputs each, 32-channel
    /// K chunks: the fastest tried on lavapipe, where every memory instruction is a loop over lanes.
    /// </summary>
    public static ConvTiles Cpu => new(64, 8, 8, 4, 32);
    /// <summary>GPUs: 256 invocations, 64×64 tile, 4×4 outputs per invocation.</summary>
    public static ConvTiles Gpu => new(256, 16, 4, 4, 16);

    /// <summary>
    /// Texel variant on lavapipe: 32 invocations (4 subgroups of 8 consecutive positions), 16 output channels x 8
    /// positions each, weights fetched directly (one RGBA32F fetch = 4 channels, shared by 8 positions): 12 fetches
    /// feed 128 FMAs. The fastest of the shapes tried in `bench ops` A/B runs on lavapipe, where larger tiles waste
    /// work on small outputs (figures: docs/performance.md, "Measurements formerly in code comments").
    /// WFVAE_CONV_TILES overrides it (<see cref="KernelOptions.Tiles"/>).
    /// </summary>
    public static ConvTiles CpuTexel => new(32, 8, 16, 8, 8);

    /// <summary>
    /// Row kernel (conv_texel_rows) on lavapipe: 32 invocations (4 subgroups of 8 row segments), 16 output channels x 16
    /// consecutive columns each (BK unused): per input channel and kernel row, 18 input + 12 weight fetches feed 768
    /// FMAs: the most fetch reuse that stayed fastest on both 32- and 16-column layers in forced-row `bench ops` runs
    /// on lavapipe (figures: docs/performance.md, "Measurements formerly in code comments").
    /// </summary>
    public static ConvTiles CpuTexelRows => new(32, 8, 16, 16, 8);

    /// <summary>
    /// Pointwise kernel (conv_texel_pointwise) on lavapipe: 32 invocations, 16 output channels x 16 consecutive
    /// positions each as vec4 accumulators, K in steps of 4 channels: per step 16 input + 16 weight fetches (vec4) feed
    /// 1024 FMAs. In A/B runs on WF-VAE-L's 1x1x1 layers (lavapipe 22.3) it used ~10% less CPU time than 16x8 and 8x16
    /// positions or 8-channel steps (docs/performance.md, "Kernel and tile choice").
    /// </summary>
    public static ConvTiles CpuTexelPointwise => new(32, 8, 16, 16, 4);

    public static ConvTiles For(VulkanDevice d) => d.Info.Kind == DeviceKind.Cpu ? Cpu : Gpu;

    /// <summary>Default tiles of a variant on a device.</summary>
    public static ConvTiles For(VulkanDevice d, KernelVariant v) => v switch
    {
        KernelVariant.Texel => CpuTexel,
        KernelVariant.TexelRows => CpuTexelRows,
        KernelVariant.TexelPointwise => CpuTexelPointwise,
        _ => For(d),
    };

    /// <summary>
    /// Tiles of a variant on a device for a layer with <paramref name="cout"/> output channels: the device class's
    /// tiles, for the GPU kernel narrowed along the channels when they would mostly compute padding. WF-VAE's conv_out (3 channels)
    /// and the 12/16/24-channel wavelet and latent convs would otherwise run 64-channel tiles at 5–40 % use; the
    /// narrowed tile spends the same invocations along the positions instead. Bits do not depend on the tiles.
    /// </summary>
    public static ConvTiles For(VulkanDevice d, KernelVariant v, int cout)
    {
        var t = For(d, v);
        // The texel kernels (CPU drivers) keep one tile: there every distinct tile is one more shader for lavapipe to
        // compile on a cold cache (~2 s each for conv_texel and the pointwise kernel, the cold start's largest), far more
        // than the few narrow layers left on them save (the 3x3 stride-1 convs run Winograd there).
        if (v != KernelVariant.Ssbo) return t;
        int coutPad = (cout + 3) / 4 * 4;
        if (coutPad * 2 > t.BM) return t;
        int tm = Math.Min(t.TM, coutPad);
        int wgm = Math.Max(1, coutPad / tm);
        while (t.WG % wgm != 0) wgm--;
        var narrow = t with { WGN = t.WG / wgm, TM = tm };
        // A wider position tile needs more shared memory in the SSBO kernel; keep the default where it would not fit.
        return narrow.SharedBytes > d.Info.MaxSharedMemoryBytes ? t : narrow;
    }

    /// <summary>
    /// These tiles for a pointwise call of <paramref name="n"/> output positions: half the positions per invocation
    /// where the last workgroup would be at most half full (half-width blocks then pad less), e.g. the 3x8x8 latent
    /// layers (N = 192: two 128-position blocks a quarter empty, or three full 64-position ones: ~20% less CPU time on
    /// lavapipe). Tiles never change the bits. Other variants, and n = 0, as they are.
    /// </summary>
    public ConvTiles ForPositions(KernelVariant v, long n)
    {
        if (v != KernelVariant.TexelPointwise || n <= 0 || TN % 8 != 0) return this;
        long rest = n % BN;
        return rest > 0 && rest <= BN / 2 ? this with { TN = TN / 2 } : this;
    }

    /// <summary>
    /// Outputs one invocation computes at most (TM × TN): twice the largest default tile (16 × 16). Each keeps an
    /// accumulator in registers and the loops over them are unrolled, so the compile time grows faster than the tile:
    /// on lavapipe a 32 × 32 tile took about 2 minutes to compile, a 64 × 32 one outlasted a 4-minute run.
    /// </summary>
    public const int MaxOutputsPerInvocation = 512;

    /// <summary>Throws ArgumentException when these tiles cannot run variant <paramref name="v"/> on <paramref name="d"/>.</summary>
    public void Validate(VulkanDevice d, KernelVariant v)
    {
        long maxWg = Math.Min(d.Info.MaxWorkgroupInvocations, d.Info.MaxWorkgroupSizeX);
        if ((long)TM * TN > MaxOutputsPerInvocation || WG > maxWg)
            throw new ArgumentException($"conv tiles {this}: at most {maxWg} invocations (WG, the device's limit) of at most {MaxOutputsPerInvocation} outputs (TM x TN) each");
        if (v != KernelVariant.Ssbo)
        {
            // Texel variant: TN is any count (positions 8 apart), WGN a multiple of 8 (subgroups of consecutive positions).
            if (WG <= 0 || WGN <= 0 || TM <= 0 || TN <= 0 || BK <= 0 || WG % WGN != 0 || TM % 4 != 0 || WGN % 8 != 0)
                throw new ArgumentException($"invalid texel conv tiles {this}");
            // The pointwise kernel's invocations own vec4s of 4 consecutive positions.
            if (v == KernelVariant.TexelPointwise && TN % 4 != 0)
                throw new ArgumentException($"conv tiles {this}: the pointwise texel kernel needs TN a multiple of 4");
            if (Subgroup8 && d.Info.SubgroupSize != 8)
                throw new ArgumentException($"conv tiles {this}: Subgroup8 needs 8-wide subgroups (device: {d.Info.SubgroupSize})");
            return;
        }
        if (WG <= 0 || WGN <= 0 || TM <= 0 || TN <= 0 || BK <= 0 || WG % WGN != 0 || TM % 4 != 0 || TN % 4 != 0)
            throw new ArgumentException($"invalid conv tiles {this}");
        if (Subgroup8 && (d.Info.SubgroupSize != 8 || WGN % 8 != 0 || BK % 8 != 0))
            throw new ArgumentException($"conv tiles {this}: Subgroup8 needs 8-wide subgroups (device: {d.Info.SubgroupSize}), WGN and BK multiples of 8");
        if (SharedBytes > d.Info.MaxSharedMemoryBytes)
            throw new ArgumentException($"conv tiles {this} need {SharedBytes} bytes of shared memory, the device has {d.Info.MaxSharedMemoryBytes}");
    }
}
