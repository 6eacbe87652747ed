using WfVae.Streaming.LatentStream;

namespace WfVae.Cli;

/// <summary>
/// wfvae repair: completes a latent stream whose writer never finished (the <c>&lt;name&gt;.&lt;8 hex&gt;.partial</c>
/// a killed encode leaves, or any cut-off .wfl): intact chunks kept, a damaged tail cut, the trailer
/// written, in place or to --output. A stream with no intact chunk is an error.
/// </summary>
internal static class RepairCommand
{
    public static int Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        var input = o.RequirePath("--input", "repair completes a latent stream file");
        if (InputFormats.Of(input) != InputFormat.LatentStream && File.Exists(input))
            throw new InvalidDataException($"'{input}' is not a latent stream (it does not start with \"WFVAELAT\")");
        var r = LatentStreamRepair.Repair(input, o.Get("--output"));
        if (o.Has("--quiet")) return 0;
        // With the stream on stdout (--output -), the summary would land inside it.
        var messages = StreamOptions.MessageWriter(o, stdout, stderr);
        var where = o.Get("--output") is { } output ? $" -> {output}" : " (in place)";
        messages.WriteLine(r.WasComplete
            ? $"{input} is already complete: {r.LatentFrames} latent frames in {r.Chunks} chunks, {r.VideoFrames} video frames; " +
              (o.Get("--output") is { } copy ? $"copied to {copy}" : "nothing to do")
            : $"repaired {input}{where}: {r.LatentFrames} latent frames in {r.Chunks} chunks kept, covering {r.VideoFrames} video frames" +
              $"{(r.DiscardedBytes > 0 ? $"; {r.DiscardedBytes} bytes after the last intact chunk cut" : "")} ({r.StopReason})");
        return 0;
    }
}
