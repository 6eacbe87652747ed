using System.Runtime.InteropServices;

namespace WfVae.Tests.Plugin;

/// <summary>
/// The frei0r plugins (wfvae_encode, wfvae_decode) published once per test run into
/// artifacts/frei0r-test/&lt;rid&gt;/, the same commands as <c>build.ps1 plugin</c> (so the folder also holds the
/// default model the plugins use for an empty model parameter), and the C misuse driver
/// (tests/native/frei0r_misuse.c), compiled with AddressSanitizer when the compiler links it.
/// Publishing always runs, as in <see cref="NativePluginBuild"/>: incremental, seconds when nothing changed.
/// </summary>
internal sealed class Frei0rBuild
{
    private static readonly Lazy<Frei0rBuild> Shared = new(() => new Frei0rBuild(), LazyThreadSafetyMode.ExecutionAndPublication);

    public static Frei0rBuild Get() => Shared.Value;

    /// <summary>The folder to put on FREI0R_PATH.</summary>
    public string PluginDir { get; }
    public string Encoder => Path.Combine(PluginDir, "wfvae_encode.so");
    public string Decoder => Path.Combine(PluginDir, "wfvae_decode.so");
    public string MisuseDriver { get; }
    /// <summary>Whether <see cref="MisuseDriver"/> runs under AddressSanitizer.</summary>
    public bool AddressSanitizer { get; }

    private Frei0rBuild()
    {
        string rid = RuntimeInformation.RuntimeIdentifier;
        PluginDir = Path.Combine(TestPaths.RepoRoot, "artifacts", "frei0r-test", rid);
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        foreach (var project in new[] { "WfVae.Frei0r.Encode", "WfVae.Frei0r.Decode" })
        {
            var publish = NativePluginBuild.Publish(dotnet, Path.Combine(TestPaths.RepoRoot, "plugin", project, project + ".csproj"), rid, PluginDir);
            if (publish.Exit != 0) throw new InvalidOperationException($"dotnet publish of {project} failed (exit {publish.Exit}); output:\n{publish.Output}");
        }
        foreach (var lib in new[] { Encoder, Decoder })
            if (!File.Exists(lib)) throw new InvalidOperationException($"dotnet publish left no {lib}");

        MisuseDriver = Path.Combine(PluginDir, "frei0r_misuse");
        string cc = Environment.GetEnvironmentVariable("CC") is { Length: > 0 } c ? c : "cc";
        string source = Path.Combine(TestPaths.RepoRoot, "tests", "native", "frei0r_misuse.c");
        string[] common = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-o", MisuseDriver, source, "-ldl", "-lpthread"];
        var asan = NativePluginBuild.Run(cc, ["-fsanitize=address", "-fno-omit-frame-pointer", .. common], TimeSpan.FromMinutes(2));
        AddressSanitizer = asan.Exit == 0;
        if (!AddressSanitizer)
        {
            var plain = NativePluginBuild.Run(cc, common, TimeSpan.FromMinutes(2));
            if (plain.Exit != 0) throw new InvalidOperationException($"compiling {source} with {cc} failed (exit {plain.Exit}):\n{plain.Output}\n(with -fsanitize=address: {asan.Output})");
        }
    }
}
