using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using WfVae.Media;
using Xunit;

namespace WfVae.Tests.Media;

public sealed class PngWriterTests(MediaClips clips) : IClassFixture<MediaClips>
{
    [Fact]
    public void Png_decodes_to_the_same_pixels_with_ffmpeg_and_has_valid_chunks()
    {
        const int w = 13, h = 7;
        var rgb = new byte[w * h * 3];
        new Random(11).NextBytes(rgb);
        var path = clips.File("image.png");
        PngWriter.Write(path, rgb, w, h);

        // Oracle 1: FFmpeg's PNG decoder (CRC checks on, any error fatal).
        var raw = clips.File("image.rgb");
        MediaTools.Run("ffmpeg", "-err_detect", "crccheck+explode", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", raw);
        Assert.Equal(rgb, File.ReadAllBytes(raw));
        Assert.Contains("png", MediaTools.ProbeStream(path)["codec_name"]);

        // Oracle 2: the chunk structure by hand.
        var png = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        var types = new List<string>();
        for (int pos = 8; pos < png.Length;)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            var type = Encoding.ASCII.GetString(png, pos + 4, 4);
            types.Add(type);
            Assert.Equal(Crc32.HashToUInt32(png.AsSpan(pos + 4, 4 + len)), BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + len)));
            if (type == "IHDR")
                Assert.Equal((w, h, 8, 2), (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos + 8)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos + 12)), (int)png[pos + 16], (int)png[pos + 17]));
            pos += 12 + len;
        }
        Assert.Equal(["IHDR", "IDAT", "IEND"], types);
        Assert.Empty(Directory.GetFiles(clips.Dir, "*.partial"));
    }

    [Fact]
    public void Wrong_buffer_size_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => PngWriter.Write(new MemoryStream(), new byte[10], 2, 2));
    }
}
