using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using WfVae.IO;
using WfVae.Model;

namespace WfVae.Streaming.LatentStream;

/// <summary>
/// Writes a latent stream as latents arrive. Each record goes out whole and is flushed to the
/// operating system, so a reader (or a crash) sees only complete records plus at most one cut-off
/// record, which <see cref="LatentStreamReader"/> recovers from.
/// <para>
/// File form (<see cref="Create"/>): data goes to a unique temporary <c>&lt;path&gt;.&lt;8 hex&gt;.partial</c>
/// (<see cref="OutputFile"/>) and is renamed to <c>path</c> by <see cref="Complete"/> after the trailer
/// has reached the disk, so a file under the final name is always complete, and two writers of one name
/// never share a file. Each record is synced to disk as it is written. <see cref="Dispose"/> without
/// <see cref="Complete"/> closes and KEEPS the temporary: it holds every latent written so far and is
/// what a crash leaves too, so both cases are recovered the same way (read it, decode it, or complete it
/// with <see cref="LatentStreamRepair"/>). Delete it if unwanted.
/// </para>
/// Stream form (pipes, stdout): no rename; <see cref="Complete"/> writes the trailer and flushes.
/// </summary>
public sealed class LatentStreamWriter : IDisposable
{
    private readonly Stream _stream;
    private readonly OutputFile? _output;
    private readonly bool _leaveOpen;
    private bool _completed, _disposed, _faulted;
    private bool? _hasLogvar;

    public LatentStreamHeader Header { get; }

    /// <summary>Final path (file form), null for the stream form.</summary>
    public string? Path { get; }

    /// <summary>Path written until <see cref="Complete"/> (file form), null for the stream form.</summary>
    public string? PartialPath => _output?.WritePath;

    /// <summary>Latent frames written so far; the next chunk must start here.</summary>
    public int LatentFrames { get; private set; }

    public int Chunks { get; private set; }

    /// <summary>Bytes written so far (file header included).</summary>
    public long BytesWritten { get; private set; }

    public bool IsCompleted => _completed;

    /// <summary>Starts a unique temporary beside <paramref name="path"/> and writes the file header.</summary>
    public static LatentStreamWriter Create(string path, LatentStreamHeader header)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(header);
        header.Validate();
        // Kept after a failure only once it holds a chunk (WriteChunk): a bare header recovers nothing.
        var output = OutputFile.Create(path);
        try
        {
            return new LatentStreamWriter(output.Stream, header, leaveOpen: false, output);
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    /// <summary>Writes to any stream (pipe, stdout, memory); writes the file header at once.</summary>
    public LatentStreamWriter(Stream stream, LatentStreamHeader header, bool leaveOpen = false)
        : this(stream, header, leaveOpen, null) { }

    private LatentStreamWriter(Stream stream, LatentStreamHeader header, bool leaveOpen, OutputFile? output)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(header);
        if (!stream.CanWrite) throw new ArgumentException("The stream is not writable.", nameof(stream));
        header.Validate();
        (_stream, _leaveOpen, Header, _output) = (stream, leaveOpen, header, output);
        Path = output is null ? null : System.IO.Path.GetFullPath(output.Name);
        WriteFileHeader();
    }

