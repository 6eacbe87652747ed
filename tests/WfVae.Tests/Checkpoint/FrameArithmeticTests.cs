using WfVae.Model.Checkpoint;
using WfVae.Streaming;
using Xunit;

namespace WfVae.Tests.Checkpoint;

/// <summary>The model's frame and size conventions (WfVaeConfig) and the streaming chunk policy, against explicit counts.</summary>
public sealed class FrameArithmeticTests
{
    [Theory]
    [InlineData(0, 0, 0, 0)]
    [InlineData(1, 1, 0, 0)]
    [InlineData(2, 1, 1, 3)]
    [InlineData(4, 1, 3, 1)]
    [InlineData(5, 2, 0, 0)]
    [InlineData(33, 9, 0, 0)]
    [InlineData(34, 9, 1, 3)]
    [InlineData(36, 9, 3, 1)]
    public void LatentFramesTrailingFramesAndPadding(int video, int latents, int trailing, int pad)
    {
        Assert.Equal(latents, WfVaeConfig.LatentFrames(video));
        Assert.Equal(trailing, WfVaeConfig.TrailingFrames(video));
        Assert.Equal(pad, WfVaeConfig.FramesToPad(video));
        Assert.Equal(video >= 1 && trailing == 0, WfVaeConfig.IsWholeGroups(video));
        // Padding completes the last group: the padded count is 1 + 4k and keeps every frame.
        if (video > 0) Assert.True(WfVaeConfig.IsWholeGroups(video + pad));
        // Decoding gives back the frames that reached a latent.
        Assert.Equal(video - trailing, WfVaeConfig.VideoFrames(latents));
    }

    [Fact]
    public void SpatialSizes()
    {
        Assert.Equal(4, WfVaeConfig.LatentSize(32));
        Assert.Equal(40, WfVaeConfig.PixelSize(5));
        Assert.Equal((8, 8, 16), (WfVaeConfig.PaddedSize(1), WfVaeConfig.PaddedSize(8), WfVaeConfig.PaddedSize(9)));
        Assert.False(WfVaeConfig.FitsSpatially(0));
        Assert.False(WfVaeConfig.FitsSpatially(12));
        Assert.True(WfVaeConfig.FitsSpatially(16));
        Assert.Equal((1, 2, 5), (WfVaeConfig.LatentSize(12), WfVaeConfig.LatentSize(20), WfVaeConfig.LatentSize(44)));
        Assert.Throws<ArgumentException>(() => WfVaeConfig.LatentSize(7));
        Assert.Throws<ArgumentOutOfRangeException>(() => WfVaeConfig.LatentFrames(-1));
    }

    [Theory]
    [InlineData(13, 4, new[] { 1, 4, 4, 4 })]
    [InlineData(11, 8, new[] { 1, 8, 2 })]
    [InlineData(1, 4, new[] { 1 })]
    [InlineData(9, 0, new[] { 9 })]
    [InlineData(0, 4, new int[0])]
    public void ChunkPolicyPushesTheFirstFrameAloneThenChunks(int total, int chunk, int[] counts)
    {
        var pushes = ChunkPolicy.Pushes(total, chunk).ToList();
        Assert.Equal(counts, pushes.Select(p => p.Count));
        Assert.Equal(Enumerable.Range(0, counts.Length).Select(i => counts.Take(i).Sum()), pushes.Select(p => p.Start));
        Assert.Equal(1, ChunkPolicy.NextPush(0, chunk == 0 ? 4 : chunk));
        Assert.Equal(int.MaxValue, ChunkPolicy.NextPush(5, 0));
    }

    [Fact]
    public void ChunkPolicyRefusesBadChunksAndChunkedGroupNorm()
    {
        var config = WfVaeConfig.WfVaeL16Chn;
        Assert.Contains("multiple of 4 video frames", Assert.Throws<ArgumentException>(() => ChunkPolicy.Check(config, 6, videoFrames: true)).Message);
        ChunkPolicy.Check(config, 3, videoFrames: false);
        Assert.Throws<ArgumentException>(() => ChunkPolicy.Check(config, -1, videoFrames: false));
        var groupNorm = config with { NormType = NormType.GroupNorm };
        Assert.Throws<NotSupportedException>(() => ChunkPolicy.Check(groupNorm, 4, videoFrames: true));
        ChunkPolicy.Check(groupNorm, 0, videoFrames: true);
    }
}
