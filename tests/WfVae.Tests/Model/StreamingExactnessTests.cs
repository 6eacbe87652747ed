using WfVae.Model;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;

namespace WfVae.Tests.Model;

/// <summary>Chunked pushes through the stream graph equal one whole-clip push, bit for bit (docs/model.md#exactness), in both precisions.</summary>
[Collection(Gpu.Stream)]
public sealed class StreamingExactnessTests(GpuFixture gpu)
{
    public static TheoryData<int[], Precision> EncoderChunkings() => new()
    {
        { new[] { 1, 4, 4, 4, 4, 4, 4, 4, 4 }, Precision.Fp32 },
        { new[] { 1, 8, 8, 8, 8 }, Precision.Fp32 },
        { new[] { 5, 12, 12, 4 }, Precision.Fp32 },
        { new[] { 1, 1, 1, 2, 3, 5, 7, 13 }, Precision.Fp32 },
        { new[] { 1, 4, 4, 4, 4, 4, 4, 4, 4 }, Precision.Fp16 },
        { new[] { 1, 1, 1, 2, 3, 5, 7, 13 }, Precision.Fp16 },
    };

    [Theory]
    [MemberData(nameof(EncoderChunkings))]
    public void ChunkedEncodeIsBitIdenticalToWholeClip(int[] chunks, Precision precision)
    {
        var golden = ReferenceTolerance.Golden("long");
        using var model = GoldenModelTests.LoadGolden(gpu, "long", precision);
        var video = golden.Tensor("video");
        var frames = video.ToFrameMajor();
        int frameSize = 3 * video.H * video.W;
        Assert.Equal(video.T, chunks.Sum());

        LatentFrames whole;
        using (var s = model.OpenEncoder(video.H, video.W)) whole = s.Push(frames, video.T);

        var mean = new List<float>();
        var logvar = new List<float>();
        using (var s = model.OpenEncoder(video.H, video.W))
        {
            int at = 0;
            foreach (var n in chunks)
            {
                var r = s.Push(frames.AsSpan(at * frameSize, n * frameSize), n);
                Assert.Equal(mean.Count / (4 * 4 * 4), r.FirstFrame);
                mean.AddRange(r.Mean);
                logvar.AddRange(r.Logvar);
                at += n;
            }
        }
        Assert.Equal(whole.Mean, mean.ToArray());
        Assert.Equal(whole.Logvar, logvar.ToArray());
        gpu.AssertClean();
    }

    [Theory]
    [InlineData(1, Precision.Fp32)]
    [InlineData(2, Precision.Fp32)]
    [InlineData(3, Precision.Fp32)]
    [InlineData(1, Precision.Fp16)]
    [InlineData(3, Precision.Fp16)]
    public void ChunkedDecodeIsBitIdenticalToWholeClip(int chunk, Precision precision)
    {
        var golden = ReferenceTolerance.Golden("long");
        using var model = GoldenModelTests.LoadGolden(gpu, "long", precision);
        var z = golden.Tensor("mean");
        var latents = z.ToFrameMajor();
        int latentSize = z.C * z.H * z.W;

        VideoFrames whole;
        using (var s = model.OpenDecoder(z.H, z.W)) whole = s.Push(latents, z.T, last: true);

        var frames = new List<float>();
        using (var s = model.OpenDecoder(z.H, z.W))
        {
            for (int at = 0; at < z.T; at += chunk)
            {
                int n = Math.Min(chunk, z.T - at);
                frames.AddRange(s.Push(latents.AsSpan(at * latentSize, n * latentSize), n, last: false).Data);
            }
            frames.AddRange(s.Flush().Data);
        }
        Assert.Equal(whole.Frames * 3 * 32 * 32, frames.Count);
        Assert.Equal(whole.Data, frames.ToArray());
        gpu.AssertClean();
    }
}
