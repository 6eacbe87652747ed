using WfVae.Cli;
using WfVae.Model;
using WfVae.Runtime;
using WfVae.Tests.Streaming;
using Xunit;

namespace WfVae.Tests.Model;

/// <summary>The lifetime-based memory plan: packing, bounds, reuse across chunks, exactness, and its report.</summary>
[Collection(Gpu.Stream)]
public sealed class MemoryPlanTests(GpuFixture gpu)
{
    private const long Align = 256;

    [Fact]
    public void PlannedTensorsThatLiveTogetherNeverOverlapAndStayInsideOneSegment()
    {
        // Random lifetimes of aligned sizes; segments of 8 KiB force tensors to skip segment ends.
        var rng = new Random(5);
        var tensors = new List<(long Bytes, int Start, int End)>();
        int clock = 0;
        var live = new List<int>();
        for (int i = 0; i < 60; i++)
        {
            tensors.Add((Align * rng.Next(1, 20), clock++, -1));
            live.Add(i);
            while (live.Count > 0 && rng.Next(3) == 0)
            {
                int k = live[rng.Next(live.Count)];
                tensors[k] = tensors[k] with { End = clock++ };
                live.Remove(k);
            }
        }
        foreach (int k in live) tensors[k] = tensors[k] with { End = clock++ };

        const long segment = 8192;
        var plan = MemoryPlan.Build(tensors, segment);
        for (int i = 0; i < tensors.Count; i++)
        {
            long a = plan.Offsets[i], b = a + tensors[i].Bytes;
            Assert.Equal(a / segment, (b - 1) / segment);
            Assert.True(b <= plan.SlabBytes);
            for (int j = i + 1; j < tensors.Count; j++)
            {
                bool together = tensors[i].Start < tensors[j].End && tensors[j].Start < tensors[i].End;
                long c = plan.Offsets[j], d = c + tensors[j].Bytes;
                Assert.False(together && a < d && c < b, $"tensors {i} and {j} live together and overlap");
            }
        }
        Assert.True(plan.SlabBytes >= plan.LiveSetBytes);
        Assert.True(plan.LargestPair.First + plan.LargestPair.Second <= plan.LiveSetBytes);
    }

    [Fact]
    public void AChainOfTensorsNeedsOnlyTheTwoLargestLiveOnes()
    {
        // x0 -> x1 -> x2 ...: each step has its input and output live, so the slab is the largest pair.
        var tensors = new List<(long, int, int)>();
        long[] sizes = { 4, 16, 8, 32, 8, 4 };
        for (int i = 0; i < sizes.Length; i++) tensors.Add((sizes[i] * Align, 2 * i, 2 * i + 3));
        var plan = MemoryPlan.Build(tensors, 1L << 30);
        Assert.Equal((32 + 8) * Align, plan.LiveSetBytes);
        Assert.Equal((32 * Align, 8 * Align), plan.LargestPair);
        Assert.Equal(plan.LiveSetBytes, plan.SlabBytes);
    }

    [Fact]
    public void ChunkedStreamsFollowOnePlanNearTheLiveSetWithoutGrowingAndStayBitExact()
    {
        using var model = StreamTestKit.LoadSmall(gpu);
        const int size = 16, frames = 29; // 1 + 7 chunks of 4
        var video = StreamTestKit.RandomVideo(frames, size, size, seed: 3);
        int frameSize = 3 * size * size;

        LatentFrames whole;
        using (var s = model.OpenEncoder(size, size)) whole = s.Push(video, frames);

        var mean = new List<float>();
        long heldAfterThird = 0;
        using (var s = model.OpenEncoder(size, size))
        {
            for (int at = 0, push = 0; at < frames; push++)
            {
                int n = at == 0 ? 1 : 4;
                mean.AddRange(s.Push(video.AsSpan(at * frameSize, n * frameSize), n).Mean);
                at += n;
                if (push == 2) heldAfterThird = gpu.Device.Memory.CurrentBytes;
            }
            var m = s.Memory;
            AssertPlanBound(m);
            // Pushes 3..7 repeat push 2's tensor sequence: they follow its plan and allocate nothing.
            Assert.True(m.PlannedPushes >= 5, $"{m.PlannedPushes} of {m.Pushes} pushes followed a plan");
            Assert.Equal(heldAfterThird, gpu.Device.Memory.CurrentBytes);
            Assert.Equal(model.WeightBytes, m.WeightBytes);
            Assert.True(m.CacheBytes > 0);
        }
        Assert.Equal(whole.Mean, mean.ToArray());

        // Decoder: one latent per push; the steady pushes follow a plan and the frames equal the whole clip's.
        int t = whole.Frames, lh = size / 8, latentSize = 4 * lh * lh;
        VideoFrames wholeVideo;
        using (var s = model.OpenDecoder(lh, lh)) wholeVideo = s.Push(whole.Mean, t, last: true);
        var decoded = new List<float>();
        using (var s = model.OpenDecoder(lh, lh))
        {
            for (int i = 0; i < t; i++) decoded.AddRange(s.Push(whole.Mean.AsSpan(i * latentSize, latentSize), 1, last: false).Data);
            decoded.AddRange(s.Flush().Data);
            var m = s.Memory;
            AssertPlanBound(m);
            Assert.True(m.PlannedPushes >= t - 3, $"{m.PlannedPushes} of {m.Pushes} pushes followed a plan");
        }
        Assert.Equal(wholeVideo.Data, decoded.ToArray());
        gpu.AssertClean();
    }

