using WfVae.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Operators;

/// <summary>
/// Every entry of <see cref="OpTable"/>, on dense tensors and on channel slices of larger tensors, in fp32 and fp16:
/// each output against the CPU reference, fp16 within one half rounding of fp32 (and really rounded), neighbouring
/// channels and inputs untouched, no validation-layer error.
/// </summary>
[Collection(Gpu.Ops)]
public sealed class OpTableTests(GpuFixture gpu, ITestOutputHelper output)
{
    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var c in OpTable.All)
        {
            data.Add(c.Name, false);
            data.Add(c.Name, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesItsReferenceInBothPrecisions(string name, bool sliced)
    {
        var c = OpTable.Find(name);
        var d = c.Variant is { } v ? gpu.With(v) : gpu.Device;
        var problems = new List<string>();
        var fp32 = OpHarness.Run(d, c, Precision.Fp32, sliced);
        problems.AddRange(OpHarness.Check(c, Precision.Fp32, fp32).Select(p => "fp32: " + p));
        if (d.Float16Enabled && c.Fp32Only)
        {
            var e = Assert.Throws<ArgumentException>(() => OpHarness.Run(d, c, Precision.Fp16, sliced));
            Assert.Contains("fp16", e.Message);
        }
        else if (d.Float16Enabled)
        {
            var fp16 = OpHarness.Run(d, c, Precision.Fp16, sliced);
            problems.AddRange(OpHarness.Check(c, Precision.Fp16, fp16).Select(p => "fp16: " + p));
            var fp32OnHalves = OpHarness.Run(d, c, Precision.Fp32, sliced, values: Precision.Fp16);
            problems.AddRange(OpHarness.CheckFp16AgainstFp32(c, fp32OnHalves, fp16).Select(p => "fp16 vs fp32: " + p));
        }
        foreach (var p in problems) output.WriteLine(p);
        gpu.AssertClean();
        Assert.True(problems.Count == 0, $"{name} ({(sliced ? "channel slices" : "dense")}):\n" + string.Join("\n", problems));
    }

    [Fact]
    public void EveryShaderFamilyHasAnEntry()
    {
        // Operator families with a dispatcher are all in the table (the peak probe and the cooperative conv, which
        // has its own self-check against the scalar kernel, are not operators of the model).
        var covered = new[] { "conv ", "winograd ", "layernorm", "groupnorm", "attention", "haar ", "resample ", "posterior ", "elementwise " };
        foreach (var prefix in covered) Assert.Contains(OpTable.All, c => c.Name.StartsWith(prefix, StringComparison.Ordinal));
        Assert.Equal(OpTable.All.Count, OpTable.All.Select(c => c.Name).Distinct().Count());
        foreach (var v in Enum.GetValues<KernelVariant>()) Assert.Contains(OpTable.All, c => c.Variant == v);
    }
}
