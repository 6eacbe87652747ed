using System.Diagnostics;
using System.Runtime.InteropServices;

namespace WfVae.Tests.Plugin;

/// <summary>
/// The NativeAOT plugin and the C driver (tests/native/plugin_e2e.c), built once per test run.
/// <para>
/// The plugin is published with <c>dotnet publish plugin/WfVae.Plugin -r &lt;rid&gt; -c Release</c> into
/// artifacts/plugin-test/&lt;rid&gt;/, the same command as <c>build.ps1 plugin</c>. Publishing always runs
/// (rather than reusing a library found on disk) so the test never checks a stale build; MSBuild's
/// incremental build makes a repeat with unchanged sources take seconds, the first one a minute or two
/// (ILCompiler restore from NuGet, native code generation). Release keeps its obj/bin apart from the
/// Debug build the tests run on, so the nested publish cannot disturb the running test assembly.
/// </para>
/// The driver is compiled with the system C compiler ($CC, else cc) against plugin/include/wfvae.h and
/// linked to the library with an rpath, so it runs without LD_LIBRARY_PATH.
/// </summary>
internal sealed class NativePluginBuild
{
    private static readonly Lazy<NativePluginBuild> Shared = new(() => new NativePluginBuild(), LazyThreadSafetyMode.ExecutionAndPublication);

    public static NativePluginBuild Get() => Shared.Value;

    public string OutputDir { get; }
    public string Library { get; }
    public string Driver { get; }
    /// <summary>tests/native/plugin_misuse.c built with AddressSanitizer (gcc and clang on Linux have it).</summary>
    public string MisuseDriver { get; }

    private NativePluginBuild()
    {
        string rid = RuntimeInformation.RuntimeIdentifier;
        OutputDir = Path.Combine(TestPaths.RepoRoot, "artifacts", "plugin-test", rid);
        string ext = OperatingSystem.IsMacOS() ? ".dylib" : ".so";
        Library = Path.Combine(OutputDir, "wfvae_plugin" + ext);
        Driver = Path.Combine(OutputDir, "plugin_e2e");

        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var publish = Publish(dotnet, Path.Combine(TestPaths.RepoRoot, "plugin", "WfVae.Plugin", "WfVae.Plugin.csproj"), rid, OutputDir);
        if (publish.Exit != 0 || !File.Exists(Library))
            throw new InvalidOperationException($"dotnet publish of the plugin failed (exit {publish.Exit}); output:\n{publish.Output}");

        string cc = Environment.GetEnvironmentVariable("CC") is { Length: > 0 } c ? c : "cc";
        var compile = Run(cc, ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1",
            "-I", Path.Combine(TestPaths.RepoRoot, "plugin", "include"),
            "-o", Driver, Path.Combine(TestPaths.RepoRoot, "tests", "native", "plugin_e2e.c"),
            Library, "-Wl,-rpath," + OutputDir], TimeSpan.FromMinutes(2));
        if (compile.Exit != 0)
            throw new InvalidOperationException($"compiling tests/native/plugin_e2e.c with {cc} failed (exit {compile.Exit}):\n{compile.Output}");

        MisuseDriver = Path.Combine(OutputDir, "plugin_misuse");
        var misuse = Run(cc, ["-std=c99", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer",
            "-I", Path.Combine(TestPaths.RepoRoot, "plugin", "include"),
            "-o", MisuseDriver, Path.Combine(TestPaths.RepoRoot, "tests", "native", "plugin_misuse.c"),
            Library, "-Wl,-rpath," + OutputDir, "-lpthread"], TimeSpan.FromMinutes(2));
        if (misuse.Exit != 0)
            throw new InvalidOperationException($"compiling tests/native/plugin_misuse.c with {cc} -fsanitize=address failed (exit {misuse.Exit}):\n{misuse.Output}");
    }

    private static readonly object PublishLock = new();

    /// <summary>
    /// <c>dotnet publish -c Release</c> of a plugin project, one at a time: the plugin projects build the same engine
    /// projects into the same Release obj/ folders, and their test collections run in parallel.
    /// </summary>
    public static (int Exit, string Output, string Stdout) Publish(string dotnet, string project, string rid, string outputDir)
    {
        lock (PublishLock)
            return Run(dotnet, ["publish", project, "-r", rid, "-c", "Release", "-o", outputDir, "-nodeReuse:false"], TimeSpan.FromMinutes(10));
    }

    /// <summary>
    /// Runs a program to completion with stdin closed (ffmpeg and mpv would read commands from it);
    /// Output is stdout then stderr. <paramref name="environment"/> adds or replaces variables.
    /// </summary>
    public static (int Exit, string Output, string Stdout) Run(string file, IEnumerable<string> args, TimeSpan timeout,
        string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        // `dotnet test` exports MSBuild variables (SDK paths, node settings) meant for its own build; a nested
        // `dotnet publish` must resolve its SDK afresh.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException($"cannot start '{file}': {e.Message}", e); }
        using (p)
        {
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"'{file} {string.Join(' ', psi.ArgumentList)}' did not finish within {timeout}");
            }
            p.WaitForExit();
            return (p.ExitCode, stdout.Result + stderr.Result, stdout.Result);
        }
    }
}
