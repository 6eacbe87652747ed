using System.Diagnostics;
using WfVae.Tests.Checkpoint;
using Xunit;

namespace WfVae.Tests.Media;

/// <summary>Runs the ffmpeg / ffprobe command-line tools (installed by build.ps1 setup) as test oracles.</summary>
internal static class MediaTools
{
    public static string Run(string tool, params string[] args) => Run(tool, TimeSpan.FromSeconds(60), args);

    public static string Run(string tool, TimeSpan timeout, params string[] args)
    {
        using var p = Start(tool, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout)) { p.Kill(); Assert.Fail($"{tool} {string.Join(' ', args)} timed out"); }
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}");
        return stdout.Result;
    }

    public static Process Start(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in tool == "ffmpeg" ? ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", .. args] : args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Whether the ffmpeg CLI is built on the same major.minor of <paramref name="library"/> as WfVae.Media loaded.</summary>
    public static bool CliHasLoadedLibrary(string library)
    {
        var v = WfVae.Media.FFmpeg.FFmpegLibrary.LoadedVersions.Single(l => l.Library == library);
        return System.Text.RegularExpressions.Regex.IsMatch(Run("ffmpeg", "-version"), $@"{library}\s+{v.Major}\.\s*{v.Minor}\.");
    }

    /// <summary>ffprobe -show_streams for one stream as key=value pairs.</summary>
    public static Dictionary<string, string> ProbeStream(string path, string select = "v:0", params string[] extra)
    {
        var text = Run("ffprobe", ["-v", "error", "-select_streams", select, "-show_streams", .. extra, "-of", "flat=s=_:h=0", path]);
        var d = new Dictionary<string, string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var m = System.Text.RegularExpressions.Regex.Match(line, @"^(?:streams_)?stream_\d+_([^=]+)=(.*)$");
            if (m.Success) d[m.Groups[1].Value] = m.Groups[2].Value.Trim('"');
        }
        return d;
    }
}

/// <summary>Test clips generated once with the ffmpeg CLI (lavfi testsrc2: deterministic content).</summary>
public sealed class MediaClips : IDisposable
{
    private readonly TempDirectory _dir = new();
    public string Dir => _dir.Path;
    public string File(string name) => _dir.File(name);

    /// <summary>64x48, 12 fps, 9 frames, H.264 yuv420p in MP4.</summary>
    public string Mp4 { get; }
    /// <summary>The same 9 frames as MPEG-TS (streamable: for pipe input).</summary>
    public string Ts { get; }
    /// <summary>Video + audio in Matroska.</summary>
    public string AudioVideo { get; }
    public string AudioOnly { get; }
    public string Text { get; }

    public MediaClips()
    {
        Mp4 = File("clip.mp4");
        MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12", "-frames:v", "9", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-crf", "10", Mp4);
        Ts = File("clip.ts");
        MediaTools.Run("ffmpeg", "-i", Mp4, "-c", "copy", "-f", "mpegts", Ts);
        AudioVideo = File("av.mkv");
        MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
            "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "pcm_s16le", AudioVideo);
        AudioOnly = File("tone.wav");
        MediaTools.Run("ffmpeg", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000", "-t", "0.5", AudioOnly);
        Text = File("notes.txt");
        System.IO.File.WriteAllText(Text, "this is not a video\n");
    }

    /// <summary>The clip decoded to RGB24 by the ffmpeg CLI, one array per frame.</summary>
    public List<byte[]> DecodeWithCli(string path, int width, int height, string swsFlags = "bicubic")
    {
        var raw = File(Path.GetFileName(path) + $".{Guid.NewGuid():N}.rgb");
        MediaTools.Run("ffmpeg", "-i", path, "-sws_flags", swsFlags, "-f", "rawvideo", "-pix_fmt", "rgb24", raw);
        var bytes = System.IO.File.ReadAllBytes(raw);
        int size = width * height * 3;
        Assert.Equal(0, bytes.Length % size);
        return Enumerable.Range(0, bytes.Length / size).Select(i => bytes.AsSpan(i * size, size).ToArray()).ToList();
    }

    public void Dispose() => _dir.Dispose();
}
