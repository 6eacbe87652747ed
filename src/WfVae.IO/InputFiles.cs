namespace WfVae.IO;

/// <summary>
/// Checks on files read as data whose size decides what is allocated (configs, checkpoints, latent
/// streams): they must be regular files, because a FIFO blocks its reader forever and a device such as
/// /dev/zero never ends, and small files are read with a cap.
/// </summary>
public static class InputFiles
{
    /// <summary>Throws naming <paramref name="what"/> unless <paramref name="path"/> is a regular file (links followed).</summary>
    public static void RequireRegular(string path, string what)
    {
        var kind = FileKinds.Of(path);
        if (kind == FileKind.Regular) return;
        if (kind == FileKind.Missing) throw new FileNotFoundException($"{what} '{path}' does not exist", path);
        throw new InvalidDataException($"{what} '{path}' is {FileKinds.Describe(kind)}, not a regular file");
    }

    /// <summary>A regular file of at most <paramref name="maxBytes"/> bytes, read whole.</summary>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        RequireRegular(path, what);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        long length = stream.Length;
        if (length > maxBytes) throw new InvalidDataException($"{what} '{path}' is {length} bytes; the limit is {maxBytes}");
        var bytes = new byte[length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>UTF-8 text of a regular file of at most <paramref name="maxBytes"/> bytes.</summary>
    public static string ReadAllText(string path, long maxBytes, string what)
    {
        var bytes = ReadAllBytes(path, maxBytes, what);
        return new System.Text.UTF8Encoding(false).GetString(bytes).TrimStart('\uFEFF');
    }
}
