using System.Buffers.Binary;
using System.Text;

namespace WfVae.Tests.Checkpoint;

/// <summary>Builds raw safetensors bytes by hand, so malformed files can be made on purpose.</summary>
internal static class SafetensorsTestFiles
{
    public static byte[] Build(string headerJson, byte[] data, ulong? headerLengthOverride = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLengthOverride ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    public static string Write(TempDirectory dir, string headerJson, byte[] data, ulong? headerLengthOverride = null)
    {
        var path = dir.File($"t{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, Build(headerJson, data, headerLengthOverride));
        return path;
    }
}
