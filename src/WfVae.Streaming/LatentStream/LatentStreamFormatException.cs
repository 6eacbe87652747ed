using WfVae.Model.Checkpoint;

namespace WfVae.Streaming.LatentStream;

/// <summary>
/// A latent stream whose file header is unusable (wrong magic, unknown version, cut-off or corrupt
/// JSON). Damage after the header is not an exception: the reader recovers the complete records and
/// reports <see cref="LatentStreamReader.StopReason"/>.
/// </summary>
public sealed class LatentStreamFormatException : InvalidModelDataException
{
    public LatentStreamFormatException(string message) : base(message) { }
    public LatentStreamFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>One run of contiguous latent frames, frame-major [Frames][L][h][w].</summary>
public sealed record LatentChunk(int FirstFrame, int Frames, float[] Mean, float[]? Logvar);

/// <summary>
/// The end-of-stream record. <see cref="VideoFrames"/> is the true input length: a decode-only
/// consumer cuts decoded output to it (frame policy "pad") or knows how many frames were ignored ("drop").
/// </summary>
public sealed record LatentStreamTrailer(long VideoFrames, int LatentFrames, int PaddedFrames, int DroppedFrames, int Chunks);
