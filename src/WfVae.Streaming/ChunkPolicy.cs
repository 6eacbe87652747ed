using WfVae.Model.Checkpoint;

namespace WfVae.Streaming;

/// <summary>
/// How a stream is cut into pushes (docs/streaming.md): the first frame (or latent) goes alone, so the first output
/// leaves at once, and every later push carries <c>chunk</c> of them; chunk 0 is whole-clip inference, one push of
/// everything. The cut changes when outputs leave, never their values (streamed = whole clip, bit for bit).
/// The streaming encoder and decoder, the command line and the demo all cut streams this way.
/// </summary>
public static class ChunkPolicy
{
    /// <summary>Items the next push takes when <paramref name="pushed"/> went in before: 1 first, then the chunk (chunk 0: everything).</summary>
    public static int NextPush(long pushed, int chunk) => chunk == 0 ? int.MaxValue : pushed == 0 ? 1 : chunk;

    /// <summary>The pushes (start, count) of a stream of <paramref name="total"/> items.</summary>
    public static IEnumerable<(int Start, int Count)> Pushes(int total, int chunk)
    {
        for (int start = 0; start < total;)
        {
            int count = (int)Math.Min(NextPush(start, chunk), total - start);
            yield return (start, count);
            start += count;
        }
    }

    /// <summary>
    /// Checks an encoder chunk (video frames: a multiple of 4, so each push completes whole latents) or a decoder
    /// chunk (latent frames: any). GroupNorm models only run whole clips: their statistics span every frame of a
    /// push (docs/model.md, "Causal streaming").
    /// </summary>
    public static void Check(WfVaeConfig config, int chunk, bool videoFrames)
    {
        ArgumentNullException.ThrowIfNull(config);
        int multiple = videoFrames ? WfVaeConfig.TemporalCompression : 1;
        if (chunk < 0 || chunk % multiple != 0)
            throw new ArgumentException($"the chunk size must be {(videoFrames ? $"a multiple of {multiple} video frames" : "latent frames")} (0 = whole clip), got {chunk}");
        if (chunk != 0 && config.NormType == NormType.GroupNorm)
            throw new NotSupportedException("this model uses GroupNorm, whose statistics span the whole clip: chunked streaming would change the result; use whole-clip inference (chunk 0)");
    }
}
