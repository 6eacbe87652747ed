using System.Runtime.InteropServices;

namespace WfVae.IO;

/// <summary>What a path names once symbolic links are followed.</summary>
public enum FileKind
{
    Missing,
    Regular,
    Directory,
    Fifo,
    CharacterDevice,
    BlockDevice,
    Socket,
    Other,
}

/// <summary>
/// Classifies paths by their file type. .NET exposes no file type beyond "directory or not", so on Linux
/// this asks statx(2), whose struct layout is the same on every architecture; elsewhere a path under /dev
/// counts as a device and anything else by what .NET reports.
/// </summary>
public static unsafe partial class FileKinds
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 1;
    private const int StatxModeOffset = 28;

    /// <summary>The kind of <paramref name="path"/>, following symbolic links (a dangling link is Missing).</summary>
    public static FileKind Of(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsLinux() && TryStatx(path) is { } mode) return mode == 0 ? FileKind.Missing : FromMode(mode);
        if (Directory.Exists(path)) return FileKind.Directory;
        if (!File.Exists(path)) return FileKind.Missing;
        return Path.GetFullPath(path).StartsWith("/dev/", StringComparison.Ordinal) && !OperatingSystem.IsWindows()
            ? FileKind.CharacterDevice : FileKind.Regular;
    }

    /// <summary>True for kinds that are written and read in place: they have no contents to replace.</summary>
    public static bool IsStreamLike(FileKind kind) =>
        kind is FileKind.Fifo or FileKind.CharacterDevice or FileKind.BlockDevice or FileKind.Socket;

    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        FileKind.Directory => "a directory",
        FileKind.Missing => "missing",
        FileKind.Regular => "a regular file",
        _ => "not a regular file",
    };

    private static FileKind FromMode(ushort mode) => (mode & 0xF000) switch
    {
        0x8000 => FileKind.Regular,
        0x4000 => FileKind.Directory,
        0x1000 => FileKind.Fifo,
        0x2000 => FileKind.CharacterDevice,
        0x6000 => FileKind.BlockDevice,
        0xC000 => FileKind.Socket,
        _ => FileKind.Other,
    };

    /// <summary>st_mode from statx, null when statx itself is unavailable (old kernels, non-glibc).</summary>
    private static ushort? TryStatx(string path)
    {
        byte* buffer = stackalloc byte[256];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                // ENOENT, ENOTDIR, ELOOP: nothing usable there (0 stands for Missing).
                return errno is 2 or 20 or 40 ? (ushort)0 : null;
            }
            return *(ushort*)(buffer + StatxModeOffset);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
    }

    private const uint StatxIno = 0x100;

    /// <summary>
    /// The device and inode of what <paramref name="path"/> names (links followed, in every folder of the path), so
    /// that two spellings of one file compare equal; null where it is missing or cannot be asked (not Linux).
    /// </summary>
    public static (uint Major, uint Minor, ulong Inode)? Identity(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!OperatingSystem.IsLinux()) return null;
        byte* buffer = stackalloc byte[256];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType | StatxIno, buffer) != 0) return null;
            // struct statx: stx_ino at 32, stx_dev_major and stx_dev_minor at 136 and 140.
            return (*(uint*)(buffer + 136), *(uint*)(buffer + 140), *(ulong*)(buffer + 32));
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}
