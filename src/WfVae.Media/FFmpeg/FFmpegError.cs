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

    /// <summary>Returns <paramref name="code"/> when it is not an error; otherwise throws "<paramref name="what"/>: message".</summary>
    public static int Check(int code, string what) =>
        code >= 0 ? code : throw new MediaException($"{what}: {Message(code)}");
}
