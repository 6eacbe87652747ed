using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace WfVae.Media;

/// <summary>
/// Writes packed RGB24 images as PNG (8-bit truecolor, no interlace): IHDR, one zlib IDAT, IEND; each row
/// uses the Sub filter (cheap, and compresses smooth images much better than None).
/// </summary>
public static class PngWriter
{
    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Writes the file through <see cref="WfVae.IO.OutputFile"/> (complete or not at all).</summary>
    public static void Write(string path, ReadOnlySpan<byte> rgb24, int width, int height)
    {
        using var output = WfVae.IO.OutputFile.Create(path);
        Write(output.Stream, rgb24, width, height);
        output.Commit();
    }

    public static void Write(Stream output, ReadOnlySpan<byte> rgb24, int width, int height)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"bad image size {width}x{height}");
        if (rgb24.Length != width * height * 3) throw new ArgumentException($"image has {rgb24.Length} bytes, {width}x{height} RGB24 needs {width * height * 3}");
        output.Write(Signature);

        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // colour type: truecolor
        // compression 0, filter method 0, interlace 0
        WriteChunk(output, "IHDR", ihdr);

        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            int stride = width * 3;
            var line = new byte[1 + stride];
            line[0] = 1; // filter type Sub: byte minus the same channel of the pixel to the left
            for (int y = 0; y < height; y++)
            {
                var row = rgb24.Slice(y * stride, stride);
                for (int i = 0; i < stride; i++) line[1 + i] = (byte)(row[i] - (i >= 3 ? row[i - 3] : 0));
                z.Write(line);
            }
        }
        WriteChunk(output, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(output, "IEND", []);
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
        Encoding.ASCII.GetBytes(type, head[4..]);
        output.Write(head);
        output.Write(data);
        var crc = new Crc32(); // over type and data
        crc.Append(head[4..]);
        crc.Append(data);
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc.GetCurrentHashAsUInt32());
        output.Write(tail);
    }
}
