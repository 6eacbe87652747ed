namespace WfVae.Model.Checkpoint;

/// <summary>
/// The model's frame and size arithmetic (docs/model.md, "Shapes"), the same for every WF-VAE configuration: three
/// 2x spatial levels and two 2x temporal ones, with the first frame encoded by itself.
/// </summary>
public sealed partial record WfVaeConfig
{
    /// <summary>Pixels per latent along H and along W.</summary>
    public const int SpatialCompression = 8;

    /// <summary>Video frames per latent, after the first frame (which has a latent of its own).</summary>
    public const int TemporalCompression = 4;

    /// <summary>
    /// Latent frames of <paramref name="videoFrames"/> video frames: 1 + ⌊(T − 1)/4⌋ (0 for none). Frames after the last
    /// whole group of 4 do not reach a latent.
    /// </summary>
    public static int LatentFrames(int videoFrames) =>
        videoFrames < 0 ? throw new ArgumentOutOfRangeException(nameof(videoFrames)) : videoFrames == 0 ? 0 : (videoFrames - 1) / TemporalCompression + 1;

    /// <summary>Video frames decoded from <paramref name="latentFrames"/> latents: 1 + 4·(t − 1) (0 for none).</summary>
    public static int VideoFrames(int latentFrames) =>
        latentFrames < 0 ? throw new ArgumentOutOfRangeException(nameof(latentFrames)) : latentFrames == 0 ? 0 : TemporalCompression * (latentFrames - 1) + 1;

    /// <summary>Whether T = 1 + 4k for some k ≥ 0: every frame reaches a latent and decodes back.</summary>
    public static bool IsWholeGroups(long videoFrames) => videoFrames >= 1 && TrailingFrames(videoFrames) == 0;

    /// <summary>Frames after the last whole group of 4, (T − 1) mod 4: what the official model drops.</summary>
    public static int TrailingFrames(long videoFrames) => videoFrames <= 0 ? 0 : (int)((videoFrames - 1) % TemporalCompression);

    /// <summary>Copies of the last frame that complete the last group (0 when T = 1 + 4k): what padding adds.</summary>
    public static int FramesToPad(long videoFrames) => (TemporalCompression - TrailingFrames(videoFrames)) % TemporalCompression;

    /// <summary>Whether <paramref name="pixels"/> is a whole number of latent positions.</summary>
    public static bool FitsSpatially(int pixels) => pixels >= SpatialCompression && pixels % SpatialCompression == 0;

    /// <summary>
    /// Latent rows (or columns) of <paramref name="pixels"/> rows (or columns): ⌊pixels / 8⌋, since every 2x level
    /// floors. Only multiples of 8 decode back to their own size (<see cref="FitsSpatially"/>); streams require them.
    /// </summary>
    public static int LatentSize(int pixels) =>
        pixels < SpatialCompression ? throw new ArgumentException($"{pixels} pixels is less than {SpatialCompression}, the model's spatial compression") : pixels / SpatialCompression;

    /// <summary>Pixel rows (or columns) decoded from <paramref name="latents"/> latent rows (or columns).</summary>
    public static int PixelSize(int latents) => latents * SpatialCompression;

    /// <summary>The next multiple of 8 at or above <paramref name="pixels"/>: the size edge padding brings a frame to.</summary>
    public static int PaddedSize(int pixels) =>
        pixels <= 0 ? throw new ArgumentOutOfRangeException(nameof(pixels)) : (pixels + SpatialCompression - 1) / SpatialCompression * SpatialCompression;
}
