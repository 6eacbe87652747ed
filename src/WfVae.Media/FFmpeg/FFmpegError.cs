namespace WfVae.Media.FFmpeg;

/// <summary>Turns FFmpeg's negative return codes into messages (av_strerror) and exceptions.</summary>
internal static unsafe class FFmpegError
{
    public static string Message(int code)
    {
        var buf = stackalloc byte[256];
        if (Native.av_strerror(code, buf, 256) < 0) return $"FFmpeg error {code}";
        return new string((sbyte*)buf);
    }

    private const int EPIPE = 32;

    /// <summary>
    /// Returns <paramref name="code"/> when it is not an error; otherwise throws "<paramref name="what"/>: message". A
    /// broken pipe (AVERROR(EPIPE): the reader of a FIFO output went away) is the IOException every other output gives.
    /// </summary>
    public static int Check(int code, string what) =>
        code >= 0 ? code
        : code == -EPIPE ? throw new IOException($"{what}: {Message(code)}", EPIPE)
        : throw new MediaException($"{what}: {Message(code)}");
}
