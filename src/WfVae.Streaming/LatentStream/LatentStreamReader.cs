using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using WfVae.IO;
using WfVae.Model;

namespace WfVae.Streaming.LatentStream;

/// <summary>
/// Reads a latent stream, complete or not. The file header must be intact (otherwise
/// <see cref="LatentStreamFormatException"/>); after it, records are returned while they are whole,
/// pass their CRC and continue the frame sequence. At the first one that does not, reading stops
/// without an exception: <see cref="StopReason"/> says why and where, <see cref="ValidBytes"/> is the
/// length of the good prefix. That covers a file cut off mid-write, one still being written, and one
/// damaged later on.
/// <para>
/// <see cref="Trailer"/>, <see cref="Complete"/>, <see cref="StopReason"/> and <see cref="ValidBytes"/>
/// describe what <see cref="ReadChunks"/> has seen so far; they are final once it has been enumerated
/// to the end (as <see cref="ReadAll"/> does).
/// </para>
/// </summary>
public sealed class LatentStreamReader : IDisposable
{
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly string _source;
    private bool _enumerated;
    // Offsets are counted from the start of the latent stream (the file offset, for files):
    // _origin is where that start lies in a seekable stream.
    private long _origin;
    private long _position;

    public LatentStreamHeader Header { get; }

    /// <summary>Bytes of the file header; the first record starts here.</summary>
    public long HeaderBytes { get; }

    /// <summary>The end-of-stream record, once read and found consistent; null before, or if absent.</summary>
    public LatentStreamTrailer? Trailer { get; private set; }

    /// <summary>A consistent trailer was read: nothing of the stream is missing.</summary>
    public bool Complete => Trailer is not null;

    /// <summary>Why reading stopped before a trailer (or what followed it); null while nothing is wrong.</summary>
    public string? StopReason { get; private set; }

    /// <summary>End of the last good record (or of the header): this prefix of the file is intact.</summary>
    public long ValidBytes { get; private set; }

    public int ChunksRead { get; private set; }

    public int LatentFramesRead { get; private set; }

    /// <summary>Whether the chunks carry logvar; null until a chunk has been read.</summary>
    public bool? HasLogvar { get; private set; }

