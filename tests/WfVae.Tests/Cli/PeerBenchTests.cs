using System.Diagnostics;
using System.Text.Json.Nodes;
using WfVae.Cli.Benchmarks;
using WfVae.Model.Checkpoint;
using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Cli;

/// <summary>
/// wfvae bench --peer torch: the PyTorch twin (tools/train/peer.py) on the same weights, clip and thread count, after
/// its golden check; a missing PyTorch or a failing twin is exit 1 with the reason. Needs python3 with torch
/// (python3-torch, installed by build.ps1 setup).
/// </summary>
public sealed class PeerBenchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-peer-").FullName;
    private readonly string? _savedPython = Environment.GetEnvironmentVariable(PeerBenchmark.PythonVariable);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(PeerBenchmark.PythonVariable, _savedPython);
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The interpreter build.ps1 setup gives torch to (Debian's), else python3 on PATH.</summary>
    internal static string SystemPython => File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    private static string TinyWeights => Path.Combine(TestPaths.Golden("tiny"), "model.safetensors");

    [Fact]
    public void PeerTorchTimesTheTwinOnTheSameWeightsAndThreads()
    {
        Environment.SetEnvironmentVariable(PeerBenchmark.PythonVariable, SystemPython);
        var json = Path.Combine(_dir, "bench.json");
        var r = Run("bench", "--model", TinyWeights, "--frames", "5", "--height", "16", "--width", "24", "--runs", "1",
            "--peer", "torch", "--peer-device", "cpu", "--json", json);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("engine speed vs twin", r.Out);
        Assert.Contains("golden check passed on", r.Out);

        var peer = JsonNode.Parse(File.ReadAllText(json))!["peer"]!;
        Assert.True(peer["ok"]!.GetValue<bool>());
        Assert.Equal(Path.GetFullPath(TinyWeights), peer["weights"]!.GetValue<string>());
        int threads = int.TryParse(Environment.GetEnvironmentVariable("LP_NUM_THREADS"), out int n) && n > 0 ? n : Environment.ProcessorCount;
        Assert.Equal(threads, peer["threads"]!.GetValue<int>());
        Assert.Equal(TestPaths.GoldenCases.Count, peer["golden"]!["passed"]!.GetValue<int>());
        var clip = peer["clips"]![0]!;
        Assert.Equal(5, clip["frames"]!.GetValue<int>());
        Assert.Equal(24, clip["width"]!.GetValue<int>());
        Assert.True(clip["encode_s"]!.GetValue<double>() > 0 && clip["decode_s"]!.GetValue<double>() > 0);
        // Weights plus activations: more than the weights, and a 5x16x24 clip needs far less than 1 GiB on top.
        long weights = clip["weight_bytes"]!.GetValue<long>();
        foreach (var key in new[] { "encode_peak_bytes", "decode_peak_bytes" })
        {
            long peak = clip[key]!.GetValue<long>();
            Assert.InRange(peak, weights + 1, weights + (1L << 30));
        }
    }

    [Fact]
    public void PeerTorchWithoutPyTorchSaysSoAndExits1()
    {
        // The system python with its site packages (numpy, torch) hidden.
        var wrapper = Path.Combine(_dir, "python-without-torch");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec {SystemPython} -S \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Environment.SetEnvironmentVariable(PeerBenchmark.PythonVariable, wrapper);
        var r = Run("bench", "--model", TinyWeights, "--frames", "1", "--height", "16", "--width", "16", "--runs", "1", "--peer", "torch");
        Assert.Equal(1, r.Code);
        Assert.Contains("cannot import PyTorch", r.Err);
        Assert.DoesNotContain("| model |", r.Out); // nothing was timed
    }

    [Fact]
    public void PeerTorchWithAMissingInterpreterExits1()
    {
        Environment.SetEnvironmentVariable(PeerBenchmark.PythonVariable, Path.Combine(_dir, "no-such-python"));
        var r = Run("bench", "--model", TinyWeights, "--frames", "1", "--height", "16", "--width", "16", "--peer", "torch");
        Assert.Equal(1, r.Code);
        Assert.Contains("cannot start", r.Err);
        Assert.Contains(PeerBenchmark.PythonVariable, r.Err);
    }

    [Fact]
    public void TwinThatFailsItsGoldenCheckIsRefused()
    {
        // A reference case whose expected latents are off by 1 %: far outside the 1e-4 bound.
        var golden = Path.Combine(_dir, "golden");
        var bad = Path.Combine(golden, "tiny");
        Directory.CreateDirectory(bad);
        foreach (var name in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(TestPaths.Golden("tiny"), name), Path.Combine(bad, name));
        using (var io = SafetensorsFile.Open(Path.Combine(TestPaths.Golden("tiny"), "io.safetensors")))
        {
            var tensors = io.Tensors.Keys.Order(StringComparer.Ordinal).Select(name =>
            {
                var data = io.ReadFloat32(name);
                if (name == "mean") for (int i = 0; i < data.Length; i++) data[i] *= 1.01f;
                return (name, io.GetInfo(name).Shape, (ReadOnlyMemory<float>)data);
            }).ToList();
            SafetensorsWriter.Write(Path.Combine(bad, "io.safetensors"), tensors);
        }
        var request = new JsonObject
        {
            ["weights"] = TinyWeights, ["config"] = Path.Combine(TestPaths.Golden("tiny"), "config.json"), ["device"] = "cpu",
            ["threads"] = 1, ["runs"] = 1, ["golden"] = golden,
            ["clips"] = new JsonArray(new JsonObject { ["frames"] = 1, ["height"] = 16, ["width"] = 16 }),
        };
        var (code, stdout) = RunPeerScript(request.ToJsonString());
        Assert.Equal(1, code);
        var answer = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        Assert.False(answer["ok"]!.GetValue<bool>());
        Assert.Contains("failed its golden check on case 'tiny'", answer["error"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("--peer", "pytorch")]
    [InlineData("--peer-device", "gpu")]
    [InlineData("--peer-precision", "fp16")]
    public void BadPeerOptionsAreUsageErrors(string option, string value)
    {
        var args = new List<string> { "bench", "--model", TinyWeights, "--peer", "torch" };
        if (option == "--peer") args[^1] = value;
        else args.AddRange([option, value]);
        var r = Run(args.ToArray());
        Assert.Equal(2, r.Code);
        Assert.Contains(option, r.Err);
    }

    [Fact]
    public void Tf32OnTheCpuAndPeersOfOperatorBenchmarksAreUsageErrors()
    {
        Assert.Equal(2, Run("bench", "--model", TinyWeights, "--peer", "torch", "--peer-device", "cpu", "--peer-precision", "tf32").Code);
        Assert.Equal(2, Run("bench", "ops", "--peer", "torch").Code);
    }

    private static (int Code, string Stdout) RunPeerScript(string request)
    {
        var psi = new ProcessStartInfo(SystemPython) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "tools", "train", "peer.py"));
        psi.ArgumentList.Add("--request");
        psi.ArgumentList.Add("-");
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        p.StandardInput.Write(request);
        p.StandardInput.Close();
        p.WaitForExit();
        stderr.Wait();
        return (p.ExitCode, stdout.Result);
    }
}
