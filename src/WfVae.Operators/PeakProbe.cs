using System.Runtime.InteropServices;
using WfVae.Runtime;

namespace WfVae.Operators;

/// <summary>Dispatcher of shaders/peak.comp: a register-resident fp32 FMA loop that measures a device's peak FLOP rate.</summary>
public static class PeakProbe
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint Iters, Count;
        public float A, B;
    }

    /// <summary>Invocations per workgroup, independent fma chains per invocation, chain steps per loop trip.</summary>
    public const int Workgroup = 64, Chains = 16, Unroll = 8;

    /// <summary>shaders/peak.comp: one output binding; specialization constants WG, CHAINS, UNROLL; fp32 only.</summary>
    public static ShaderFamily Shader { get; } = ShaderFamily.Create<Push>("peak", ["WG", "CHAINS", "UNROLL"], [Precision.Fp32], ShaderVariant.Plain(1));

    /// <summary>
    /// Records <paramref name="iterations"/> loop trips on every element of <paramref name="output"/> (its element
    /// count, a multiple of <see cref="Workgroup"/>, is the number of invocations).
    /// </summary>
    public static void Record(CommandRecorder rec, GpuTensor output, uint iterations)
    {
        long count = output.ElementCount;
        if (count % Workgroup != 0) throw new ArgumentException($"peak probe: {count} invocations, a multiple of {Workgroup} expected");
        var pipe = rec.Device.Pipelines.Get(Shader.Kernel(Precision.Fp32), [Workgroup, Chains, Unroll]);
        var push = new Push { Iters = iterations, Count = (uint)count, A = 0.999f, B = 0.001f };
        rec.Dispatch(pipe, [Binding.Written(output)], push, (uint)(count / Workgroup), 1, 1, "peak", Flops(count, iterations));
    }

    /// <summary>2 · chains · unroll · iterations per invocation.</summary>
    public static long Flops(long invocations, uint iterations) => 2L * Chains * Unroll * iterations * invocations;
}