    /// <summary>
    /// Opens a file for reading, whatever its name; it may still be growing (a writer's temporary). Only
    /// regular files: a FIFO or device has no length to follow.
    /// </summary>
    public static LatentStreamReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            var partial = OutputFile.TemporariesOf(full).FirstOrDefault();
            throw new FileNotFoundException(partial != null
                ? $"Latent stream '{full}' does not exist, but '{partial}' does: its writer has not completed (or was cut off); open that file to recover what it holds, or complete it with 'wfvae repair'."
                : $"Latent stream '{full}' does not exist.", full);
        }
        InputFiles.RequireRegular(full, "latent stream");
        // ReadWrite|Delete sharing: the writer keeps appending and renames the file when done.
        var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        try
        {
            return new LatentStreamReader(stream, leaveOpen: false, full);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads from any stream; the header is read at once. A non-seekable stream can be enumerated once.</summary>
    public LatentStreamReader(Stream stream, bool leaveOpen = false) : this(stream, leaveOpen, "<stream>") { }

    private LatentStreamReader(Stream stream, bool leaveOpen, string source)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead) throw new ArgumentException("The stream is not readable.", nameof(stream));
        (_stream, _leaveOpen, _source) = (stream, leaveOpen, source);
        if (stream.CanSeek) _origin = stream.Position;
        Header = ReadFileHeader();
        HeaderBytes = ValidBytes = _position;
    }

    private LatentStreamHeader ReadFileHeader()
    {
        Span<byte> prefix = stackalloc byte[LatentStreamFormat.FilePrefixBytes];
        int got = ReadFully(prefix);
        if (got == 0)
            throw Bad("the file is empty");
        int magicPresent = Math.Min(got, LatentStreamFormat.Magic.Length);
        if (!prefix[..magicPresent].SequenceEqual(LatentStreamFormat.Magic[..magicPresent]))
            throw Bad($"not a latent stream: it does not start with \"WFVAELAT\" (first bytes {Convert.ToHexString(prefix[..magicPresent])})");
        if (got < prefix.Length)
            throw Bad($"the file header is cut off ({got} of {LatentStreamFormat.FilePrefixBytes} prefix bytes present)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
        if (version != LatentStreamFormat.Version)
            throw Bad($"format version {version} is not supported (this reader handles version {LatentStreamFormat.Version})");
        uint jsonLength = BinaryPrimitives.ReadUInt32LittleEndian(prefix[12..]);
        if (jsonLength > LatentStreamFormat.MaxHeaderJsonBytes)
            throw Bad($"the header declares {jsonLength} bytes of JSON, more than the format's limit {LatentStreamFormat.MaxHeaderJsonBytes} (corrupt header)");

        var rest = new byte[jsonLength + LatentStreamFormat.CrcBytes];
        got = ReadFully(rest);
        long needed = LatentStreamFormat.FilePrefixBytes + rest.Length;
        if (got < rest.Length)
            throw Bad($"the file header is cut off (needs {needed} bytes, {LatentStreamFormat.FilePrefixBytes + got} present)");
        var crc = new Crc32();
        crc.Append(prefix);
        crc.Append(rest.AsSpan(0, (int)jsonLength));
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(rest.AsSpan((int)jsonLength));
        uint computed = crc.GetCurrentHashAsUInt32();
        if (stored != computed)
            throw Bad($"CRC mismatch in the file header (stored 0x{stored:X8}, computed 0x{computed:X8}): the header is corrupt");

        string json;
        try { json = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(rest, 0, (int)jsonLength); }
        catch (DecoderFallbackException e) { throw new LatentStreamFormatException($"Latent stream '{_source}': header is not valid UTF-8.", e); }
        var header = LatentStreamHeader.FromJson(json, _source);
        if (header.FormatVersion != version)
            throw Bad($"the header JSON says format_version {header.FormatVersion} but the binary header says {version}");
        return header;
    }

    /// <summary>
    /// The chunks in order, as far as they are intact. Seekable sources restart from the first record
    /// on each enumeration (and see data appended since); non-seekable ones can be enumerated once.
    /// </summary>
    public IEnumerable<LatentChunk> ReadChunks()
    {
        if (_stream.CanSeek)
        {
            _stream.Position = _origin + HeaderBytes;
            _position = HeaderBytes;
        }
        else if (_enumerated)
            throw new InvalidOperationException("A non-seekable latent stream can be enumerated only once.");
        _enumerated = true;
        (Trailer, StopReason, ValidBytes, ChunksRead, LatentFramesRead, HasLogvar) = (null, null, _position, 0, 0, null);
        return Records();
    }

    private IEnumerable<LatentChunk> Records()
    {
        while (true)
        {
            var chunk = NextRecord(out bool stop);
            if (chunk is not null) yield return chunk;
            if (stop) yield break;
        }
    }

    /// <summary>Reads one record: a chunk to return, or null with <paramref name="stop"/> set at the end.</summary>
    private LatentChunk? NextRecord(out bool stop)
    {
        stop = true;
        long at = _position;
        Span<byte> prefix = stackalloc byte[LatentStreamFormat.RecordPrefixBytes];
        int got = ReadFully(prefix);
        if (got == 0)
        {
            StopReason = $"no trailer: the data ends at byte {at} after {ChunksRead} complete chunk records " +
                         "(the writer has not completed, or was cut off)";
            return null;
        }
        if (got < prefix.Length)
        {
            StopReason = $"record at byte {at} truncated (needed {LatentStreamFormat.RecordPrefixBytes} bytes of record header, {got} present)";
            return null;
        }
        uint tag = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(prefix[4..]);
        ulong bodyLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix[8..]);
        var crc = new Crc32();
        crc.Append(prefix);

        switch (tag)
        {
            case LatentStreamFormat.ChunkTag:
                return ReadChunk(at, flags, bodyLength, crc, out stop);
            case LatentStreamFormat.TrailerTag:
                ReadTrailer(at, flags, bodyLength, crc);
                return null;
            default:
                // Unknown record type: skip it if its CRC holds (a later minor revision's addition).
                stop = !SkipRecord(at, tag, bodyLength, crc);
                return null;
        }
    }

    private LatentChunk? ReadChunk(long at, uint flags, ulong bodyLength, Crc32 crc, out bool stop)
    {
        stop = true;
        Span<byte> bodyPrefix = stackalloc byte[LatentStreamFormat.ChunkBodyPrefixBytes];
        int got = ReadFully(bodyPrefix);
        if (got < bodyPrefix.Length)
        {
            StopReason = Truncated(at, bodyLength, LatentStreamFormat.RecordPrefixBytes + got);
            return null;
        }
        crc.Append(bodyPrefix);
        int firstFrame = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(bodyPrefix), int.MaxValue);
        uint frameCount = BinaryPrimitives.ReadUInt32LittleEndian(bodyPrefix[4..]);
        bool hasLogvar = (flags & LatentStreamFormat.ChunkHasLogvar) != 0;

        // Check the declared sizes before allocating anything: a damaged count must not allocate gigabytes.
        if (TooManyFrames(at, frameCount) is { } countProblem)
        {
            StopReason = countProblem;
            return null;
        }
        ulong values = frameCount * (ulong)Header.FrameValues;
        if (SizeProblem(at, flags, bodyLength, frameCount, values, hasLogvar) is { } sizeProblem)
        {
            StopReason = sizeProblem;
            return null;
        }

        var mean = new float[values];
        var logvar = hasLogvar ? new float[values] : null;
        long present = LatentStreamFormat.RecordPrefixBytes + LatentStreamFormat.ChunkBodyPrefixBytes;
        foreach (var part in logvar is null ? [mean] : new[] { mean, logvar })
        {
            var bytes = MemoryMarshal.AsBytes(part.AsSpan());
            got = ReadFully(bytes);
            present += got;
            if (got < bytes.Length)
            {
                StopReason = Truncated(at, bodyLength, present);
                return null;
            }
            crc.Append(bytes);
            LatentStreamFormat.FromLittleEndian(part);
        }
        if (!CheckCrc(at, bodyLength, present, crc)) return null;

        string? order = firstFrame != LatentFramesRead ? $"record at byte {at} starts at latent frame {firstFrame}, but {LatentFramesRead} frames precede it"
            : HasLogvar is bool earlier && earlier != hasLogvar ? $"record at byte {at} {(hasLogvar ? "carries" : "lacks")} logvar, unlike the records before it"
            : null;
        if (order != null)
        {
            StopReason = order;
            return null;
        }
        HasLogvar = hasLogvar;
        ChunksRead++;
        LatentFramesRead += (int)frameCount;
        ValidBytes = _position;
        stop = false;
        return new LatentChunk(firstFrame, (int)frameCount, mean, logvar);
    }

    /// <summary>
    /// Why a chunk's frame count cannot be right: more frames than one array holds, checked before the count is
    /// multiplied, as frames of a large header times a crafted count can wrap 64 bits to a small size.
    /// </summary>
    private string? TooManyFrames(long at, uint frameCount) =>
        frameCount > Array.MaxLength / Header.FrameValues
            ? $"record at byte {at} is corrupt: {frameCount} latent frames of {Header.LatentChannels}x{Header.LatentHeight}x{Header.LatentWidth} " +
              $"are more values than an array holds ({Array.MaxLength})"
            : null;

    /// <summary>Why a chunk record's flags or declared body length cannot be right; null when they fit.</summary>
    private string? SizeProblem(long at, uint flags, ulong bodyLength, uint frameCount, ulong values, bool hasLogvar)
    {
        if ((flags & ~LatentStreamFormat.ChunkHasLogvar) != 0)
            return $"record at byte {at} has chunk flags 0x{flags:X8} this reader does not know (corrupt, or a newer writer)";
        ulong expectedBody = LatentStreamFormat.ChunkBodyPrefixBytes + values * 4 * (hasLogvar ? 2UL : 1UL);
        if (frameCount == 0 || frameCount > int.MaxValue || values > (ulong)Array.MaxLength || bodyLength != expectedBody)
            return $"record at byte {at} is corrupt: body length {bodyLength} does not fit {frameCount} latent frames " +
                   $"of {Header.LatentChannels}x{Header.LatentHeight}x{Header.LatentWidth}{(hasLogvar ? " with logvar" : "")}";
        return null;
    }

    private void ReadTrailer(long at, uint flags, ulong bodyLength, Crc32 crc)
    {
        if (bodyLength != LatentStreamFormat.TrailerBodyBytes || flags != 0)
        {
            StopReason = $"trailer record at byte {at} is corrupt (body length {bodyLength}, flags 0x{flags:X8})";
            return;
        }
        Span<byte> body = stackalloc byte[LatentStreamFormat.TrailerBodyBytes];
        int got = ReadFully(body);
        if (got < body.Length)
        {
            StopReason = Truncated(at, bodyLength, LatentStreamFormat.RecordPrefixBytes + got);
            return;
        }
        crc.Append(body);
        if (!CheckCrc(at, bodyLength, LatentStreamFormat.RecordPrefixBytes + body.Length, crc)) return;

        var trailer = new LatentStreamTrailer(
            (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(body), long.MaxValue),
            (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(body[8..]), int.MaxValue),
            (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(body[12..]), int.MaxValue),
            (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(body[16..]), int.MaxValue),
            (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(body[20..]), int.MaxValue));
        if (trailer.LatentFrames != LatentFramesRead || trailer.Chunks != ChunksRead)
        {
            StopReason = $"trailer at byte {at} reports {trailer.LatentFrames} latent frames in {trailer.Chunks} chunks, " +
                         $"but {LatentFramesRead} frames in {ChunksRead} chunks precede it";
            return;
        }
        if (trailer.Problem(Header) is { } problem)
        {
            StopReason = $"trailer at byte {at} is inconsistent: {problem}";
            return;
        }
        Trailer = trailer;
        ValidBytes = _position;
        if (_stream.CanSeek && _stream.Length - _origin > _position)
            StopReason = $"{_stream.Length - _origin - _position} bytes after the trailer (which ends at byte {_position}) were ignored";
    }

    /// <summary>Skips an unknown record; false (with <see cref="StopReason"/>) if it is cut off or fails its CRC.</summary>
    private bool SkipRecord(long at, uint tag, ulong bodyLength, Crc32 crc)
    {
        var buffer = new byte[64 * 1024];
        ulong left = bodyLength;
        long present = LatentStreamFormat.RecordPrefixBytes;
        while (left > 0)
        {
            int want = (int)Math.Min(left, (ulong)buffer.Length);
            int got = ReadFully(buffer.AsSpan(0, want));
            present += got;
            crc.Append(buffer.AsSpan(0, got));
            if (got < want)
            {
                StopReason = Truncated(at, bodyLength, present) + $"; its type '{LatentStreamFormat.TagText(tag)}' is unknown, so it may be damage";
                return false;
            }
            left -= (ulong)got;
        }
        if (!CheckCrc(at, bodyLength, present, crc)) return false;
        ValidBytes = _position;
        return true;
    }

    private bool CheckCrc(long at, ulong bodyLength, long present, Crc32 crc)
    {
        Span<byte> stored = stackalloc byte[LatentStreamFormat.CrcBytes];
        int got = ReadFully(stored);
        if (got < stored.Length)
        {
            StopReason = Truncated(at, bodyLength, present + got);
            return false;
        }
        uint expected = BinaryPrimitives.ReadUInt32LittleEndian(stored), computed = crc.GetCurrentHashAsUInt32();
        if (expected != computed)
        {
            StopReason = $"CRC mismatch in record at byte {at} (stored 0x{expected:X8}, computed 0x{computed:X8})";
            return false;
        }
        return true;
    }

    private static string Truncated(long at, ulong bodyLength, long present) =>
        $"record at byte {at} truncated (needed {(ulong)LatentStreamFormat.RecordPrefixBytes + bodyLength + LatentStreamFormat.CrcBytes} bytes, {present} present)";

    /// <summary>
    /// Every intact chunk assembled in the official layout [1, L, t, h, w] (logvar null when the stream
    /// has none). Check <see cref="Complete"/> / <see cref="StopReason"/> afterwards.
    /// </summary>
    public (HostTensor Mean, HostTensor? Logvar) ReadAll()
    {
        var chunks = ReadChunks().ToList();
        int t = chunks.Sum(c => c.Frames);
        var mean = new HostTensor(1, Header.LatentChannels, t, Header.LatentHeight, Header.LatentWidth);
        var logvar = HasLogvar == true ? new HostTensor(1, Header.LatentChannels, t, Header.LatentHeight, Header.LatentWidth) : null;
        foreach (var chunk in chunks)
        {
            mean.SetFrames(0, chunk.FirstFrame, chunk.Mean, chunk.Frames);
            logvar?.SetFrames(0, chunk.FirstFrame, chunk.Logvar!, chunk.Frames);
        }
        return (mean, logvar);
    }

    public void Dispose()
    {
        if (!_leaveOpen) _stream.Dispose();
    }

    private int ReadFully(Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = _stream.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        _position += total;
        return total;
    }

    private LatentStreamFormatException Bad(string what) => new($"Latent stream '{_source}': {what}.");
}
