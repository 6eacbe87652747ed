using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text.Json;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Streaming.LatentStream;
using WfVae.Tests.Checkpoint;
using Xunit;

namespace WfVae.Tests.Streaming;

public sealed class LatentStreamTests : IDisposable
{
    // A tiny model geometry: L = 2, video 16x24 -> latent 2x3, 12 floats per latent frame.
    private static readonly WfVaeConfig Config = WfVaeConfig.Create(baseChannels: 8, latentDim: 2);
    private static readonly string WeightsHash = Convert.ToHexStringLower(SHA256.HashData("weights"u8));
    private static readonly int[] ChunkFrames = [1, 3, 2];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LatentStreamHeader Header(string policy = LatentStreamHeader.PolicyDrop) =>
        LatentStreamHeader.For(Config, WeightsHash, 16, 24, 30000, 1001, policy);

    /// <summary>Distinct, reproducible values per chunk (logvar differs from mean).</summary>
    private static LatentChunk Chunk(LatentStreamHeader header, int first, int frames, bool logvar)
    {
        var mean = new float[frames * header.FrameValues];
        for (int i = 0; i < mean.Length; i++) mean[i] = first * 1000 + i + 0.25f;
        return new LatentChunk(first, frames, mean, logvar ? mean.Select(v => -v / 7).ToArray() : null);
    }

    private static List<LatentChunk> Chunks(LatentStreamHeader header, bool logvar)
    {
        var chunks = new List<LatentChunk>();
        int first = 0;
        foreach (var n in ChunkFrames)
        {
            chunks.Add(Chunk(header, first, n, logvar));
            first += n;
        }
        return chunks;
    }

    private static void Write(LatentStreamWriter writer, LatentChunk c) => writer.WriteChunk(c.FirstFrame, c.Frames, c.Mean, c.Logvar);

    // 6 latents <- 21 encoded frames; "drop" with 23 input frames ignores 2.
    private static void Finish(LatentStreamWriter writer) => writer.Complete(23, 0, 2);

    /// <summary>A complete stream in memory, with the byte offset where each record ends.</summary>
    private static (byte[] Bytes, List<long> RecordEnds, List<LatentChunk> Chunks) InMemory(bool logvar)
    {
        var header = Header();
        var chunks = Chunks(header, logvar);
        var buffer = new MemoryStream();
        var ends = new List<long>();
        using (var writer = new LatentStreamWriter(buffer, header, leaveOpen: true))
        {
            ends.Add(writer.BytesWritten);
            foreach (var c in chunks)
            {
                Write(writer, c);
                ends.Add(writer.BytesWritten);
            }
            Finish(writer);
            ends.Add(writer.BytesWritten);
        }
        Assert.Equal(buffer.Length, ends[^1]);
        return (buffer.ToArray(), ends, chunks);
    }

