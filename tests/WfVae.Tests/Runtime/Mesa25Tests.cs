using System.Diagnostics;
using System.Text.RegularExpressions;
using WfVae.Model.Checkpoint;
using WfVae.Streaming.LatentStream;
using Xunit;

namespace WfVae.Tests.Runtime;

/// <summary>
/// The engine on the lavapipe that current distributions ship (Mesa 25, from Debian bookworm-backports),
/// beside the system's Mesa 22.3 that the rest of the suite uses. `build.ps1 mesa` fetches and unpacks it
/// (cached; `build.ps1 test` runs it first) and prints the environment that selects it; the CLI then runs
/// in child processes with that environment. A failed fetch fails the test: it is not skipped.
/// </summary>
public sealed partial class Mesa25Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-mesa25-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    [Fact]
    public void TheGoldenCaseAndStreamingHoldOnMesa25()
    {
        var env = FetchMesa25();
        env["XDG_CACHE_HOME"] = P("cache");
        var tiny = TestPaths.Golden("tiny");
        var verify = Wfvae(env, "verify", "--case", tiny, "--verbose");
        Assert.True(verify.Code == 0, verify.Out + verify.Err);
        // The system's Mesa 22.3 names the device alike, but keeps its own pipeline cache beside Mesa 25's.
        Ok(Wfvae(new() { ["XDG_CACHE_HOME"] = P("cache") }, "verify", "--case", tiny));
        var caches = Directory.GetFiles(P("cache/wfvae"), "pipelines-*.bin");
        Assert.Equal(2, caches.Length);
        Assert.Single(caches, c => c.Contains("Mesa_25", StringComparison.Ordinal));
        // Mesa 25 runs the Winograd products through device addresses (WinogradConv.UsesAddressLoads).
        Assert.Contains("texel+address", verify.Err);
        // The driver really was Mesa 25's llvmpipe, not the system's 22.3.
        Assert.Matches(DeviceLine(), verify.Out);
        Assert.Contains("verify: the engine matches the official implementation on this case", verify.Out);

        // Streamed (4 frames, then 1 latent frame per push) against whole clip, bit for bit, on this driver too.
        var model = Path.Combine(tiny, "model.safetensors");
        var io = Path.Combine(tiny, "io.safetensors");
        Ok(Wfvae(env, "encode", "--model", model, "--input", io, "--output", P("z.wfl"), "--chunk", "4", "--quiet"));
        Ok(Wfvae(env, "encode", "--model", model, "--input", io, "--output", P("z0.safetensors"), "--chunk", "0", "--quiet"));
        Ok(Wfvae(env, "decode", "--model", model, "--input", P("z.wfl"), "--output", P("v.safetensors"), "--chunk", "1", "--quiet"));
        Ok(Wfvae(env, "decode", "--model", model, "--input", P("z.wfl"), "--output", P("v0.safetensors"), "--chunk", "0", "--quiet"));
        using (var streamed = LatentStreamReader.Open(P("z.wfl")))
        using (var whole = SafetensorsFile.Open(P("z0.safetensors")))
        {
            var (mean, _) = streamed.ReadAll();
            Assert.Equal(whole.ReadFloat32("mean"), mean.Data);
        }
        using var v = SafetensorsFile.Open(P("v.safetensors"));
        using var v0 = SafetensorsFile.Open(P("v0.safetensors"));
        var decoded = v.ReadFloat32("decoded");
        Assert.Equal(3 * 9 * 32 * 48, decoded.Length);
        Assert.Equal(v0.ReadFloat32("decoded"), decoded);
    }

    [GeneratedRegex(@"device:\s+\[\d+\] llvmpipe .*llvmpipe Mesa 25\.\d+\.\d+")]
    private static partial Regex DeviceLine();

    [GeneratedRegex(@"^export VK_DRIVER_FILES=(\S+)$", RegexOptions.Multiline)]
    private static partial Regex DriverFilesLine();

    [GeneratedRegex(@"^export LD_LIBRARY_PATH=([^$\s]+)", RegexOptions.Multiline)]
    private static partial Regex LibraryPathLine();

    private static void Ok((int Code, string Out, string Err) r) => Assert.True(r.Code == 0, r.Err);

    /// <summary>Runs `build.ps1 mesa` (one place for the recipe) and returns the variables it prints.</summary>
    private static Dictionary<string, string> FetchMesa25()
    {
        var r = RunProcess(Dotnet(), ["pwsh", Path.Combine(TestPaths.RepoRoot, "build.ps1"), "mesa"], [], timeoutSeconds: 600);
        var icd = DriverFilesLine().Match(r.Out);
        var lib = LibraryPathLine().Match(r.Out);
        Assert.True(r.Code == 0 && icd.Success && lib.Success,
            $"fetching Mesa 25's lavapipe failed (dotnet pwsh build.ps1 mesa, exit {r.Code}; needs Debian with network to deb.debian.org):\n{r.Out}\n{r.Err}");
        Assert.True(File.Exists(icd.Groups[1].Value), $"build.ps1 mesa printed {icd.Groups[1].Value}, which does not exist");
        var inherited = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
        return new()
        {
            ["VK_DRIVER_FILES"] = icd.Groups[1].Value,
            ["LD_LIBRARY_PATH"] = string.IsNullOrEmpty(inherited) ? lib.Groups[1].Value : $"{lib.Groups[1].Value}:{inherited}",
        };
    }

    private static (int Code, string Out, string Err) Wfvae(Dictionary<string, string> env, params string[] args) =>
        RunProcess(Dotnet(), [Path.Combine(AppContext.BaseDirectory, "wfvae.dll"), .. args], env, timeoutSeconds: 300);

    private static string Dotnet() => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static (int Code, string Out, string Err) RunProcess(string file, string[] args, Dictionary<string, string> env, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = TestPaths.RepoRoot };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Only the given driver: no other manifest or device choice may leak in from the test's environment.
        foreach (var name in new[] { "VK_ICD_FILENAMES", "VK_ADD_DRIVER_FILES", "WFVAE_DEVICE" }) psi.Environment.Remove(name);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not end within {timeoutSeconds} s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
