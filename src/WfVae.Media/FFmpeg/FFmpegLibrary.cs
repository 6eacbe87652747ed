using System.Reflection;
using System.Runtime.InteropServices;

namespace WfVae.Media.FFmpeg;

/// <summary>A loaded library's version as FFmpeg packs it (<c>major &lt;&lt; 16 | minor &lt;&lt; 8 | micro</c>).</summary>
public sealed record FFmpegLibraryVersion(string Library, uint Packed)
{
    public int Major => (int)(Packed >> 16);
    public int Minor => (int)((Packed >> 8) & 0xFF);
    public int Micro => (int)(Packed & 0xFF);
    public override string ToString() => $"{Library} {Major}.{Minor}.{Micro}";
}

/// <summary>The library majors of one FFmpeg release line.</summary>
public sealed record FFmpegRelease(string Name, int AvUtil, int AvCodec, int AvFormat, int AvFilter, int SwScale)
{
    public int MajorOf(string library) => library switch
    {
        "libavutil" => AvUtil, "libavcodec" => AvCodec, "libavformat" => AvFormat,
        "libavfilter" => AvFilter, "libswscale" => SwScale,
        _ => throw new ArgumentException($"not an FFmpeg library: {library}", nameof(library)),
    };
}

/// <summary>
/// Loads FFmpeg's shared libraries (versioned names, newest supported first), checks their versions and
/// picks the struct layout. Every public entry point of WfVae.Media calls <see cref="EnsureLoaded"/> first.
/// Set <c>WFVAE_FFMPEG_DIR</c> to look in a folder before the system search path.
/// </summary>
public static class FFmpegLibrary
{
    public static readonly string[] LibraryNames = ["libavutil", "libavcodec", "libavformat", "libavfilter", "libswscale"];

    /// <summary>Releases whose sonames are tried (so an unsupported one is found and named, not just "missing").</summary>
    private static readonly FFmpegRelease[] KnownReleases =
    [
        new("FFmpeg 5.x", AvUtil: 57, AvCodec: 59, AvFormat: 59, AvFilter: 8, SwScale: 6),
        new("FFmpeg 6.x", AvUtil: 58, AvCodec: 60, AvFormat: 60, AvFilter: 9, SwScale: 7),
        new("FFmpeg 7.x", AvUtil: 59, AvCodec: 61, AvFormat: 61, AvFilter: 10, SwScale: 8),
    ];

    /// <summary>
    /// Releases this binding supports: only those whose struct offsets were verified against real libraries
    /// (FFmpeg 5.1 here). 6.x/7.x are found and named but refused until their offsets are added to
    /// <see cref="FFmpegLayout"/> and pass the layout tests against those libraries (public structs such as
    /// AVStream, AVFrame and AVCodecContext gained and lost fields across these releases).
    /// </summary>
    public static IReadOnlyList<FFmpegRelease> SupportedReleases { get; } = [KnownReleases[0]];

    private static readonly Dictionary<FFmpegRelease, FFmpegLayout> Layouts = new() { [KnownReleases[0]] = FFmpegLayout.FFmpeg5 };

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, nint> Handles = new();
    private static readonly List<string> Tried = new();
    private static bool _resolverSet;
    private static Exception? _failure;
    private static FFmpegLayout? _layout;

    /// <summary>Versions of the loaded libraries (loads them if needed).</summary>
    public static IReadOnlyList<FFmpegLibraryVersion> LoadedVersions { get { EnsureLoaded(); return _versions!; } }
    private static IReadOnlyList<FFmpegLibraryVersion>? _versions;

    /// <summary>The release the loaded libraries belong to.</summary>
    public static FFmpegRelease Release { get { EnsureLoaded(); return _release!; } }
    private static FFmpegRelease? _release;

    internal static FFmpegLayout Layout => _layout ?? throw new InvalidOperationException("FFmpegLibrary.EnsureLoaded was not called");