    private static void AssertSame(LatentChunk expected, LatentChunk actual)
    {
        Assert.Equal(expected.FirstFrame, actual.FirstFrame);
        Assert.Equal(expected.Frames, actual.Frames);
        Assert.Equal(expected.Mean, actual.Mean);
        Assert.Equal(expected.Logvar, actual.Logvar);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RoundTrip_RecoversHeaderChunksTrailerAndWholeClip(bool logvar)
    {
        var header = Header();
        var chunks = Chunks(header, logvar);
        var path = _dir.File("clip.wfl");
        using (var writer = LatentStreamWriter.Create(path, header))
        {
            foreach (var c in chunks) Write(writer, c);
            var trailer = writer.Complete(23, 0, 2);
            Assert.Equal(new LatentStreamTrailer(23, 6, 0, 2, 3), trailer);
        }

        using var reader = LatentStreamReader.Open(path);
        Assert.Equal(header, reader.Header);
        Assert.Equal(30000.0 / 1001, reader.Header.FrameRate);
        Assert.Equal(0, reader.HeaderBytes % 8);
        var read = reader.ReadChunks().ToList();
        Assert.Equal(chunks.Count, read.Count);
        for (int i = 0; i < chunks.Count; i++) AssertSame(chunks[i], read[i]);
        Assert.True(reader.Complete);
        Assert.Equal(new LatentStreamTrailer(23, 6, 0, 2, 3), reader.Trailer);
        Assert.Null(reader.StopReason);
        Assert.Equal(new FileInfo(path).Length, reader.ValidBytes);
        Assert.Equal(logvar, reader.HasLogvar);

        var (mean, lv) = reader.ReadAll();
        Assert.Equal(new long[] { 1, 2, 6, 2, 3 }, mean.Shape);
        var frames = chunks.SelectMany(c => c.Mean).ToArray();
        Assert.Equal(HostTensor.FromFrameMajor(frames, 2, 6, 2, 3).Data, mean.Data);
        if (logvar) Assert.Equal(HostTensor.FromFrameMajor(chunks.SelectMany(c => c.Logvar!).ToArray(), 2, 6, 2, 3).Data, lv!.Data);
        else Assert.Null(lv);
    }

    [Fact]
    public void NonSeekableStream_IsReadOnce()
    {
        var (bytes, _, chunks) = InMemory(logvar: true);
        using var reader = new LatentStreamReader(new ForwardOnlyStream(bytes));
        Assert.Equal(chunks.Count, reader.ReadChunks().Count());
        Assert.True(reader.Complete);
        Assert.Throws<InvalidOperationException>(() => reader.ReadChunks());
    }

    [Fact]
    public void Reader_SeesFlushedChunksWhileTheWriterIsOpen()
    {
        var header = Header();
        var chunks = Chunks(header, logvar: true);
        var path = _dir.File("live.wfl");
        using var writer = LatentStreamWriter.Create(path, header);
        Write(writer, chunks[0]);
        Write(writer, chunks[1]);

        using var reader = LatentStreamReader.Open(writer.PartialPath!);
        var read = reader.ReadChunks().ToList();
        Assert.Equal(2, read.Count);
        AssertSame(chunks[1], read[1]);
        Assert.False(reader.Complete);
        Assert.Null(reader.Trailer);
        Assert.Equal(writer.BytesWritten, reader.ValidBytes);
        Assert.Contains("no trailer", reader.StopReason);
        Assert.Contains($"byte {reader.ValidBytes}", reader.StopReason);

        // Enumerating again sees what was appended since.
        Write(writer, chunks[2]);
        Assert.Equal(3, reader.ReadChunks().Count());
        Finish(writer);
        Assert.True(File.Exists(path));
        Assert.False(File.Exists(writer.PartialPath));
    }

    [Fact]
    public void Truncation_AtEveryByte_RecoversEveryCompleteRecord()
    {
        var (bytes, ends, chunks) = InMemory(logvar: true);
        long headerBytes = ends[0];
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            var prefix = new MemoryStream(bytes, 0, cut, writable: false);
            if (cut < headerBytes)
            {
                var e = Assert.Throws<LatentStreamFormatException>(() => new LatentStreamReader(prefix));
                Assert.Contains(cut == 0 ? "empty" : "cut off", e.Message);
                continue;
            }
            using var reader = new LatentStreamReader(prefix);
            var read = reader.ReadChunks().ToList();
            int complete = ends.Count(end => end <= cut) - 1; // records whole before the cut (header excluded)
            Assert.Equal(Math.Min(complete, chunks.Count), read.Count);
            for (int i = 0; i < read.Count; i++) AssertSame(chunks[i], read[i]);
            Assert.False(reader.Complete);
            Assert.Equal(ends[complete], reader.ValidBytes);
            Assert.Contains($"byte {reader.ValidBytes}", reader.StopReason);
            if (cut != ends[complete]) Assert.Contains("truncated", reader.StopReason);
        }
    }

