using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Plugin;

/// <summary>
/// A C host that misuses the ABI (tests/native/plugin_misuse.c, built with AddressSanitizer): NULL and
/// made-up handles, NULL pointers, calls out of order and twice, bad sizes, six threads on one handle
/// while one of them closes it, a second handle at the same time, every call after close, a log callback
/// calling back into the handle whose call it logs, log callbacks of two handles at once (one calling into the
/// other handle while that one's push logs: no deadlock behind a lock shared by all handles). Every call
/// must return an allowed status with a one-line message, the run must end (no deadlock: the driver's
/// watchdog would kill it) and AddressSanitizer must find nothing in the host's memory.
/// </summary>
[Collection(Gpu.Native)]
public sealed class PluginMisuseTests(ITestOutputHelper log)
{
    [Fact]
    public void AMisbehavingHostGetsStatusCodesNeverACrash()
    {
        if (!OperatingSystem.IsLinux()) { log.WriteLine("skipped: the misuse driver is built with a Linux cc and AddressSanitizer"); return; }
        var build = NativePluginBuild.Get();
        var model = Path.Combine(TestPaths.Golden("tiny"), "model.safetensors");
        // .NET turns its own SIGSEGVs (null checks) into exceptions: ASan must leave that signal to it; the
        // runtime's heap is not malloc's, so leak reports would be noise.
        // WFVAE_VERBOSE: pushes log their kernel choices, which the reentrant log callback case needs.
        var env = new Dictionary<string, string>
        {
            ["ASAN_OPTIONS"] = "detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:abort_on_error=1",
            ["WFVAE_VERBOSE"] = "1",
        };
        var run = NativePluginBuild.Run(build.MisuseDriver, [model], TimeSpan.FromMinutes(10), environment: env);
        log.WriteLine(run.Output);
        Assert.DoesNotContain("AddressSanitizer", run.Output);
        Assert.True(run.Exit == 0, $"plugin_misuse exited with {run.Exit}: {string.Join("\n", run.Stdout.Split('\n').Where(l => l.StartsWith("FAIL")))}");
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("0 failed", lines);
        Assert.True(lines.Count(l => l.StartsWith("ok ")) > 100, "the driver ran fewer cases than it has");
        foreach (var name in new[] { "null_handle_push_frames", "closed_handle_info", "begin_huge", "push_int_max", "thread_push", "after_close_flush", "second_handle_push",
                     "callback_encoder_end", "callback_info", "reentrant_push", "reentrant_pull",
                     "cross_callbacks_run_at_once_a", "cross_callbacks_run_at_once_b", "cross_callback_info_other_handle", "cross_both_callbacks_ran" })
            Assert.Contains(lines, l => l == $"ok {name}" || l.StartsWith($"ok {name} "));
    }
}
