using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace WfVae.Media.FFmpeg;

/// <summary>
/// FFmpeg's log, silenced but not ignored: error-level lines raised on a thread while a <see cref="VideoReader"/>
/// reads on it (a demuxer resynchronising over damage, a decoder refusing a slice) are counted for that reader,
/// so damage that costs frames without failing a call is still reported. Lines from FFmpeg's own worker threads
/// and outside reads are dropped, as everything else is.
/// </summary>
internal static unsafe class FFmpegLog
{
    private const int AV_LOG_ERROR = 16;

    [ThreadStatic] private static VideoReader? t_reading;

    /// <summary>Attributes this thread's error lines to <paramref name="reader"/> until the returned scope ends.</summary>
    public static Scope Reading(VideoReader reader)
    {
        var outer = t_reading;
        t_reading = reader;
        return new Scope(outer);
    }

    public readonly struct Scope(VideoReader? outer) : IDisposable
    {
        public void Dispose() => t_reading = outer;
    }

    /// <summary>Installs the callback (once, when the libraries load).</summary>
    public static void Install() => Native.av_log_set_callback(&OnLog);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLog(nint avcl, int level, nint fmt, nint vl)
    {
        if (level > AV_LOG_ERROR || t_reading is not { } reader) return;
        const int size = 512;
        byte* line = stackalloc byte[size];
        int printPrefix = 0;
        if (Native.av_log_format_line2(avcl, level, fmt, vl, line, size, &printPrefix) < 0) line[0] = 0;
        reader.NoteLogError(Marshal.PtrToStringUTF8((nint)line)?.Trim() ?? "");
    }
}