    [Fact]
    public void FlippedByte_InARecord_StopsThereAndKeepsEarlierRecords()
    {
        var (bytes, ends, chunks) = InMemory(logvar: false);
        long start = ends[2]; // where the third chunk record begins
        for (long at = start; at < ends[3]; at++)
        {
            var damaged = (byte[])bytes.Clone();
            damaged[at] ^= 0x10;
            using var reader = new LatentStreamReader(new MemoryStream(damaged));
            var read = reader.ReadChunks().ToList();
            Assert.Equal(2, read.Count);
            AssertSame(chunks[1], read[1]);
            Assert.False(reader.Complete);
            Assert.Equal(start, reader.ValidBytes);
            Assert.Contains($"byte {start}", reader.StopReason);
        }

        var payload = (byte[])bytes.Clone();
        payload[start + 40] ^= 1;
        using var r = new LatentStreamReader(new MemoryStream(payload));
        r.ReadChunks().ToList();
        Assert.StartsWith($"CRC mismatch in record at byte {start}", r.StopReason);
    }

    [Fact]
    public void UnknownRecordType_WithAValidCrc_IsSkipped()
    {
        var (bytes, ends, chunks) = InMemory(logvar: false);
        // A record a later minor revision might add ("NOTE", 5-byte body), spliced in after the first chunk.
        var note = new byte[16 + 5 + 4];
        "NOTE"u8.CopyTo(note);
        BinaryPrimitives.WriteUInt64LittleEndian(note.AsSpan(8), 5);
        "hello"u8.CopyTo(note.AsSpan(16));
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(21), Crc32.HashToUInt32(note.AsSpan(0, 21)));
        var spliced = bytes.Take((int)ends[1]).Concat(note).Concat(bytes.Skip((int)ends[1])).ToArray();

