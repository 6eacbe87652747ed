using WfVae.Media;
using WfVae.Model.Checkpoint;

namespace WfVae.Demo;

/// <summary>Reads the --input video (anything FFmpeg opens: a file or a URL) at the demo's frame size.</summary>
public static class VideoInput
{
    /// <summary>
    /// The first <paramref name="frames"/> frames, scaled to cover <paramref name="width"/> x
    /// <paramref name="height"/> and centre-cropped to it (no stretching). A shorter video is cut to its
    /// longest 1 + 4k prefix: frames past the last complete group of 4 would reach no latent.
    /// </summary>
    public static RgbClip Read(string input, int frames, int width, int height)
    {
        var options = new VideoReaderOptions { VideoFilter = $"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}" };
        using var reader = VideoReader.Open(input, options);
        if (reader.Width != width || reader.Height != height)
            throw new MediaException($"'{input}': the scale filter gave {reader.Width}x{reader.Height} frames instead of {width}x{height}");
        var list = reader.ReadFrames().Take(frames).ToList();
        if (list.Count == 0) throw new MediaException($"'{input}': no video frames");
        list = list.Take(list.Count - WfVaeConfig.TrailingFrames(list.Count)).ToList();
        return new RgbClip(width, height, list,
            $"`{input}` ({reader.CodecName}, {reader.SourceWidth}x{reader.SourceHeight}), first {list.Count} frames scaled and centre-cropped to {width}x{height}");
    }
}
