using System.Buffers.Binary;
using WfVae.IO;

namespace WfVae.Cli;

/// <summary>What an input file holds, told by its first bytes, never by its name.</summary>
internal enum InputFormat
{
    /// <summary>Not a regular file, unreadable, or none of the formats below: left to FFmpeg.</summary>
    Other,
    /// <summary>A <c>.wfl</c> latent stream ("WFVAELAT"), complete or still being written.</summary>
    LatentStream,
    /// <summary>A safetensors file: a little-endian u64 header length, then a JSON object.</summary>
    Safetensors,
    /// <summary>A zip archive: what torch.save writes (.ckpt, .pt, .pth).</summary>
    TorchZip,
}

internal static class InputFormats
{
    /// <summary>
    /// Sniffs a regular file. FIFOs, devices and "-" are not opened (that would consume or block them) and
    /// count as <see cref="InputFormat.Other"/>, as does a file too short to tell.
    /// </summary>
    public static InputFormat Of(string path)
    {
        if (path == "-" || FileKinds.Of(path) != FileKind.Regular) return InputFormat.Other;
        Span<byte> head = stackalloc byte[9];
        int got;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            got = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return InputFormat.Other; // the reader that opens it next reports why
        }
        if (got >= 8 && head[..8].SequenceEqual("WFVAELAT"u8)) return InputFormat.LatentStream;
        if (got >= 4 && head[..4].SequenceEqual("PK\u0003\u0004"u8)) return InputFormat.TorchZip;
        if (got == 9 && head[8] == (byte)'{' && BinaryPrimitives.ReadUInt64LittleEndian(head) < (1UL << 32)) return InputFormat.Safetensors;
        return InputFormat.Other;
    }
}
