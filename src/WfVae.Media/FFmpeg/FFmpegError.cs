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

    /// <summary>Returns <paramref name="code"/> when it is not an error; otherwise throws "<paramref name="what"/>: message".</summary>
    public static int Check(int code, string what) =>
        code >= 0 ? code : throw new MediaException($"{what}: {Message(code)}");

    /// <summary>
    /// <see cref="Check"/> for writes to an output: a broken pipe (AVERROR(EPIPE): the reader of a FIFO output went away)
    /// is the IOException every other output gives. Inputs keep MediaException: a server that closes is no reader leaving.
    /// </summary>
    public static int CheckOutput(int code, string what) =>
        code == -EPIPE ? throw new IOException($"{what}: {Message(code)}", EPIPE) : Check(code, what);
}
