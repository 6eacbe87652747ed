using System.Buffers.Binary;
using System.IO.Hashing;
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
public sealed record LatentStreamTrailer(long VideoFrames, int LatentFrames, int PaddedFrames, int DroppedFrames, int Chunks)
{
    /// <summary>
    /// What breaks the format's invariant (§1: T + padded − dropped = 1 + k·(t − 1), or 0 for t = 0; at
    /// most k − 1 frames padded or dropped, and only as the header's policy allows), or null. The writer
    /// refuses such counts and the reader refuses such a trailer, by this one rule.
    /// </summary>
    public string? Problem(LatentStreamHeader header)
    {
        int k = header.TemporalCompression;
        if (VideoFrames < 0 || PaddedFrames < 0 || DroppedFrames < 0 || LatentFrames < 0)
            return "frame counts cannot be negative";
        if (PaddedFrames >= k || DroppedFrames >= k)
            return $"at most {k - 1} frames are padded or dropped (got padded {PaddedFrames}, dropped {DroppedFrames})";
        if (header.FramePolicy == LatentStreamHeader.PolicyDrop && PaddedFrames != 0)
            return $"frame policy is 'drop' but {PaddedFrames} padded frames are reported";
        if (header.FramePolicy == LatentStreamHeader.PolicyPad && DroppedFrames != 0)
            return $"frame policy is 'pad' but {DroppedFrames} dropped frames are reported";
        long expected = LatentFrames == 0 ? 0 : 1 + (long)k * (LatentFrames - 1);
        // Compared without adding to VideoFrames, which a damaged file can set near long.MaxValue.
        if (VideoFrames != expected - PaddedFrames + DroppedFrames)
            return $"{VideoFrames} video frames + {PaddedFrames} padded − {DroppedFrames} dropped do not make the " +
                   $"{expected} encoded frames that {LatentFrames} latent frames come from (1 + {k}·(t − 1))";
        return null;
    }

    /// <summary>The whole TRLR record (prefix, body, CRC), §1.</summary>
    public byte[] ToRecord()
    {
        var bytes = new byte[LatentStreamFormat.RecordPrefixBytes + LatentStreamFormat.TrailerBodyBytes + LatentStreamFormat.CrcBytes];
        var s = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, LatentStreamFormat.TrailerTag);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], LatentStreamFormat.TrailerBodyBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], (ulong)VideoFrames);
        BinaryPrimitives.WriteUInt32LittleEndian(s[24..], (uint)LatentFrames);
        BinaryPrimitives.WriteUInt32LittleEndian(s[28..], (uint)PaddedFrames);
        BinaryPrimitives.WriteUInt32LittleEndian(s[32..], (uint)DroppedFrames);
        BinaryPrimitives.WriteUInt32LittleEndian(s[36..], (uint)Chunks);
        int crcAt = bytes.Length - LatentStreamFormat.CrcBytes;
        BinaryPrimitives.WriteUInt32LittleEndian(s[crcAt..], Crc32.HashToUInt32(s[..crcAt]));
        return bytes;
    }
}
