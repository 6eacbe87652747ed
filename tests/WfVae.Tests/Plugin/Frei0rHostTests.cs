using WfVae.Streaming.LatentStream;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Plugin;

/// <summary>
/// The frei0r plugins inside the real programs (Debian's ffmpeg, gst-launch-1.0, melt, mpv; installed by
/// build.ps1 setup), driven headless by the commands docs/plugin.md shows. What the hosts wrote is checked
/// against the CLI on the same frames (see <see cref="Frei0rHosts.AssertSameAsCli"/>): bit for bit, since
/// the engine, the frame schedule and the pixel mapping are the same. Unix only (the hosts are).
/// </summary>
public sealed class Frei0rHostTests(ITestOutputHelper log)
{
    [Fact]
    public void Ffmpeg_filter_writes_the_cli_latents_reconstructs_late_and_the_source_plays_them_back()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the hosts are Unix programs here"); return; }
        using var hosts = new Frei0rHosts();
        var clip = hosts.Clip();
        hosts.RunDocumented("ffmpeg-encode");
        var decoded = hosts.AssertSameAsCli(hosts.File("clip.wfl"), clip, "ffmpeg");

        // The reconstruct switch: frame n shows recon frame max(0, n - delay); its .wfl is the same as without.
        hosts.RunDocumented("ffmpeg-reconstruct");
        var shown = hosts.Rgb24Frames(hosts.File("recon.mkv"));
        int delay = Frei0rHosts.ReconstructionDelay();
        Assert.Equal(clip.Input.Count, shown.Count);
        for (int n = 0; n < shown.Count; n++)
            Assert.True(clip.Recon[Math.Max(0, n - delay)].AsSpan().SequenceEqual(shown[n]), $"output frame {n} is not the reconstruction of input frame {Math.Max(0, n - delay)}");
        using (var recon = LatentStreamReader.Open(hosts.File("recon.wfl")))
        {
            var (mean, _) = recon.ReadAll();
            Frei0rHosts.AssertBits("reconstruct mean", clip.Mean, mean.Data);
            Assert.Equal(clip.Trailer, recon.Trailer);
        }

        var output = hosts.RunDocumented("ffmpeg-decode");
        Frei0rHosts.AssertFramesEqual("frei0r_src", decoded, hosts.Rgb24Frames(hosts.File("decoded.mkv")));
        // -frames:v stops at the stream's end: the source has nothing to report.
        Assert.DoesNotContain(output.Split('\n'), l => l.StartsWith("wfvae_decode:"));

