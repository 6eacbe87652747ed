using WfVae.Cli;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Cli;

/// <summary>--precision on the command line, the default precision per device class, and its errors.</summary>
[Collection(Gpu.Apps)]
public sealed class PrecisionCliTests(GpuFixture gpu) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-precision-").FullName;
    private static string Golden(string name) => TestPaths.Golden(name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void VerifyInFp16MeetsTheFp16BoundsAndSaysSo()
    {
        var r = Run("verify", "--case", Golden("long"), "--precision", "fp16");
        Assert.True(r.Code == 0, r.Out + r.Err);
        Assert.Contains("fp16", r.Out);
        Assert.Contains($"(bound {Conformance.LatentBound(Precision.Fp16):E0})", r.Out);
    }

    [Fact]
    public void EncodeInFp16WritesLatentsWithinTheFp16BoundAndRecordsThePrecision()
    {
        var latents = Path.Combine(_dir, "latents.safetensors");
        var r = Run("encode", "--model", Path.Combine(Golden("tiny"), "model.safetensors"), "--input", Path.Combine(Golden("tiny"), "io.safetensors"),
            "--output", latents, "--precision", "fp16");
        Assert.True(r.Code == 0, r.Err);
        using var f = SafetensorsFile.Open(latents);
        var golden = ReferenceTolerance.Golden("tiny");
        double err = CpuTensor.RelErr(new CpuTensor(4, 3, 4, 6, f.ReadFloat32("mean")), golden.Tensor("mean"));
        Assert.InRange(err, ReferenceTolerance.Latent / 10, Conformance.LatentBound(Precision.Fp16));
        Assert.Equal("fp16", f.Metadata["precision"]);
    }

    [Theory]
    [InlineData("fp8")]
    [InlineData("double")]
    public void AnUnknownPrecisionIsAUsageError(string value)
    {
        var r = Run("info", "--model", Path.Combine(Golden("tiny"), "model.safetensors"), "--precision", value);
        Assert.Equal(2, r.Code);
        Assert.Contains($"precision '{value}'", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }

    [Fact]
    public void CpuDriversDefaultToFp32AndTheEnvironmentOverridesIt()
    {
        // lavapipe offers fp16 storage, but llvmpipe runs it slower than fp32 (docs/performance.md): fp32 by default.
        var expected = gpu.Device.Info.Kind == DeviceKind.Cpu || !gpu.Device.Float16Enabled ? Precision.Fp32 : Precision.Fp16;
        Assert.Equal(expected, PrecisionInfo.DefaultFor(gpu.Device));
        // WFVAE_PRECISION is read into the device's options; options set in code win.
        Assert.Equal(Precision.Fp16, new DeviceOptions().WithEnvironment(n => n == DeviceOptions.PrecisionVariable ? "fp16" : null).Precision);
        Assert.Equal(Precision.Fp32, new DeviceOptions { Precision = Precision.Fp32 }.WithEnvironment(n => n == DeviceOptions.PrecisionVariable ? "fp16" : null).Precision);
        var e = Assert.Throws<ArgumentException>(() => new DeviceOptions().WithEnvironment(n => n == DeviceOptions.PrecisionVariable ? "bf8" : null));
        Assert.Contains("WFVAE_PRECISION=bf8", e.Message);
        if (gpu.Device.Float16Enabled)
        {
            using var fp16 = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", Precision = Precision.Fp16 });
            Assert.Equal(Precision.Fp16, PrecisionInfo.DefaultFor(fp16));
        }
        var info = Run("info", "--model", Path.Combine(Golden("tiny"), "model.safetensors"));
        Assert.Contains($"precision:  {expected.Name()}", info.Out);
    }
}
