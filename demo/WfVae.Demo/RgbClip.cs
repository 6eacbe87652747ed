namespace WfVae.Demo;

/// <summary>A short video held in memory: frames of RGB24 (R, G, B bytes, row after row).</summary>
public sealed record RgbClip(int Width, int Height, IReadOnlyList<byte[]> Frames, string Description)
{
    public int FrameBytes => Width * Height * 3;
}