        // A stream cut short (a writer killed mid-way): the source plays what is intact, says so, and holds
        // its last frame; the host, asking for more frames than the whole clip has, finishes normally.
        var bytes = File.ReadAllBytes(hosts.File("clip.wfl"));
        File.WriteAllBytes(hosts.File("cut.wfl"), bytes.AsSpan(0, bytes.Length * 2 / 3).ToArray());
        var cut = hosts.File("cut.rgb");
        var run = NativePluginBuild.Run("ffmpeg", ["-hide_banner", "-nostdin", "-nostats", "-f", "lavfi", "-i", "frei0r_src=size=64x48:framerate=8:filter_name=wfvae_decode:filter_params=cut.wfl",
            "-frames:v", $"{Frei0rHosts.Frames + 3}", "-f", "rawvideo", "-pix_fmt", "rgb24", cut], TimeSpan.FromMinutes(3), hosts.Dir, hosts.Environment);
        Assert.True(run.Exit == 0, run.Output);
        // ffmpeg's progress line ends in \r, not \n: split on both.
        var lines = run.Output.Split('\n', '\r').Where(l => l.StartsWith("wfvae_decode:")).ToList();
        Assert.True(lines.Count == 2, run.Output);
        Assert.Contains("is incomplete", lines[0]);
        Assert.Contains("the last frame stays on screen", lines[1]);
        var intact = hosts.DecodeWithCli(hosts.File("cut.wfl"));
        var played = Frei0rHosts.Split(cut);
        Assert.InRange(intact.Count, 1, Frei0rHosts.Frames - 1);
        Frei0rHosts.AssertFramesEqual("the intact part", intact, played.Take(intact.Count).ToList());
        Assert.All(played.Skip(intact.Count), f => Assert.True(f.AsSpan().SequenceEqual(intact[^1]), "after the end the last frame stays"));
    }

    [Fact]
    public void Gstreamer_elements_encode_the_frames_they_see_and_play_the_stream_back()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the hosts are Unix programs here"); return; }
        using var hosts = new Frei0rHosts();
        hosts.RunDocumented("gstreamer-encode");
        // The frames the filter saw: the same source and caps, converted to the RGBA the element asks for.
        var reference = hosts.File("gst-reference.rgba");
        var run = NativePluginBuild.Run("gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=11", "!", "video/x-raw,width=64,height=48,framerate=8/1", "!",
            "videoconvert", "!", "video/x-raw,format=RGBA", "!", "filesink", $"location={reference}"], TimeSpan.FromMinutes(2));
        Assert.True(run.Exit == 0, run.Output);
        var rgba = File.ReadAllBytes(reference);
        var input = Enumerable.Range(0, rgba.Length / (4 * 64 * 48))
            .Select(i => Enumerable.Range(0, 64 * 48).SelectMany(p => rgba.AsSpan(i * 4 * 64 * 48 + 4 * p, 3).ToArray()).ToArray()).ToList();
        Assert.Equal(Frei0rHosts.Frames, input.Count);
        var decoded = hosts.AssertSameAsCli(hosts.File("gst.wfl"), hosts.Reference(input, "gstreamer"), "gstreamer");

        hosts.RunDocumented("gstreamer-decode");
        Frei0rHosts.AssertFramesEqual("frei0r-src-wfvae-decode", decoded, Frei0rHosts.Split(hosts.File("gst-decoded.rgb")));
    }

    [Fact]
    public void Melt_filter_ends_the_stream_once_despite_repeated_last_frames_and_the_producer_plays_it()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the hosts are Unix programs here"); return; }
        using var hosts = new Frei0rHosts();
        var clip = hosts.Clip();
        hosts.RunDocumentedRetryingIncomplete("melt-encode", TimeSpan.FromMinutes(2), "melt-out.mkv", log);
        // melt renders its last frame several times at the end; only the 11 real frames may be encoded.
        var decoded = hosts.AssertSameAsCli(hosts.File("melt.wfl"), clip, "melt");
        Frei0rHosts.AssertFramesEqual("melt pass-through", clip.Input, hosts.Rgb24Frames(hosts.File("melt-out.mkv")));

        hosts.RunDocumentedRetryingIncomplete("melt-decode", TimeSpan.FromMinutes(2), "melt-decoded.mkv", log);
        Frei0rHosts.AssertFramesEqual("melt frei0r.wfvae_decode producer", decoded, hosts.Rgb24Frames(hosts.File("melt-decoded.mkv")));
    }

    [Fact]
    public void Mpv_runs_the_filter_through_lavfi_and_plays_the_source()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the hosts are Unix programs here"); return; }
        using var hosts = new Frei0rHosts();
        var clip = hosts.Clip();
        hosts.RunDocumented("mpv-encode");
        var decoded = hosts.AssertSameAsCli(hosts.File("mpv.wfl"), clip, "mpv");

        hosts.RunDocumented("mpv-decode");
        Frei0rHosts.AssertFramesEqual("mpv av://lavfi:frei0r_src", decoded, hosts.Rgb24Frames(hosts.File("mpv-decoded.nut")));
    }

    [Fact]
    public void A_size_that_is_not_a_multiple_of_8_is_refused_with_one_line_and_no_crash()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the hosts are Unix programs here"); return; }
        using var hosts = new Frei0rHosts();
        var run = NativePluginBuild.Run("ffmpeg", ["-hide_banner", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=60x44:rate=8", "-frames:v", "3",
            "-vf", $"frei0r=filter_name=wfvae_encode:filter_params={hosts.File("odd.wfl")}", "-f", "null", "-"],
            TimeSpan.FromMinutes(2), hosts.Dir, hosts.Environment);
        log.WriteLine(run.Output);
        Assert.NotEqual(0, run.Exit); // ffmpeg's own failure to configure the filter, not a crash (which would be a signal)
        Assert.True(run.Exit is > 0 and < 128, $"ffmpeg ended with {run.Exit}");
        var lines = run.Output.Split('\n').Where(l => l.StartsWith("wfvae_encode:")).ToList();
        Assert.Single(lines);
        Assert.Contains("60x44", lines[0]);
        Assert.Contains("multiples of 8", lines[0]);
        Assert.False(File.Exists(hosts.File("odd.wfl")));
    }

    [Fact]
    public void A_missing_model_leaves_the_filter_passing_frames_through_and_the_host_finishing()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the hosts are Unix programs here"); return; }
        using var hosts = new Frei0rHosts();
        hosts.RunDocumented("clip");
        var input = hosts.Rgb24Frames(hosts.File("clip.mkv"));
        var output = hosts.File("through.rgb");
        var run = NativePluginBuild.Run("ffmpeg", ["-hide_banner", "-nostdin", "-i", hosts.File("clip.mkv"),
            "-vf", $"frei0r=filter_name=wfvae_encode:filter_params={hosts.File("x.wfl")}|{hosts.File("no-such-model")}", "-f", "rawvideo", "-pix_fmt", "rgb24", output],
            TimeSpan.FromMinutes(2), hosts.Dir, hosts.Environment);
        Assert.True(run.Exit == 0, run.Output);
        var lines = run.Output.Split('\n').Where(l => l.StartsWith("wfvae_encode:")).ToList();
        Assert.Single(lines);
        Assert.Contains("no-such-model", lines[0]);
        Frei0rHosts.AssertFramesEqual("pass-through after a failure", input, Frei0rHosts.Split(output));
        Assert.False(File.Exists(hosts.File("x.wfl")));
    }
}
