using WfVae.IO;

namespace WfVae.Streaming.LatentStream;

/// <summary>What <see cref="LatentStreamRepair.Repair"/> did.</summary>
public sealed record LatentStreamRepairResult(string Path, bool WasComplete, int LatentFrames, int Chunks, long VideoFrames, long DiscardedBytes, string? StopReason);

/// <summary>
/// Completes a latent stream whose writer never wrote the trailer (killed, crashed, power cut): the
/// intact records are kept, anything after them (a cut-off or damaged record) is cut, and a trailer is
/// appended that covers exactly the frames the latents came from, T = 1 + k·(t − 1), nothing padded or
/// dropped. How many further input frames the writer had read is not recorded anywhere, so that is the
/// most a repaired trailer can claim.
/// </summary>
public static class LatentStreamRepair
{
    /// <summary>
    /// Repairs <paramref name="path"/> in place, or writes the repaired stream to <paramref name="output"/>
    /// (through <see cref="OutputFile"/>) and leaves the source alone; a stream that is already complete is left
    /// as it is, or copied whole to <paramref name="output"/>. In place, a file still open by its writer is
    /// refused: the writer's lock makes the exclusive open fail.
    /// </summary>
    public static LatentStreamRepairResult Repair(string path, string? output = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        LatentStreamTrailer trailer;
        LatentStreamRepairResult result;
        long valid;
        using (var reader = LatentStreamReader.Open(path))
        {
            foreach (var _ in reader.ReadChunks()) { }
            long length = new FileInfo(path).Length;
            if (reader.Complete)
            {
                // One asking for a repaired copy gets one, also of a stream that needs no repair (up to its trailer).
                if (output != null) CopyPrefix(path, output, reader.ValidBytes, null);
                return new LatentStreamRepairResult(path, true, reader.LatentFramesRead, reader.ChunksRead, reader.Trailer!.VideoFrames, 0, reader.StopReason);
            }
            if (reader.ChunksRead == 0)
                throw new InvalidDataException($"'{path}' holds no intact chunk ({reader.StopReason}); there is nothing to repair");
            int t = reader.LatentFramesRead;
            trailer = new LatentStreamTrailer(1 + (long)reader.Header.TemporalCompression * (t - 1), t, 0, 0, reader.ChunksRead);
            valid = reader.ValidBytes;
            result = new LatentStreamRepairResult(path, false, t, reader.ChunksRead, trailer.VideoFrames, length - valid, reader.StopReason);
        }
        // Closed first: the in-place repair's exclusive open must only meet other processes' handles.
        if (output is null) RepairInPlace(path, valid, trailer);
        else CopyPrefix(path, output, valid, trailer);
        return result;
    }

    private static void RepairInPlace(string path, long valid, LatentStreamTrailer trailer)
    {
        FileStream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new IOException($"'{path}' cannot be opened for repair ({e.Message}); if its writer is still running, wait for it or repair to another file with --output", e);
        }
        using (file)
        {
            file.SetLength(valid);
            file.Position = valid;
            file.Write(trailer.ToRecord());
            file.Flush(flushToDisk: true);
        }
    }

    /// <summary>The first <paramref name="valid"/> bytes of <paramref name="path"/> to <paramref name="output"/>, then <paramref name="trailer"/> if any.</summary>
    private static void CopyPrefix(string path, string output, long valid, LatentStreamTrailer? trailer)
    {
        using var target = OutputFile.Create(output);
        using (var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            var buffer = new byte[1 << 16];
            for (long left = valid; left > 0;)
            {
                int n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new IOException($"'{path}' shrank while it was being copied");
                target.Stream.Write(buffer, 0, n);
                left -= n;
            }
        }
        if (trailer != null) target.Stream.Write(trailer.ToRecord());
        target.Commit();
    }
}
