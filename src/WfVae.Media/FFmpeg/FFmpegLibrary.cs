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
/// Loads FFmpeg's shared libraries, checks their versions and picks the struct layout. The release is chosen
/// at run time: the newest supported release whose five libraries all load (from <c>WFVAE_FFMPEG_DIR</c> first,
/// when set, then the system search path), loaded in dependency order so that a folder of libraries without
/// an rpath still resolves its own sonames. Every public entry point of WfVae.Media calls
/// <see cref="EnsureLoaded"/> first.
/// </summary>
public static class FFmpegLibrary
{
    public static readonly string[] LibraryNames = ["libavutil", "libavcodec", "libavformat", "libavfilter", "libswscale"];

    /// <summary>Dependency order: each library's FFmpeg dependencies come before it.</summary>
    private static readonly string[] LoadOrder = ["libavutil", "libswscale", "libavcodec", "libavformat", "libavfilter"];

    /// <summary>Releases whose sonames are tried (so an unsupported one is found and named, not just "missing").</summary>
    private static readonly FFmpegRelease[] KnownReleases =
    [
        new("FFmpeg 5.x", AvUtil: 57, AvCodec: 59, AvFormat: 59, AvFilter: 8, SwScale: 6),
        new("FFmpeg 6.x", AvUtil: 58, AvCodec: 60, AvFormat: 60, AvFilter: 9, SwScale: 7),
        new("FFmpeg 7.x", AvUtil: 59, AvCodec: 61, AvFormat: 61, AvFilter: 10, SwScale: 8),
        new("FFmpeg 8.x", AvUtil: 60, AvCodec: 62, AvFormat: 62, AvFilter: 11, SwScale: 9),
        new("FFmpeg 9.x", AvUtil: 61, AvCodec: 63, AvFormat: 63, AvFilter: 12, SwScale: 10),
    ];

    /// <summary>
    /// Releases whose struct offsets (<see cref="FFmpegLayout"/>) were taken from their headers and verified
    /// against their libraries by the layout and media tests (docs/media.md): 5.1, 7.1, 8.1, 9.0, newest first.
    /// 6.x is found and named but refused: no Debian suite carries its source to verify it against.
    /// </summary>
    public static IReadOnlyList<FFmpegRelease> SupportedReleases { get; } = [KnownReleases[4], KnownReleases[3], KnownReleases[2], KnownReleases[0]];

    private static readonly Dictionary<FFmpegRelease, FFmpegLayout> Layouts = new()
    {
        [KnownReleases[0]] = FFmpegLayout.FFmpeg5,
        [KnownReleases[2]] = FFmpegLayout.FFmpeg7,
        [KnownReleases[3]] = FFmpegLayout.FFmpeg8,
        [KnownReleases[4]] = FFmpegLayout.FFmpeg9,
    };

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, nint> Handles = new();
    private static readonly List<string> Tried = new();
    private static bool _resolverSet, _librariesLoaded;
    private static Exception? _failure;
    private static FFmpegLayout? _layout;

    /// <summary>Versions of the loaded libraries (loads them if needed).</summary>
    public static IReadOnlyList<FFmpegLibraryVersion> LoadedVersions { get { EnsureLoaded(); return _versions!; } }
    private static IReadOnlyList<FFmpegLibraryVersion>? _versions;

    /// <summary>The release the loaded libraries belong to.</summary>
    public static FFmpegRelease Release { get { EnsureLoaded(); return _release!; } }
    private static FFmpegRelease? _release;

    internal static FFmpegLayout Layout => _layout ?? throw new InvalidOperationException("FFmpegLibrary.EnsureLoaded was not called");

    /// <summary>The struct layout of a supported release (each one has exactly one).</summary>
    internal static FFmpegLayout LayoutOf(FFmpegRelease release) => Layouts[release];

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
                FFmpegLog.Install(); // ... and a reader's damage as its ReadErrors
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
            if (!_librariesLoaded) { LoadLibraries(); _librariesLoaded = true; }
            return Handles.GetValueOrDefault(library);
        }
    }

    /// <summary>
    /// The newest supported release complete in one place (the WFVAE_FFMPEG_DIR folder, then the system);
    /// failing that, each library under any known name, so that the version check can name what was found.
    /// </summary>
    private static void LoadLibraries()
    {
        var dir = Environment.GetEnvironmentVariable("WFVAE_FFMPEG_DIR");
        var places = dir is { Length: > 0 } ? new[] { dir, null } : new string?[] { null };
        foreach (var place in places)
            foreach (var release in SupportedReleases)
                if (TryLoadRelease(place, release)) return;
        foreach (var library in LoadOrder)
        {
            var names = KnownReleases.Select(r => FileName(library, r.MajorOf(library))).Append(FileName(library, null));
            foreach (var file in places.SelectMany(p => names.Select(n => p == null ? n : Path.Combine(p, n))))
                if (TryLoad(library, file)) break;
        }
    }

    private static bool TryLoadRelease(string? place, FFmpegRelease release)
    {
        var loaded = new List<string>();
        foreach (var library in LoadOrder)
        {
            var file = FileName(library, release.MajorOf(library));
            if (!TryLoad(library, place == null ? file : Path.Combine(place, file)))
            {
                foreach (var l in loaded) { NativeLibrary.Free(Handles[l]); Handles.Remove(l); }
                return false;
            }
            loaded.Add(library);
        }
        return true;
    }

    private static bool TryLoad(string library, string path)
    {
        Tried.Add(path);
        if (!NativeLibrary.TryLoad(path, out var handle)) return false;
        Handles[library] = handle;
        return true;
    }

    /// <summary>A library's file name for a major version (null: the unversioned development name).</summary>
    private static string FileName(string library, int? major)
    {
        string name = library[3..];
        if (major is not { } m) return OperatingSystem.IsWindows() ? $"{name}.dll" : OperatingSystem.IsMacOS() ? $"{library}.dylib" : $"{library}.so";
        if (OperatingSystem.IsWindows()) return $"{name}-{m}.dll";
        return OperatingSystem.IsMacOS() ? $"{library}.{m}.dylib" : $"{library}.so.{m}";
    }
}
