using System.Diagnostics;
using WfVae.Cli;
using WfVae.Model.Checkpoint;
using WfVae.Tests.Reference;
using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Cli;

/// <summary>The wfvae command-line contract: encode/decode/info on safetensors, exit codes, one-line errors.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-cli-").FullName;
    private static string Golden(string name) => Path.Combine(GoldenCase.RepoRoot(), "tests", "fixtures", "golden", name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void DevicesListsEachDeviceWithItsMemoryPath()
    {
        var (code, output, _) = CliRunner.Run("devices");
        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int chosen = Array.FindIndex(lines, l => l.StartsWith("* ["));
        Assert.True(chosen >= 0, output);
        Assert.StartsWith("      cooperative matrix: ", lines[chosen + 1]);
        // lavapipe's memory is host-cached: mapped, unless staged transfers are forced.
        var info = WfVae.Runtime.VulkanDevice.Enumerate()[int.Parse(lines[chosen][3..lines[chosen].IndexOf(']')])];
        Assert.StartsWith($"      memory: {info.DeviceLocalBytes / (1024.0 * 1024 * 1024):F1} GiB device-local, ", lines[chosen + 2]);
        Assert.EndsWith(info.HostCachedDeviceMemory ? "mapped by the host (host-cached)" : "staged copies (not host-cached)", lines[chosen + 2].TrimEnd('\r'));
    }

    [Fact]
    public void EncodeThenDecodeTheTinyCaseWritesTheOfficialTensors()
    {
        var model = Path.Combine(Golden("tiny"), "model.safetensors");
        var latents = Path.Combine(_dir, "latents.safetensors");
        var video = Path.Combine(_dir, "video.safetensors");
        var enc = Run("encode", "--model", model, "--input", Path.Combine(Golden("tiny"), "io.safetensors"), "--output", latents);
        Assert.True(enc.Code == 0, enc.Err);
        var dec = Run("decode", "--model", model, "--input", latents, "--output", video);
        Assert.True(dec.Code == 0, dec.Err);

        var golden = ReferenceTolerance.Golden("tiny");
        using (var f = SafetensorsFile.Open(latents))
        {
            Assert.Equal(new long[] { 1, 4, 3, 4, 6 }, f.Tensors["mean"].Shape);
            Assert.Equal(new long[] { 1, 4, 3, 4, 6 }, f.Tensors["logvar"].Shape);
            Assert.True(CpuTensor.RelErr(new CpuTensor(4, 3, 4, 6, f.ReadFloat32("mean")), golden.Tensor("mean")) <= ReferenceTolerance.Latent);
            Assert.True(CpuTensor.RelErr(new CpuTensor(4, 3, 4, 6, f.ReadFloat32("logvar")), golden.Tensor("logvar")) <= ReferenceTolerance.Latent);
        }
        using (var f = SafetensorsFile.Open(video))
        {
            Assert.Equal(new long[] { 1, 3, 9, 32, 48 }, f.Tensors["decoded"].Shape);
            // Decoding our own mean adds at most the latent error on top of the decoder's: same bound as decoded.
            Assert.True(CpuTensor.RelErr(new CpuTensor(3, 9, 32, 48, f.ReadFloat32("decoded")), golden.Tensor("decoded")) <= ReferenceTolerance.Decoded);
        }
    }

    [Fact]
    public void InfoPrintsConfigParametersAndDeviceMemory()
    {
        var r = Run("info", "--model", Path.Combine(Golden("tiny"), "model.safetensors"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("base_channels=16", r.Out);
        Assert.Contains("latent_dim=4", r.Out);
        Assert.Contains("598,504", r.Out);   // encoder parameters of the tiny case (golden README)
        Assert.Contains("1,709,868", r.Out); // decoder parameters
        Assert.Contains("MiB on the device", r.Out);
    }

    [Fact]
    public void BadInputsGiveOneLineErrorsAndNonzeroExitWithoutOutput()
    {
        var model = Path.Combine(Golden("tiny"), "model.safetensors");
        var output = Path.Combine(_dir, "out.safetensors");
        var corrupt = Path.Combine(_dir, "corrupt.safetensors");
        File.WriteAllBytes(corrupt, new byte[] { 200, 0, 0, 0, 0, 0, 0, 0, (byte)'{' });

        var cases = new[]
        {
            Run("encode", "--model", model, "--input", Path.Combine(_dir, "missing.safetensors"), "--output", output),
            Run("encode", "--model", model, "--input", corrupt, "--output", output),
            Run("encode", "--model", model, "--input", Path.Combine(Golden("tiny"), "io.safetensors"), "--tensor", "nope", "--output", output),
            Run("encode", "--model", model, "--input", Path.Combine(Golden("tiny"), "io.safetensors"), "--tensor", "mean", "--output", output),
            Run("decode", "--model", Path.Combine(_dir, "no-model"), "--input", Path.Combine(Golden("tiny"), "io.safetensors"), "--output", output),
            Run("encode", "--model", model, "--output", output),
            Run("frobnicate"),
        };
        foreach (var (code, _, err) in cases)
        {
            Assert.NotEqual(0, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.StartsWith("wfvae", err);
        }
        Assert.Contains("nope", cases[2].Err);
        Assert.Contains("channels", cases[3].Err);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void TheBuiltExecutableExitsNonzeroOnAnUnknownCommand()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "wfvae.dll");
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" frobnicate") { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(2, p.ExitCode);
        Assert.Contains("unknown command", err);
    }
}

public sealed class CliErrorTests
{
    [Fact]
    public void AWrongWeightsFileIsBadInputReportedOnOneLine()
    {
        var io = Path.Combine(WfVae.Tests.Reference.GoldenCase.RepoRoot(), "tests", "fixtures", "golden", "tiny", "io.safetensors");
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(new[] { "info", "--model", io }, o, e);
        Assert.Equal(1, code);
        var err = e.ToString().TrimEnd();
        Assert.Single(err.Split('\n'));
        Assert.Contains("missing encoder.down1.0.weight (expected shape [16, 24, 3, 3])", err);
        Assert.Contains("--verbose", err);

        e = new StringWriter();
        Assert.Equal(1, CommandLine.Run(new[] { "info", "--model", io, "--verbose" }, o, e));
        Assert.Contains("unexpected video (shape [1, 3, 9, 32, 48])", e.ToString());
    }
}
