using WfVae.Streaming.LatentStream;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Plugin;

/// <summary>
/// The frei0r entry points under a host that misbehaves (tests/native/frei0r_misuse.c, under AddressSanitizer
/// where the compiler links it): out of order, twice, NULL, unknown and destroyed instances, bad sizes and
/// indices, f0r_deinit first, several threads at once. No crash, no hang (a time limit), every case passes,
/// each complaint is one stderr line from the plugin, and the stream four threads encoded at once is whole.
/// </summary>
public sealed class Frei0rMisuseTests(ITestOutputHelper log)
{
    private static readonly string[] Cases =
    [
        "info_before_init", "param_info_bad_index", "param_info_all", "init_twice", "bad_sizes_refused",
        "null_and_unknown_instances", "string_params", "failed_filter_passthrough", "filter_after_destruct",
        "failed_source_black", "source_after_destruct", "deinit_before_destruct", "encode_shared_instance_threads",
        "filter_churn_threads", "source_wrong_size_black", "source_repeat_and_restart", "source_past_end_holds",
        "source_shared_instance_threads", "source_churn_threads",
    ];

    [Fact]
    public void Misbehaving_host_gets_no_crash_no_hang_and_one_line_per_complaint()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the driver is built with a Unix cc"); return; }
        var build = Frei0rBuild.Get();
        log.WriteLine($"AddressSanitizer: {build.AddressSanitizer}");
        using var hosts = new Frei0rHosts();
        // The .NET runtime in the plugins handles SIGSEGV itself (null checks): ASan must leave that signal to it.
        var env = new Dictionary<string, string> { ["ASAN_OPTIONS"] = "handle_segv=0:allow_user_segv_handler=1:detect_leaks=0" };
        var run = NativePluginBuild.Run(build.MisuseDriver, [build.Encoder, build.Decoder, Frei0rHosts.DefaultModel, hosts.Dir],
            TimeSpan.FromMinutes(8), hosts.Dir, env);
        log.WriteLine(run.Output);
        Assert.True(run.Exit == 0, $"frei0r_misuse exited with {run.Exit}:\n{run.Output}");
        var passed = run.Stdout.Split('\n').Where(l => l.StartsWith("ok ")).Select(l => l[3..].Trim()).ToHashSet();
        foreach (var c in Cases) Assert.Contains(c, passed);

        // stderr carries only the plugins' own lines, each naming the plugin.
        var stderr = run.Output[run.Stdout.Length..].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(stderr);
        Assert.All(stderr, l => Assert.Matches("^wfvae_(encode|decode): ", l));
        Assert.Contains(stderr, l => l.Contains("63x48") && l.Contains("multiples of 8"));
        Assert.Contains(stderr, l => l.Contains("was destroyed"));
        Assert.Contains(stderr, l => l.Contains("parameter index 99 is out of range"));

        // Four threads fed one encoder: the stream is complete and decodes to the frames it counts.
        var wfl = hosts.File("threads.wfl");
        using (var reader = LatentStreamReader.Open(wfl))
        {
            reader.ReadAll();
            Assert.True(reader.Complete, reader.StopReason);
            Assert.InRange(reader.Trailer!.VideoFrames, 1, 20);
            Assert.Equal(reader.Trailer.VideoFrames, hosts.DecodeWithCli(wfl).Count);
        }
    }
}