    /// <summary>Loads and checks the libraries once; throws <see cref="MediaException"/> (every time) if that failed.</summary>
    public static void EnsureLoaded()
    {
        if (_layout is not null) return;
        lock (Gate)
        {
            if (_layout is not null) return;
            if (_failure is not null) throw new MediaException(_failure.Message, _failure);
            try
            {
                if (!_resolverSet) { NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, Resolve); _resolverSet = true; }
                var versions = ReadVersions();
                var release = CheckVersions(versions, SupportedReleases);
                Native.av_log_set_level(Native.AV_LOG_QUIET); // errors reach callers as exceptions, not as stderr noise
                Native.avformat_network_init();
                (_versions, _release, _layout) = (versions, release, Layouts[release]);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or MediaException)
            {
                _failure = e is MediaException ? e : new MediaException(
                    $"FFmpeg shared libraries could not be loaded ({e.Message}). Tried: {string.Join(", ", Tried)}. " +
                    $"Install FFmpeg {string.Join(" or ", SupportedReleases.Select(r => r.Name))} (Debian/Ubuntu: apt-get install ffmpeg) " +
                    "or set WFVAE_FFMPEG_DIR to the folder holding the libraries.", e);
                throw _failure;
            }
        }
    }

    private static List<FFmpegLibraryVersion> ReadVersions() =>
    [
        new("libavutil", Native.avutil_version()),
        new("libavcodec", Native.avcodec_version()),
        new("libavformat", Native.avformat_version()),
        new("libavfilter", Native.avfilter_version()),
        new("libswscale", Native.swscale_version()),
    ];

    /// <summary>
    /// Returns the supported release all of <paramref name="found"/> belong to, or throws a
    /// <see cref="MediaException"/> naming each library, its version and the supported majors.
    /// </summary>
    public static FFmpegRelease CheckVersions(IReadOnlyList<FFmpegLibraryVersion> found, IReadOnlyList<FFmpegRelease> supported)
    {
        foreach (var release in supported)
            if (found.All(v => v.Major == release.MajorOf(v.Library))) return release;

        var problems = new List<string>();
        foreach (var v in found)
        {
            var majors = supported.Select(r => $"{r.MajorOf(v.Library)} ({r.Name})").ToList();
            if (!supported.Any(r => r.MajorOf(v.Library) == v.Major))
                problems.Add($"{v.Library} {v.Major}.{v.Minor}.{v.Micro} is not supported (supported major: {string.Join(", ", majors)})");
        }
        if (problems.Count == 0)
            problems.Add($"the libraries come from different FFmpeg releases ({string.Join(", ", found)})");
        throw new MediaException("Unsupported FFmpeg: " + string.Join("; ", problems) + ".");
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        var library = "lib" + name;
        if (!LibraryNames.Contains(library)) return 0;
        lock (Handles)
        {
            if (Handles.TryGetValue(name, out var cached)) return cached;
            var dir = Environment.GetEnvironmentVariable("WFVAE_FFMPEG_DIR");
            foreach (var file in CandidateFiles(name))
                foreach (var path in dir is { Length: > 0 } ? [Path.Combine(dir, file), file] : new[] { file })
                {
                    Tried.Add(path);
                    if (NativeLibrary.TryLoad(path, out var handle)) return Handles[name] = handle;
                }
            return 0;
        }
    }

    /// <summary>Versioned file names, supported releases first, then the unversioned development name.</summary>
    private static IEnumerable<string> CandidateFiles(string name)
    {
        var lib = "lib" + name;
        var releases = SupportedReleases.Concat(KnownReleases.Except(SupportedReleases));
        foreach (var r in releases)
        {
            int major = r.MajorOf(lib);
            if (OperatingSystem.IsWindows()) yield return $"{name}-{major}.dll";
            else if (OperatingSystem.IsMacOS()) yield return $"{lib}.{major}.dylib";
            else yield return $"{lib}.so.{major}";
        }
        yield return OperatingSystem.IsWindows() ? $"{name}.dll" : OperatingSystem.IsMacOS() ? $"{lib}.dylib" : $"{lib}.so";
    }
}
