using System.Diagnostics;
using System.Text.Json;
using WfVae.Model;
using Xunit;

namespace WfVae.Tests.Tools;

/// <summary>
/// The PyTorch twin in tools/train (the training model and the benchmark peer) reproduces every golden case
/// of the official code within the engine's own fp32 bounds. Needs Debian's python3-torch (build.ps1 setup).
/// </summary>
public sealed class TwinGoldenTests
{
    public const string Python = "/usr/bin/python3";

    [Fact]
    public void TwinMatchesEveryGoldenCaseWithinTheFp32Bounds() => AssertTwinWithinFp32Bounds(TestPaths.GoldenCases);

    /// <summary>
    /// Runs the twin's golden check (tools/train/golden_check.py with <paramref name="args"/>) and asserts that it ran
    /// exactly <paramref name="expectedCases"/>, each within the engine's fp32 bounds on mean, logvar and decoded.
    /// </summary>
    internal static void AssertTwinWithinFp32Bounds(IEnumerable<string> expectedCases, params string[] args)
    {
        string json = Path.Combine(Path.GetTempPath(), $"wfvae-twin-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output) = RunPython(Path.Combine(TestPaths.RepoRoot, "tools", "train", "golden_check.py"), [.. args, "--json", json]);
            Assert.True(code == 0, output);
            using var report = JsonDocument.Parse(File.ReadAllText(json));
            var cases = report.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
            Assert.Equal(expectedCases.OrderBy(c => c), cases.Keys.OrderBy(c => c));
            double latentBound = Conformance.LatentBound(WfVae.Runtime.Precision.Fp32), decodedBound = Conformance.DecodedBound(WfVae.Runtime.Precision.Fp32);
            foreach (var (name, errors) in cases)
            {
                Assert.True(errors.GetProperty("mean").GetDouble() <= latentBound, $"{name}: {output}");
                Assert.True(errors.GetProperty("logvar").GetDouble() <= latentBound, $"{name}: {output}");
                Assert.True(errors.GetProperty("decoded").GetDouble() <= decodedBound, $"{name}: {output}");
            }
        }
        finally
        {
            File.Delete(json);
        }
    }

    internal static (int Code, string Output) RunPython(string script, params string[] args)
    {
        Assert.True(File.Exists(Python), $"{Python} is missing: run 'dotnet pwsh ./build.ps1 setup' (installs python3-torch)");
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }
}
