namespace WfVae.Runtime;

/// <summary>
/// Storage precision of activations and weights on the device. Arithmetic is fp32 in both (fp16 operands are widened,
/// so products are exact and accumulation is fp32); fp16 halves memory and bandwidth and is what tensor cores take.
/// </summary>
public enum Precision
{
    Fp32,
    Fp16,
}

public static class PrecisionInfo
{
    public static int ElementBytes(this Precision p) => p == Precision.Fp16 ? 2 : 4;

    public static string Name(this Precision p) => p == Precision.Fp16 ? "fp16" : "fp32";

    /// <summary>Suffix of the shader variant compiled for this precision ("" or "_f16", shaders/Shaders.targets).</summary>
    public static string ShaderSuffix(this Precision p) => p == Precision.Fp16 ? "_f16" : "";

    public static Precision FromElementBytes(int bytes) => bytes switch
    {
        4 => Precision.Fp32,
        2 => Precision.Fp16,
        _ => throw new ArgumentException($"no precision has {bytes}-byte elements"),
    };

    /// <summary>"fp32" or "fp16" (also "f32"/"float32", "f16"/"float16"/"half"); anything else throws naming the value.</summary>
    public static Precision Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" or "f32" or "float32" => Precision.Fp32,
        "fp16" or "f16" or "float16" or "half" => Precision.Fp16,
        _ => throw new ArgumentException($"precision '{text}': expected fp32 or fp16"),
    };

    /// <summary>
    /// The precision a model runs in on <paramref name="device"/> unless told otherwise: fp16 on GPUs that offer fp16
    /// storage and arithmetic (shaderFloat16 + storageBuffer16BitAccess), else fp32. CPU drivers (lavapipe) offer fp16
    /// too, but llvmpipe widens every half on load, which makes fp16 slower there than fp32 (docs/performance.md,
    /// "Precision"), so fp16 on a CPU device is opt-in (it still halves memory).
    /// The device's options (<see cref="DeviceOptions.Precision"/>, WFVAE_PRECISION) override the default.
    /// </summary>
    public static Precision DefaultFor(VulkanDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.Options.Precision is { } chosen) return Resolve(device, chosen);
        return device.Float16Enabled && device.Info.Kind != DeviceKind.Cpu ? Precision.Fp16 : Precision.Fp32;
    }

    /// <summary>Checks that <paramref name="device"/> can run <paramref name="p"/>; throws a clear error if not.</summary>
    public static Precision Resolve(VulkanDevice device, Precision p)
    {
        if (p == Precision.Fp16 && !device.Float16Enabled)
            throw new NotSupportedException($"fp16 precision needs shaderFloat16 and storageBuffer16BitAccess, which {device.Info.Name} does not offer; use --precision fp32");
        return p;
    }
}
