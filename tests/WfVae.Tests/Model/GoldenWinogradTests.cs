using WfVae.Model;
using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Model;

/// <summary>
/// Every golden case with each convolution algorithm the engine can pick for the stride-1 3×3 layers, within the fp32
/// bounds (mean and logvar ≤ 1e-4, decoded ≤ 3e-4): F(2x2,3x3) and the direct kernels here, F(4x4,3x3) in
/// <see cref="GoldenModelTests"/> (the default on CPU drivers). The logged errors are the figures of docs/performance.md.
/// </summary>
[Collection(Gpu.Golden)]
public sealed class GoldenWinogradTests(GpuFixture gpu, ITestOutputHelper log)
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in ReferenceTolerance.Cases)
            foreach (var algorithm in new[] { "F2", "direct" })
                data.Add(name, algorithm);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EncodeAndDecodeStayWithinTheGoldenBounds(string name, string algorithm)
    {
        var golden = ReferenceTolerance.Golden(name);
        // Auto mode with the F2 tile (strided 3x3 layers stay direct), or Winograd off.
        var device = gpu.With(algorithm == "direct" ? new KernelOptions { Winograd = WinogradMode.Off } : new KernelOptions { WinogradTile = WinogradTile.F2 });
        using var model = GoldenModelTests.LoadGolden(device, name);
        var video = golden.Tensor("video");
        var posterior = model.Encode(new HostTensor(video.Data, 1, video.C, video.T, video.H, video.W));
        var mean = golden.Tensor("mean");
        var decoded = model.Decode(new HostTensor(mean.Data, 1, mean.C, mean.T, mean.H, mean.W));
        double meanErr = CpuTensor.RelErr(Cpu(posterior.Mean), mean);
        double logvarErr = CpuTensor.RelErr(Cpu(posterior.Logvar), golden.Tensor("logvar"));
        double decodedErr = CpuTensor.RelErr(Cpu(decoded), golden.Tensor("decoded"));
        log.WriteLine($"{name} {algorithm}: mean {meanErr:E2}, logvar {logvarErr:E2}, decoded {decodedErr:E2}");
        Assert.True(meanErr <= ReferenceTolerance.Latent && logvarErr <= ReferenceTolerance.Latent, $"{name} {algorithm}: mean {meanErr:E2}, logvar {logvarErr:E2}");
        Assert.True(decodedErr <= ReferenceTolerance.Decoded, $"{name} {algorithm}: decoded {decodedErr:E2}");
        gpu.AssertClean();
    }

    private static CpuTensor Cpu(HostTensor t) => new(t.C, t.T, t.H, t.W, t.Data);
}
