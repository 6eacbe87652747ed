using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace WfVae.Streaming.LatentStream;

/// <summary>
/// Constants of the <c>.wfl</c> latent stream format (docs/latent-stream-format.md). Everything is
/// little-endian. Layout:
/// <code>
/// file header : "WFVAELAT" | u32 format_version | u32 json_length | json (UTF-8, space padded) | u32 crc32
/// record      : tag[4] | u32 flags | u64 body_length | body | u32 crc32 (over tag..body)
/// </code>
/// Records are "CHNK" (latent frames) and, last, "TRLR" (end of stream). Readers skip records with
/// other tags whose CRC is valid, so later minor revisions can add record types without a version bump.
/// </summary>
public static class LatentStreamFormat
{
    /// <summary>The format version this code writes and the only one it reads.</summary>
    public const int Version = 1;

    /// <summary>Conventional file extension.</summary>
    public const string Extension = ".wfl";

    public static ReadOnlySpan<byte> Magic => "WFVAELAT"u8;

    /// <summary>Magic, version and JSON length.</summary>
    public const int FilePrefixBytes = 16;

    /// <summary>Upper bound on the JSON header so a corrupt length cannot ask for gigabytes.</summary>
    public const int MaxHeaderJsonBytes = 16 * 1024 * 1024;

    /// <summary>Tag, flags and body length of every record.</summary>
    public const int RecordPrefixBytes = 16;

    public const int CrcBytes = 4;

    public const uint ChunkTag = 0x4B4E4843;   // "CHNK" read as little-endian u32
    public const uint TrailerTag = 0x524C5254; // "TRLR"

    /// <summary>Chunk flag: the body carries logvar after mean.</summary>
    public const uint ChunkHasLogvar = 1;

    /// <summary>First frame index and frame count that open a chunk body.</summary>
    public const int ChunkBodyPrefixBytes = 8;

    /// <summary>u64 video frames, u32 latent frames, u32 padded, u32 dropped, u32 chunk count.</summary>
    public const int TrailerBodyBytes = 24;

    internal static string TagText(uint tag)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, tag);
        foreach (var c in b)
        {
            if (c < 0x20 || c > 0x7E) return $"0x{tag:X8}";
        }
        return Encoding.ASCII.GetString(b);
    }

    /// <summary>float32 values as little-endian bytes; a copy only on big-endian hosts.</summary>
    internal static ReadOnlySpan<byte> FloatBytes(ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian) return MemoryMarshal.AsBytes(values);
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    /// <summary>Fixes the byte order of floats read straight into their array on big-endian hosts.</summary>
    internal static void FromLittleEndian(Span<float> values)
    {
        if (BitConverter.IsLittleEndian) return;
        var ints = MemoryMarshal.Cast<float, uint>(values);
        for (int i = 0; i < ints.Length; i++) ints[i] = BinaryPrimitives.ReverseEndianness(ints[i]);
    }
}