    [Fact]
    public void AWholeClipIsPlannedByADryRunAndNeedsOnlyItsLiveSet()
    {
        using var model = StreamTestKit.LoadSmall(gpu);
        const int size = 16, frames = 17;
        var video = StreamTestKit.RandomVideo(frames, size, size, seed: 5);
        LatentFrames latents;
        using (var s = model.OpenEncoder(size, size))
        {
            latents = s.Push(video, frames);
            var m = s.Memory;
            // The single push followed the plan of its dry run: activations never exceeded the live set.
            Assert.Equal(1, m.PlannedPushes);
            Assert.Equal(m.LiveSetBytes, m.PeakActivationBytes);
            AssertPlanBound(m);
        }
        int lh = size / 8;
        using (var s = model.OpenDecoder(lh, lh))
        {
            var video2 = s.Push(latents.Mean, latents.Frames, last: true);
            var m = s.Memory;
            Assert.Equal(1, m.PlannedPushes);
            Assert.Equal(m.LiveSetBytes, m.PeakActivationBytes);
            Assert.Equal(frames, video2.Frames);
        }
        // The dry run changes nothing in the results: a second whole-clip run gives the same bits.
        using (var s = model.OpenEncoder(size, size)) Assert.Equal(latents.Mean, s.Push(video, frames).Mean);
        gpu.AssertClean();
    }

    [Fact]
    public void ADiscardingRecorderRecordsAndRunsNothing()
    {
        var d = gpu.Device;
        using var x = d.Upload(new float[] { 1, 2, 3, 4 }, 1, 1, 1, 4);
        using var y = d.Upload(new float[] { 9, 9, 9, 9 }, 1, 1, 1, 4);
        using var rec = d.BeginCommands();
        rec.Discarding = true;
        rec.Copy(x, y);
        WfVae.Operators.Elementwise.Add(rec, x, x, y);
        rec.Submit();
        Assert.Equal(0, rec.DispatchCount);
        Assert.Equal(0, rec.SubmitCount);
        Assert.Equal(new float[] { 9, 9, 9, 9 }, d.Download(y));
        rec.Discarding = false;
        rec.Copy(x, y);
        Assert.Throws<InvalidOperationException>(() => rec.Discarding = true); // only between submissions
        rec.Submit();
        Assert.Equal(new float[] { 1, 2, 3, 4 }, d.Download(y));
        gpu.AssertClean();
    }

    /// <summary>The planned slab is within 1.25x of the live set (plus one alignment) and never below it.</summary>
    private static void AssertPlanBound(MemoryReport m)
    {
        Assert.True(m.LiveSetBytes > 0);
        Assert.True(m.PlannedActivationBytes >= m.LiveSetBytes);
        Assert.True(m.PlannedActivationBytes <= 1.25 * m.LiveSetBytes + Align,
            $"planned {m.PlannedActivationBytes} bytes for a live set of {m.LiveSetBytes}");
        Assert.True(m.LargestLiveBytes >= m.SecondLargestLiveBytes && m.LargestLiveBytes + m.SecondLargestLiveBytes <= m.LiveSetBytes);
    }

    [Fact]
    public void InfoWithAFrameSizePrintsTheMemoryPlan()
    {
        var folder = StreamTestKit.RandomFolder(StreamTestKit.SmallConfig);
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(new[] { "info", "--model", folder, "--height", "16", "--width", "24", "--chunk", "8" }, o, e);
        Assert.True(code == 0, e.ToString());
        var text = o.ToString();
        Assert.Contains("plan for 24x16 frames in chunks of 8 frames (2 latents), measured by pushing zeros", text);
        Assert.Matches(@"encoder:  caches \d+\.\d MiB, activations \d+\.\d MiB planned \(live set \d+\.\d MiB; two largest live", text);
        Assert.Matches(@"decoder:  caches \d+\.\d MiB, activations", text);
        Assert.Contains("per-chunk peak:", text);

        Assert.Equal(2, CommandLine.Run(new[] { "info", "--model", folder, "--height", "16" }, o, e));
        Assert.Equal(2, CommandLine.Run(new[] { "info", "--model", folder, "--height", "12", "--width", "16" }, o, e));
    }
}
