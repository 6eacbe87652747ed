using WfVae.Model;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Model;

/// <summary>
/// The Vulkan model against the official PyTorch outputs of every golden case (tolerances: golden README,
/// see ReferenceTolerance): mean and logvar ≤ 1e-4, decoded ≤ 3e-4, every stored tap ≤ 1e-3. The
/// decoder is fed the golden <c>mean</c>, as the official decode was.
/// </summary>
[Collection(Gpu.Golden)]
public sealed class GoldenModelTests(GpuFixture gpu, ITestOutputHelper log)
{
    // Taps the engine does not materialise: the l2/l1 branch adds are fused into the inverse wavelets.
    private static readonly HashSet<string> Fused = new() { "dec.connect_l1_plus_l2", "dec.conv_out_plus_l1", "enc.norm_out", "dec.norm_out" };

    public static TheoryData<string> Cases() => ReferenceTolerance.CaseData();

    internal static WfVaeModel LoadGolden(GpuFixture gpu, string name, Precision precision = Precision.Fp32) =>
        LoadGolden(gpu.Device, name, precision);

    /// <summary>The golden case's model on <paramref name="device"/> (one whose options force a kernel choice).</summary>
    internal static WfVaeModel LoadGolden(VulkanDevice device, string name, Precision precision = Precision.Fp32) =>
        WfVaeModel.Load(Path.Combine(GoldenCase.RepoRoot(), "tests", "fixtures", "golden", name, "model.safetensors"), device, precision: precision);

    private static CpuTensor Cpu(HostTensor t) => new(t.C, t.T, t.H, t.W, t.Data);

    [Theory]
    [MemberData(nameof(Cases))]
    public void EncodeMatchesTheOfficialPosteriorAndTaps(string name)
    {
        var golden = ReferenceTolerance.Golden(name);
        using var model = LoadGolden(gpu, name);
        var video = golden.Tensor("video");
        using var taps = new DeviceTaps();
        var posterior = model.Encode(new HostTensor(video.Data, 1, video.C, video.T, video.H, video.W), taps);

        double meanErr = CpuTensor.RelErr(Cpu(posterior.Mean), golden.Tensor("mean"));
        double logvarErr = CpuTensor.RelErr(Cpu(posterior.Logvar), golden.Tensor("logvar"));
        log.WriteLine($"{name}: mean {meanErr:E2}, logvar {logvarErr:E2}");
        var tapErrors = CompareTaps(golden, taps, "enc.");
        Assert.True(meanErr <= ReferenceTolerance.Latent, $"{name}: mean rel_err {meanErr:E2} > {ReferenceTolerance.Latent:E0}; taps: {tapErrors}");
        Assert.True(logvarErr <= ReferenceTolerance.Latent, $"{name}: logvar rel_err {logvarErr:E2}; taps: {tapErrors}");
        gpu.AssertClean();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodeMatchesTheOfficialVideoAndTaps(string name)
    {
        var golden = ReferenceTolerance.Golden(name);
        using var model = LoadGolden(gpu, name);
        var mean = golden.Tensor("mean");
        using var taps = new DeviceTaps();
        var decoded = model.Decode(new HostTensor(mean.Data, 1, mean.C, mean.T, mean.H, mean.W), taps);

        double err = CpuTensor.RelErr(Cpu(decoded), golden.Tensor("decoded"));
        log.WriteLine($"{name}: decoded {err:E2}");
        var tapErrors = CompareTaps(golden, taps, "dec.");
        Assert.True(err <= ReferenceTolerance.Decoded, $"{name}: decoded rel_err {err:E2} > {ReferenceTolerance.Decoded:E0}; taps: {tapErrors}");
        gpu.AssertClean();
    }

    /// <summary>Compares every stored tap with the prefix; fails on a tap over 1e-3 and returns a summary for messages.</summary>
    private string CompareTaps(GoldenCase golden, DeviceTaps taps, string prefix)
    {
        var lines = new List<string>();
        var failures = new List<string>();
        foreach (var tapName in golden.TensorNames.Where(n => n.StartsWith(prefix) && !Fused.Contains(n)).OrderBy(n => n))
        {
            Assert.True(taps.Has(tapName), $"the engine produced no tap '{tapName}'");
            var expected = golden.Tensor(tapName);
            var actual = Cpu(taps.Get(tapName));
            Assert.True(actual.SameShape(expected), $"tap {tapName}: shape {actual} vs expected {expected}");
            double e = CpuTensor.RelErr(actual, expected);
            lines.Add($"{tapName} {e:E1}");
            if (e > ReferenceTolerance.Tap) failures.Add($"{tapName} {e:E2}");
        }
        log.WriteLine(string.Join(", ", lines));
        Assert.True(failures.Count == 0, "taps over 1e-3: " + string.Join(", ", failures));
        return string.Join(", ", lines);
    }
}
