using System.Security.Cryptography;
using System.Text;

namespace WfVae.IO;

/// <summary>
/// The one way this project writes an output file. A regular file (or a name that does not exist yet) is
/// written to a unique temporary beside its target, <c>&lt;name&gt;.&lt;8 hex&gt;.partial</c>, and renamed
/// over the target by <see cref="Commit"/>, so the target is only ever the old file or the complete new
/// one, and two writers of one name never share bytes (the later rename wins). Symbolic links are
/// followed, so the file they point at is what gets replaced. Things with no contents to replace
/// (<c>-</c>, <c>/dev/stdout</c>, <c>/dev/stderr</c>, devices, FIFOs, sockets) are written in place.
/// <para>
/// <see cref="Dispose"/> without <see cref="Commit"/> deletes the temporary, unless the output was created
/// with <c>keepOnFailure</c> (a latent stream whose every record is usable). <see cref="Abandon"/> does
/// the same for every unfinished output of the process at once: the signal handler's clean-up.
/// </para>
/// </summary>
public sealed class OutputFile : IDisposable
{
    /// <summary>Suffix of every temporary; the name before it is the target's name and 8 hex digits.</summary>
    public const string TemporarySuffix = ".partial";

    private static readonly object Gate = new();
    private static readonly HashSet<OutputFile> Unfinished = new();
    private static bool s_abandoned;

    private readonly int _descriptor; // 1 or 2 for stdout/stderr, else -1
    private Stream? _stream;
    private bool _disposed, _keep;

    /// <summary>The name the caller gave, for messages.</summary>
    public string Name { get; }
    /// <summary>The file that holds the output when it is complete (links resolved).</summary>
    public string Target { get; }
    /// <summary>Where the bytes go while writing: the temporary, or <see cref="Target"/> for in-place outputs.</summary>
    public string WritePath { get; }
    /// <summary>True for in-place outputs (standard streams, devices, FIFOs, sockets).</summary>
    public bool IsDirect { get; }
    /// <summary>Whether an unfinished temporary survives <see cref="Dispose"/> and <see cref="Abandon"/> (it holds usable data).</summary>
    public bool KeepOnFailure
    {
        get { lock (Gate) return _keep; }
        set { lock (Gate) _keep = value; }
    }
    public bool Committed { get; private set; }

    private OutputFile(string name, string target, string writePath, bool direct, bool keep, int descriptor, Stream? stream)
    {
        (Name, Target, WritePath, IsDirect, _keep, _descriptor, _stream) = (name, target, writePath, direct, keep, descriptor, stream);
    }

    /// <summary>
    /// Starts an output. For a regular target the temporary is created at once (exclusively), so a folder
    /// that cannot be written fails here, before any work; an in-place target is opened on first use of
    /// <see cref="Stream"/> (opening a FIFO waits for its reader).
    /// </summary>
    public static OutputFile Create(string path, bool keepOnFailure = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (IsStdout(path)) return Standard(path, 1);
        if (path == "/dev/stderr") return Standard(path, 2);
        var target = ResolveLinks(Path.GetFullPath(path));
        var kind = FileKinds.Of(target);
        if (kind == FileKind.Directory) throw new IOException($"cannot write '{path}': it is a directory");
        if (FileKinds.IsStreamLike(kind) || IsDescriptorPath(target))
            return new OutputFile(path, target, target, direct: true, keepOnFailure, -1, null);
        var folder = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write '{path}': the folder '{folder}' does not exist");
        var (temp, stream) = CreateTemporary(path, target, folder);
        if (kind == FileKind.Regular && !OperatingSystem.IsWindows()) CopyMode(target, temp);
        var output = new OutputFile(path, target, temp, direct: false, keepOnFailure, -1, stream);
        lock (Gate)
        {
            if (s_abandoned)
            {
                stream.Dispose();
                File.Delete(temp);
                throw new IOException($"cannot write '{path}': the process is being interrupted");
            }
            Unfinished.Add(output);
        }
        return output;
    }

