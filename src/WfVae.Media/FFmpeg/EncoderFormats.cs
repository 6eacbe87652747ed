using static WfVae.Media.FFmpeg.Native;

namespace WfVae.Media.FFmpeg;

/// <summary>
/// The pixel format a video encoder is given: the writer's default where the encoder takes it, else the encoder's own
/// format that loses least from RGB24 among those swscale can write (gif: rgb8; mpeg4 at odd sizes: yuv420p), the
/// choice the ffmpeg tool makes. An encoder that lists nothing usable keeps the default and refuses it by name.
/// </summary>
internal static unsafe class EncoderFormats
{
    private const int None = -1; // AV_PIX_FMT_NONE

    public static int Choose(nint context, nint codec, int preferred)
    {
        var listed = Listed(context, codec);
        if (listed == null || listed.Contains(preferred)) return preferred;
        var usable = listed.Where(f => sws_isSupportedOutput(f) != 0).Append(None).ToArray();
        if (usable.Length == 1) return preferred;
        fixed (int* list = usable) return avcodec_find_best_pix_fmt_of_list(list, av_get_pix_fmt("rgb24"), 0, null);
    }

    /// <summary>The encoder's pixel formats; null where it lists none (it takes any) or this FFmpeg cannot tell.</summary>
    public static int[]? Listed(nint context, nint codec)
    {
        int* list;
        int count = int.MaxValue; // a field's list ends at AV_PIX_FMT_NONE
        if (FFmpegLibrary.Layout.CodecPixFmts >= 0) list = Fields.CodecPixFmts(codec);
        else
        {
            nint configs = 0;
            int n = 0;
            try
            {
                if (avcodec_get_supported_config(context, codec, 0, 0, &configs, &n) < 0) return null;
            }
            catch (EntryPointNotFoundException)
            {
                return null; // 7.0: neither the field's layout nor the function
            }
            list = (int*)configs;
            count = n;
        }
        if (list == null) return null;
        var formats = new List<int>();
        for (int i = 0; i < count && list[i] != None; i++) formats.Add(list[i]);
        return formats.Count > 0 ? formats.ToArray() : null;
    }
}
