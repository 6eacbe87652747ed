using System.Text.RegularExpressions;
using Xunit;

namespace WfVae.Tests.Plugin;

/// <summary>
/// The NativeAOT plugin builds and exports every function wfvae.h declares. No device: this class runs in parallel
/// with the device tests, so the minutes of the native build overlap them instead of coming after them (the plugin's
/// device tests then find the build done).
/// </summary>
public sealed class PluginBuildTests
{
    [Fact]
    public void ThePluginExportsEveryFunctionOfTheHeader()
    {
        if (OperatingSystem.IsWindows()) return; // the C driver and nm are Unix tools
        var build = NativePluginBuild.Get();
        Assert.True(File.Exists(build.Driver), build.Driver);
        var header = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "plugin", "include", "wfvae.h"));
        var declared = Regex.Matches(header, @"^[a-z][\w\s\*]*\b(wfvae_\w+)\(", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Contains("wfvae_set_log", declared);
        Assert.Contains("wfvae_open", declared);
        var nm = NativePluginBuild.Run("nm", ["-D", "--defined-only", build.Library], TimeSpan.FromMinutes(1));
        Assert.True(nm.Exit == 0, nm.Output);
        var exported = Regex.Matches(nm.Stdout, @"\s(wfvae_\w+)(@@\S+)?$", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet(); // name@@version
        Assert.Empty(declared.Except(exported));
    }

    [Fact]
    public void ThePluginStaysMappedWhenAHostUnloadsIt()
    {
        // The runtime inside keeps threads running after dlclose: unmapping the library under them crashes the host.
        if (!OperatingSystem.IsLinux()) return; // -z nodelete is an ELF flag
        var build = NativePluginBuild.Get();
        var readelf = NativePluginBuild.Run("readelf", ["-d", build.Library], TimeSpan.FromMinutes(1));
        Assert.True(readelf.Exit == 0, readelf.Output);
        Assert.Matches(@"FLAGS_1\)\s+Flags:.*\bNODELETE\b", readelf.Stdout);
    }
}