    /// <summary>Writes a whole file through <see cref="Create"/> and <see cref="Commit"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        using var output = Create(path);
        write(output.Stream);
        output.Commit();
    }

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        using var output = Create(path);
        output.Stream.Write(bytes);
        output.Commit();
    }

    public static void WriteAllText(string path, string text)
    {
        using var output = Create(path);
        output.Complete(text);
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte-order mark) and commits: an output started before its work, completed at once.</summary>
    public void Complete(string text)
    {
        Stream.Write(new UTF8Encoding(false).GetBytes(text));
        Commit();
    }

    /// <summary>The stream to write to (the temporary, or the in-place target opened now).</summary>
    public Stream Stream
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (Committed) throw new InvalidOperationException($"'{Name}' is already complete");
            return _stream ??= _descriptor > 0
                ? new DescriptorStream(_descriptor, _descriptor == 1 ? "stdout" : "stderr")
                : new FileStream(Target, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        }
    }

    /// <summary>
    /// Completes the output: flushed (and for a temporary, synced to disk) and renamed over the target.
    /// Refused once <see cref="Abandon"/> ran, so an interrupted process never publishes a file.
    /// </summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Committed) return;
        if (IsDirect)
        {
            _stream?.Flush();
            Committed = true;
            return;
        }
        var file = (FileStream)_stream!;
        // Synced before the rename: after a crash the target is the old file or the whole new one, never an empty one.
        file.Flush(flushToDisk: true);
        file.Dispose();
        lock (Gate)
        {
            if (s_abandoned) throw new IOException($"'{Name}' was not completed: the process is being interrupted");
            File.Move(WritePath, Target, overwrite: true);
            Committed = true;
            Unfinished.Remove(this);
        }
    }

    /// <summary>Closes the output; an uncommitted temporary is deleted unless the output keeps it on failure.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (Gate) Unfinished.Remove(this);
        try { _stream?.Dispose(); }
        catch (IOException) { } // a full disk or a closed pipe: the output is being discarded anyway
        if (!Committed && !IsDirect && !KeepOnFailure) TryDelete(WritePath);
    }

    /// <summary>
    /// Deletes the temporaries of every unfinished output and refuses later commits; returns the
    /// temporaries kept because their outputs keep partial data. For a process about to exit on a signal.
    /// </summary>
    public static IReadOnlyList<string> Abandon()
    {
        lock (Gate)
        {
            s_abandoned = true;
            var kept = new List<string>();
            foreach (var output in Unfinished)
            {
                if (output._keep) kept.Add(output.WritePath);
                else TryDelete(output.WritePath);
            }
            Unfinished.Clear();
            return kept;
        }
    }

    /// <summary>
    /// Whether two names a command reads or writes are one regular file, existing or not yet (relative names and
    /// symbolic links resolved): writing one would replace the other. "-", devices and FIFOs may be shared (/dev/null).
    /// </summary>
    public static bool SameFile(string a, string b)
    {
        if (a == "-" || b == "-") return false;
        var ta = ResolveLinks(Path.GetFullPath(a));
        var tb = ResolveLinks(Path.GetFullPath(b));
        return FileKinds.Of(ta) is FileKind.Regular or FileKind.Missing && Place(ta) == Place(tb);
    }

    /// <summary>Names that write to standard output: "-" and the device names of descriptor 1.</summary>
    public static bool IsStdout(string path) => path is "-" or "/dev/stdout" or "/dev/fd/1" or "/proc/self/fd/1";

    // Where a file is or would be: its device and inode, else its folder's and its name, so that links in any folder
    // of either path, "..", hard links and letter case (where the file system ignores it) cannot hide that two names
    // are one file; the path itself where the system cannot be asked.
    private static string Place(string full)
    {
        if (FileKinds.Identity(full) is { } file) return file.ToString();
        var folder = Path.GetDirectoryName(full);
        if (folder != null && FileKinds.Identity(folder) is { } dir) return $"{dir}/{Path.GetFileName(full)}";
        return OperatingSystem.IsLinux() ? full : full.ToUpperInvariant();
    }

    /// <summary>Temporaries left beside <paramref name="path"/> by writers that never completed (newest first).</summary>
    public static IReadOnlyList<string> TemporariesOf(string path)
    {
        var target = ResolveLinks(Path.GetFullPath(path));
        var folder = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(folder)) return [];
        var prefix = Path.GetFileName(target) + ".";
        return Directory.EnumerateFiles(folder, prefix + "*" + TemporarySuffix)
            .Where(f => IsTemporaryName(Path.GetFileName(f), prefix))
            .OrderByDescending(File.GetLastWriteTimeUtc)
            .ToList();
    }

    private static bool IsTemporaryName(string name, string prefix) =>
        name.Length == prefix.Length + 8 + TemporarySuffix.Length
        && name.AsSpan(prefix.Length, 8).IndexOfAnyExcept("0123456789abcdef") < 0;

    private static (string Path, FileStream Stream) CreateTemporary(string name, string target, string folder)
    {
        for (int attempt = 0; ; attempt++)
        {
            var temp = $"{target}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}{TemporarySuffix}";
            try
            {
                // FileShare.Read: a reader may follow the file while it is written.
                return (temp, new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, 1 << 16));
            }
            catch (IOException) when (attempt < 8 && File.Exists(temp)) { }
            // The error names the temporary, which the user never named: say which output and folder failed.
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                var why = e is UnauthorizedAccessException ? "permission denied" : e is FileNotFoundException ? "it takes no new files"
                    : e.Message.Replace($" : '{temp}'", "", StringComparison.Ordinal).Replace(temp, name, StringComparison.Ordinal);
                throw new IOException($"cannot write '{name}': no file can be created in '{folder}' ({why})", e);
            }
        }
    }

    private static OutputFile Standard(string name, int descriptor)
    {
        if (OperatingSystem.IsWindows())
        {
            var stream = descriptor == 1 ? Console.OpenStandardOutput() : Console.OpenStandardError();
            return new OutputFile(name, name, name, direct: true, keep: false, -1, stream);
        }
        return new OutputFile(name, name, $"/dev/fd/{descriptor}", direct: true, keep: false, descriptor, null);
    }

    /// <summary>/dev/fd/N and /proc/self/fd/N name open descriptors whose link targets are not paths.</summary>
    private static bool IsDescriptorPath(string path) =>
        path.StartsWith("/dev/fd/", StringComparison.Ordinal) || path.StartsWith("/proc/self/fd/", StringComparison.Ordinal);

    /// <summary>Follows symbolic links (chains, relative targets, dangling ones) to the file they name.</summary>
    private static string ResolveLinks(string full)
    {
        if (IsDescriptorPath(full)) return full;
        for (int hop = 0; hop < 40; hop++)
        {
            FileSystemInfo info = new FileInfo(full);
            if (info.LinkTarget is not { } link) return full;
            var next = Path.GetFullPath(link, Path.GetDirectoryName(full)!);
            if (IsDescriptorPath(next)) return full;
            full = next;
        }
        throw new IOException($"cannot write '{full}': too many levels of symbolic links");
    }

    private static void CopyMode(string from, string to)
    {
        if (OperatingSystem.IsWindows()) return; // the new file takes the folder's ACL there
        try { File.SetUnixFileMode(to, File.GetUnixFileMode(from)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