        using var reader = new LatentStreamReader(new MemoryStream(spliced));
        var read = reader.ReadChunks().ToList();
        Assert.Equal(chunks.Count, read.Count);
        AssertSame(chunks[2], read[2]);
        Assert.True(reader.Complete);
        Assert.Null(reader.StopReason);
    }

    [Fact]
    public void AChunkTooLargeForAnArray_IsRefusedBeforeItsSizeIsComputed()
    {
        // 4096 latent channels of 8192x8192 (a 65536x65536 video) are 2^38 floats a frame: 2^26 frames make 2^64
        // floats, which wrap to 0 in 64 bits and would pass for the empty body this record declares.
        var header = LatentStreamHeader.For(WfVaeConfig.Create(baseChannels: 8, latentDim: 4096), WeightsHash,
            65536, 65536, 30, 1, LatentStreamHeader.PolicyDrop);
        var buffer = new MemoryStream();
        var writer = new LatentStreamWriter(buffer, header, leaveOpen: true);
        long start = writer.BytesWritten;
        var record = new byte[16 + 8 + 4];
        BinaryPrimitives.WriteUInt32LittleEndian(record, LatentStreamFormat.ChunkTag);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(8), 8);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(20), 1u << 26);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(24), Crc32.HashToUInt32(record.AsSpan(0, 24)));
        var bytes = buffer.ToArray().AsSpan(0, (int)start).ToArray().Concat(record).ToArray();

        using var reader = new LatentStreamReader(new MemoryStream(bytes));
        Assert.Empty(reader.ReadChunks());
        Assert.Equal(start, reader.ValidBytes);
        Assert.Contains($"record at byte {start}", reader.StopReason);
        Assert.Contains("67108864 latent frames of 4096x8192x8192", reader.StopReason);
    }

    [Fact]
    public void CorruptFileHeader_IsAClearError()
    {
        var (bytes, ends, _) = InMemory(logvar: false);
        LatentStreamFormatException Open(Action<byte[]> damage)
        {
            var copy = (byte[])bytes.Clone();
            damage(copy);
            return Assert.Throws<LatentStreamFormatException>(() => new LatentStreamReader(new MemoryStream(copy)));
        }

        Assert.Contains("not a latent stream", Open(b => b[0] = (byte)'X').Message);
        Assert.Contains("format version 2", Open(b => b[8] = 2).Message);
        Assert.Contains("CRC mismatch in the file header", Open(b => b[ends[0] / 2] ^= 0x20).Message);
        Assert.Contains("more than the format's limit", Open(b => b[15] = 0x7F).Message);
        Assert.IsAssignableFrom<InvalidModelDataException>(Open(b => b[0] = 0));
    }

    [Fact]
    public void Writer_RejectsBadChunksAndCounts()
    {
        var header = Header();
        using var writer = new LatentStreamWriter(new MemoryStream(), header);
        var first = Chunk(header, 0, 2, logvar: true);
        Write(writer, first);

        var gap = Chunk(header, 3, 1, logvar: true);
        Assert.Contains("contiguous", Assert.Throws<ArgumentException>(() => Write(writer, gap)).Message);
        var repeat = Chunk(header, 0, 1, logvar: true);
        Assert.Throws<ArgumentException>(() => Write(writer, repeat));
        Assert.Throws<ArgumentException>(() => writer.WriteChunk(2, 2, new float[header.FrameValues], ReadOnlySpan<float>.Empty));
        Assert.Throws<ArgumentException>(() => writer.WriteChunk(2, 1, new float[header.FrameValues], ReadOnlySpan<float>.Empty)); // logvar dropped
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.WriteChunk(2, 0, ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty));
        Assert.Equal(2, writer.LatentFrames);

        // 2 latents come from 5 encoded frames.
        Assert.Throws<ArgumentException>(() => writer.Complete(7, 0, 0));
        Assert.Throws<ArgumentException>(() => writer.Complete(6, 1, 0)); // "drop" pads nothing
        writer.Complete(7, 0, 2);
        Assert.Throws<InvalidOperationException>(() => Write(writer, Chunk(header, 2, 1, logvar: true)));
        Assert.Throws<InvalidOperationException>(() => writer.Complete(7, 0, 2));

        Assert.Throws<ArgumentException>(() => LatentStreamHeader.For(Config, "not a hash", 16, 24, 30, 1, "pad"));
        Assert.Throws<ArgumentException>(() => LatentStreamHeader.For(Config, WeightsHash, 16, 24, 30, 1, "loop"));
        Assert.Throws<ArgumentException>(() => LatentStreamHeader.For(Config, WeightsHash, 16, 24, 30, 0, "pad"));
    }

    [Fact]
    public void Partial_IsRenamedOnlyOnComplete_AndKeptOnDispose()
    {
        var path = _dir.File("clip.wfl");
        File.WriteAllText(path, "previous output");
        var header = Header(LatentStreamHeader.PolicyPad);
        string kept;
        using (var writer = LatentStreamWriter.Create(path, header))
        {
            kept = writer.PartialPath!;
            Assert.Matches(@"clip\.wfl\.[0-9a-f]{8}\.partial$", kept);
            Assert.True(File.Exists(kept));
            Write(writer, Chunk(header, 0, 1, logvar: false));
        }
        // Disposed without Complete: the earlier file is untouched and the cut-off stream is kept.
        Assert.Equal("previous output", File.ReadAllText(path));
        Assert.Equal(kept, Assert.Single(WfVae.IO.OutputFile.TemporariesOf(path)));
        using (var reader = LatentStreamReader.Open(kept))
            Assert.Single(reader.ReadChunks());

        File.Delete(path);
        var missing = Assert.Throws<FileNotFoundException>(() => LatentStreamReader.Open(path));
        Assert.Contains(kept, missing.Message);

        // A new writer starts its own temporary; Complete moves it into place and leaves the stale one alone.
        using (var writer = LatentStreamWriter.Create(path, header))
        {
            Assert.NotEqual(kept, writer.PartialPath);
            Write(writer, Chunk(header, 0, 2, logvar: false));
            writer.Complete(3, 2, 0); // "pad": 3 frames + 2 copies = 5 = 1 + 4·(2 − 1)
        }
        Assert.Equal(kept, Assert.Single(WfVae.IO.OutputFile.TemporariesOf(path)));
        using var complete = LatentStreamReader.Open(path);
        Assert.Equal(2, complete.ReadAll().Mean.T);
        Assert.Equal(new LatentStreamTrailer(3, 2, 2, 0, 1), complete.Trailer);
    }

    [Fact]
    public void Conversion_WritesTheWholeClipWithMetadata()
    {
        var header = Header();
        var path = _dir.File("clip.wfl");
        using (var writer = LatentStreamWriter.Create(path, header))
        {
            foreach (var c in Chunks(header, logvar: true)) Write(writer, c);
            Finish(writer);
        }
        var output = _dir.File("clip.safetensors");
        var summary = LatentStreamConverter.ToSafetensors(path, output);
        Assert.True(summary.Complete);
        Assert.Equal((3, 6, true, 23L), (summary.Chunks, summary.LatentFrames, summary.HasLogvar, summary.VideoFrames!.Value));

        HostTensor mean;
        HostTensor? withLogvar;
        using (var reader = LatentStreamReader.Open(path)) (mean, withLogvar) = reader.ReadAll();
        var logvar = Assert.IsType<HostTensor>(withLogvar);
        using var file = SafetensorsFile.Open(output);
        Assert.Equal(mean.Shape, file.GetInfo("mean").Shape);
        Assert.Equal(mean.Data, file.ReadFloat32("mean"));
        Assert.Equal(logvar.Data, file.ReadFloat32("logvar"));
        var m = file.Metadata;
        Assert.Equal("true", m["complete"]);
        Assert.Equal("23", m["video_frames"]);
        Assert.Equal("2", m["dropped_frames"]);
        Assert.Equal("30000/1001", m["frame_rate"]);
        Assert.Equal("drop", m["frame_policy"]);
        Assert.Equal(WeightsHash, m["weights_sha256"]);
        Assert.Equal(Config, WfVaeConfig.Parse(m["model_config"], "metadata"));
        Assert.Equal(header.Scale, JsonSerializer.Deserialize<float[]>(m["scale"]));
    }

    [Fact]
    public void Conversion_OfACutOffStream_ConvertsTheIntactPrefix()
    {
        var header = Header();
        var path = _dir.File("cut.wfl");
        using (var writer = LatentStreamWriter.Create(path, header))
        {
            foreach (var c in Chunks(header, logvar: false)) Write(writer, c);
        }
        // Cut the last record in half, as a crash mid-write would.
        var partial = Assert.Single(WfVae.IO.OutputFile.TemporariesOf(path));
        long length = new FileInfo(partial).Length;
        using (var f = new FileStream(partial, FileMode.Open)) f.SetLength(length - 20);

        var output = _dir.File("cut.safetensors");
        var summary = LatentStreamConverter.ToSafetensors(partial, output);
        Assert.False(summary.Complete);
        Assert.Equal(4, summary.LatentFrames);
        Assert.False(summary.HasLogvar);
        Assert.Null(summary.VideoFrames);
        Assert.Contains("truncated", summary.StopReason);
        using var file = SafetensorsFile.Open(output);
        Assert.Equal(new long[] { 1, 2, 4, 2, 3 }, file.GetInfo("mean").Shape);
        Assert.False(file.Contains("logvar"));
        Assert.Equal("false", file.Metadata["complete"]);
        Assert.Equal(summary.StopReason, file.Metadata["stop_reason"]);
        Assert.False(file.Metadata.ContainsKey("video_frames"));

        // A stream with no intact chunk has nothing to convert.
        long headerBytes;
        using (var r = LatentStreamReader.Open(partial)) headerBytes = r.HeaderBytes;
        using (var f = new FileStream(partial, FileMode.Open)) f.SetLength(headerBytes + 30);
        var e = Assert.Throws<LatentStreamFormatException>(() => LatentStreamConverter.ToSafetensors(partial, output));
        Assert.Contains("no intact chunk", e.Message);
    }

    /// <summary>A pipe-like stream: reads only, no seeking, no length.</summary>
    private sealed class ForwardOnlyStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
