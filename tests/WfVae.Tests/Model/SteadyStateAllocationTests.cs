using WfVae.Model;
using WfVae.Tests.Streaming;
using Xunit;

namespace WfVae.Tests.Model;

/// <summary>
/// A live stream's pushes allocate no managed memory once warm, beyond the output they hand back: otherwise a long
/// stream piles up garbage the collector may leave for a long time (the soak's host memory slope, docs/performance.md).
/// Allocation bounds in bytes, counted on the pushing thread; no timing.
/// </summary>
[Collection(Gpu.Stream)]
public sealed class SteadyStateAllocationTests(GpuFixture gpu)
{
    private const int H = 16, W = 24, Warm = 3, Measured = 20;

    /// <summary>
    /// Bytes a push may allocate besides its output arrays. Optimised engine code (Release): the LatentFrames or
    /// VideoFrames record and small change, so one view, closure or list per push exceeds it. Unoptimised code (the
    /// Debug suite) also allocates a RuntimeFieldInfoStub for every constant span it builds (about 1.9 KB per encoder
    /// push and 3.8 KB per decoder push of this model), which the optimising JIT does not; the bound then leaves room
    /// for those, and still catches an allocation per dispatch or per tensor (the default model at 64x64 allocated 20 KB per
    /// encoder push before, Release).
    /// </summary>
    private static readonly long SlackPerPush =
        typeof(WfVae.Runtime.TensorArena).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            .OfType<System.Diagnostics.DebuggableAttribute>().Any(d => d.IsJITOptimizerDisabled) ? 6144 : 160;

    [Fact]
    public void EncoderPushesThatRecycleTheirLatentsAllocateOnlyTheResultRecord()
    {
        using var model = StreamTestKit.LoadSmall(gpu);
        var video = StreamTestKit.RandomVideo(1 + 4 * (Warm + Measured), H, W, seed: 77);
        int fe = 3 * H * W;
        using var recycled = model.OpenEncoder(H, W);
        using var fresh = model.OpenEncoder(H, W);
        var last = recycled.Push(video.AsSpan(0, fe), 1);
        fresh.Push(video.AsSpan(0, fe), 1);
        long allocated = 0;
        for (int i = 0; i < Warm + Measured; i++)
        {
            var chunk = video.AsSpan((1 + 4 * i) * fe, 4 * fe);
            var expected = fresh.Push(chunk, 4);
            var mean = last.Mean;
            long before = GC.GetAllocatedBytesForCurrentThread();
            last = recycled.Push(chunk, 4, recycle: last);
            if (i >= Warm) allocated += GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Same(mean, last.Mean); // the arrays were reused, and hold this push's latents
            Assert.Equal(expected.Mean, last.Mean);
            Assert.Equal(expected.Logvar, last.Logvar);
        }
        Assert.True(allocated <= Measured * SlackPerPush, $"{allocated} bytes in {Measured} pushes ({allocated / Measured} per push)");
        gpu.AssertClean();
    }

    [Fact]
    public void DecoderPushesAllocateOnlyTheirVideoFrames()
    {
        using var model = StreamTestKit.LoadSmall(gpu);
        int l = model.Config.LatentDim, lh = H / 8, lw = W / 8;
        var rng = new Random(78);
        var latents = new float[(Warm + Measured + 1) * l * lh * lw];
        for (int i = 0; i < latents.Length; i++) latents[i] = (float)(rng.NextDouble() * 2 - 1);
        using var session = model.OpenDecoder(lh, lw);
        int le = l * lh * lw;
        session.Push(latents.AsSpan(0, le), 1, last: false);
        long allocated = 0, output = 0;
        for (int i = 1; i <= Warm + Measured; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var v = session.Push(latents.AsSpan(i * le, le), 1, last: false);
            long after = GC.GetAllocatedBytesForCurrentThread();
            if (i <= Warm) continue;
            allocated += after - before;
            output += v.Data.Length * sizeof(float);
            Assert.Equal(4, v.Frames);
        }
        Assert.True(allocated - output <= Measured * SlackPerPush,
            $"{allocated - output} bytes besides the {output} bytes of frames in {Measured} pushes");
        gpu.AssertClean();
    }
}