    private void WriteFileHeader()
    {
        var json = Encoding.UTF8.GetBytes(Header.ToJson());
        // Pad with spaces (valid JSON whitespace) so the first record starts on an 8-byte boundary.
        int jsonLength = json.Length;
        while ((LatentStreamFormat.FilePrefixBytes + jsonLength + LatentStreamFormat.CrcBytes) % 8 != 0) jsonLength++;
        if (jsonLength > LatentStreamFormat.MaxHeaderJsonBytes)
            throw new ArgumentException($"The header JSON is {jsonLength} bytes; the format allows {LatentStreamFormat.MaxHeaderJsonBytes}.");
        var bytes = new byte[LatentStreamFormat.FilePrefixBytes + jsonLength + LatentStreamFormat.CrcBytes];
        LatentStreamFormat.Magic.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)Header.FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), (uint)jsonLength);
        json.CopyTo(bytes, LatentStreamFormat.FilePrefixBytes);
        bytes.AsSpan(LatentStreamFormat.FilePrefixBytes + json.Length, jsonLength - json.Length).Fill((byte)' ');
        int crcAt = bytes.Length - LatentStreamFormat.CrcBytes;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(crcAt), Crc32.HashToUInt32(bytes.AsSpan(0, crcAt)));
        Emit(() => _stream.Write(bytes), bytes.Length);
    }

    /// <summary>Writes one encoder output (see <see cref="EncoderSession.Push"/>); empty outputs are skipped.</summary>
    public void WriteChunk(LatentFrames latents)
    {
        ArgumentNullException.ThrowIfNull(latents);
        if (latents.Frames == 0) return;
        WriteChunk(latents.FirstFrame, latents.Frames, latents.Mean, latents.Logvar);
    }

    /// <summary>
    /// Appends latent frames <paramref name="firstFrame"/> .. +<paramref name="frames"/>, frame-major
    /// [frames][L][h][w]. <paramref name="logvar"/> is empty to store mean only; every chunk of a
    /// stream must make the same choice. Chunks must be contiguous (firstFrame == <see cref="LatentFrames"/>).
    /// </summary>
    public void WriteChunk(int firstFrame, int frames, ReadOnlySpan<float> mean, ReadOnlySpan<float> logvar)
    {
        ThrowIfUnusable();
        var (values, hasLogvar) = CheckChunk(firstFrame, frames, mean, logvar);
        long bodyLength = LatentStreamFormat.ChunkBodyPrefixBytes + values * 4 * (hasLogvar ? 2 : 1);

        Span<byte> prefix = stackalloc byte[LatentStreamFormat.RecordPrefixBytes + LatentStreamFormat.ChunkBodyPrefixBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(prefix, LatentStreamFormat.ChunkTag);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix[4..], hasLogvar ? LatentStreamFormat.ChunkHasLogvar : 0u);
        BinaryPrimitives.WriteUInt64LittleEndian(prefix[8..], (ulong)bodyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix[16..], (uint)firstFrame);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix[20..], (uint)frames);

        var crc = new Crc32();
        var meanBytes = LatentStreamFormat.FloatBytes(mean);
        var logvarBytes = LatentStreamFormat.FloatBytes(logvar);
        crc.Append(prefix);
        crc.Append(meanBytes);
        crc.Append(logvarBytes);
        Span<byte> tail = stackalloc byte[LatentStreamFormat.CrcBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, crc.GetCurrentHashAsUInt32());

        long recordBytes = prefix.Length + meanBytes.Length + logvarBytes.Length + tail.Length;
        try
        {
            _stream.Write(prefix);
            _stream.Write(meanBytes);
            _stream.Write(logvarBytes);
            _stream.Write(tail);
            // On disk, not just with the OS: a power cut then loses at most the record being written.
            if (_output is { IsDirect: false }) ((FileStream)_stream).Flush(flushToDisk: true); else _stream.Flush();
        }
        catch
        {
            // A record may be half out: nothing more may follow it.
            _faulted = true;
            throw;
        }
        BytesWritten += recordBytes;
        if (_output != null) _output.KeepOnFailure = true;
        _hasLogvar = hasLogvar;
        LatentFrames += frames;
        Chunks++;
    }

    /// <summary>Refuses a chunk that does not continue the stream as its earlier chunks did; its value count and logvar presence.</summary>
    private (long Values, bool HasLogvar) CheckChunk(int firstFrame, int frames, ReadOnlySpan<float> mean, ReadOnlySpan<float> logvar)
    {
        if (frames <= 0)
            throw new ArgumentOutOfRangeException(nameof(frames), frames, "A chunk holds at least one latent frame.");
        if (firstFrame != LatentFrames)
            throw new ArgumentException(
                $"Chunk starts at latent frame {firstFrame}, but {LatentFrames} frames have been written: chunks must be contiguous.",
                nameof(firstFrame));
        long values = frames * Header.FrameValues;
        if (mean.Length != values)
            throw new ArgumentException(
                $"mean has {mean.Length} values; {frames} latent frames of {Header.LatentChannels}x{Header.LatentHeight}x{Header.LatentWidth} need {values}.",
                nameof(mean));
        bool hasLogvar = !logvar.IsEmpty;
        if (hasLogvar && logvar.Length != values)
            throw new ArgumentException($"logvar has {logvar.Length} values, expected {values} (or none).", nameof(logvar));
        if (_hasLogvar is bool expected && expected != hasLogvar)
            throw new ArgumentException(
                expected ? "Earlier chunks carry logvar; this one has none." : "Earlier chunks carry no logvar; this one has some.",
                nameof(logvar));
        return (values, hasLogvar);
    }

    /// <summary>
    /// Writes the trailer, flushes to disk and (file form) renames the temporary to the final name,
    /// replacing an existing file. <paramref name="videoFrames"/> is the true input length; with
    /// policy "pad" <paramref name="paddedFrames"/> copies of the last frame were appended, with
    /// "drop" the last <paramref name="droppedFrames"/> input frames were ignored (docs/model.md#end-of-stream). The
    /// counts must agree with the latent frames written: videoFrames + padded − dropped = 1 + k·(L-frames − 1)
    /// with k the temporal compression.
    /// </summary>
    public LatentStreamTrailer Complete(long videoFrames, int paddedFrames, int droppedFrames)
    {
        ThrowIfUnusable();
        if (videoFrames < 0 || paddedFrames < 0 || droppedFrames < 0)
            throw new ArgumentOutOfRangeException(nameof(videoFrames), "Frame counts cannot be negative.");
        var trailer = new LatentStreamTrailer(videoFrames, LatentFrames, paddedFrames, droppedFrames, Chunks);
        if (trailer.Problem(Header) is { } problem) throw new ArgumentException(problem);
        var bytes = trailer.ToRecord();
        Emit(() =>
        {
            _stream.Write(bytes);
            if (_stream is FileStream file) file.Flush(flushToDisk: true); // the rename must not overtake the data
            else _stream.Flush();
        }, bytes.Length);
        _completed = true;
        _output?.Commit();
        return trailer;
    }

    /// <summary>Closes the output. Without <see cref="Complete"/> the temporary stays (see the class summary).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_output is not null) _output.Dispose();
        else if (!_leaveOpen) _stream.Dispose();
        else if (!_faulted)
        {
            try { _stream.Flush(); } catch (IOException) { }
        }
    }

    private void Emit(Action write, int length)
    {
        try { write(); }
        catch { _faulted = true; throw; }
        BytesWritten += length;
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) throw new InvalidOperationException("The latent stream is already complete.");
        if (_faulted) throw new InvalidOperationException("An earlier write failed; the stream may end in a partial record and cannot be continued.");
    }
}
