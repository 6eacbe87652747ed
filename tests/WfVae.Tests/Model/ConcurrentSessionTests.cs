using WfVae.Model;
using WfVae.Tests.Streaming;
using Xunit;

namespace WfVae.Tests.Model;

/// <summary>
/// One model, many streams: sessions own their stream state, so encoder and decoder sessions of different clips,
/// pushed at the same time from different threads, each give exactly what the same session gives alone, and the
/// device holds the weights once plus one state per session.
/// </summary>
[Collection(Gpu.Stream)]
public sealed class ConcurrentSessionTests(GpuFixture gpu)
{
    private const int H = 16, W = 24, Frames = 13, Latents = 4;
    private static readonly int[] EncodePushes = [1, 4, 4, 4];

    /// <summary>What one stream yields: latents (mean) of an encode in pushes of 1, 4, 4, 4 frames, and the video of decoding them one latent a push.</summary>
    private sealed class Stream(WfVaeModel model, float[] clip)
    {
        private readonly EncoderSession _enc = model.OpenEncoder(H, W);
        private readonly DecoderSession _dec = model.OpenDecoder(H / 8, W / 8);
        private int _framesIn;
        public readonly List<float> Mean = new(), Video = new();

        /// <summary>Step k: the k-th encoder push and, from the second step on, one decoder push of an earlier latent.</summary>
        public void Step(int k)
        {
            if (k < EncodePushes.Length)
            {
                int n = EncodePushes[k], size = 3 * H * W;
                Mean.AddRange(_enc.Push(clip.AsSpan(_framesIn * size, n * size), n).Mean);
                _framesIn += n;
            }
            if (k >= 1)
            {
                int latent = k - 1, size = Mean.Count / Math.Max(1, _enc.LatentsOut);
                Video.AddRange(latent < Latents
                    ? _dec.Push(Mean.ToArray().AsSpan(latent * size, size), 1, last: false).Data
                    : _dec.Flush().Data);
            }
        }

        public static int Steps => Latents + 2;

        public void Close()
        {
            _enc.Dispose();
            _dec.Dispose();
        }
    }

    private static Stream RunAlone(WfVaeModel model, float[] clip)
    {
        var s = new Stream(model, clip);
        for (int k = 0; k < Stream.Steps; k++) s.Step(k);
        s.Close();
        return s;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void ConcurrentSessionsOfDifferentClipsEachEqualTheirSingleSessionRun(int sessions)
    {
        using var model = StreamTestKit.LoadSmall(gpu);
        var clips = Enumerable.Range(0, sessions).Select(i => StreamTestKit.RandomVideo(Frames, H, W, seed: 300 + i)).ToArray();
        var alone = clips.Select(c => RunAlone(model, c)).ToArray();

        // Every thread makes its k-th push while the others make theirs: pushes of different clips interleave.
        var streams = clips.Select(c => new Stream(model, c)).ToArray();
        using var barrier = new Barrier(sessions);
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = streams.Select(s => new Thread(() =>
        {
            try
            {
                for (int k = 0; k < Stream.Steps; k++)
                {
                    barrier.SignalAndWait();
                    s.Step(k);
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
                barrier.RemoveParticipant(); // the others go on without this thread
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        foreach (var s in streams) s.Close();
        Assert.Empty(errors);

        for (int i = 0; i < sessions; i++)
        {
            Assert.Equal(alone[i].Mean, streams[i].Mean);
            Assert.Equal(alone[i].Video, streams[i].Video);
            Assert.Equal(Frames * 3 * H * W, streams[i].Video.Count);
        }
        // Different clips gave different streams (the comparison above is not between copies of one result).
        Assert.NotEqual(alone[0].Mean, alone[1].Mean);
        gpu.AssertClean();
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void DeviceMemoryOfNSessionsIsTheWeightsPlusNStates(int sessions)
    {
        var memory = gpu.Device.Memory;
        long before = memory.CurrentBytes;
        using var model = StreamTestKit.LoadSmall(gpu);
        Assert.Equal(before + model.WeightBytes, memory.CurrentBytes);

        long OpenAndPush(int count, List<IDisposable> open)
        {
            for (int i = 0; i < count; i++)
            {
                var enc = model.OpenEncoder(H, W);
                var dec = model.OpenDecoder(H / 8, W / 8);
                open.Add(enc);
                open.Add(dec);
                var clip = StreamTestKit.RandomVideo(5, H, W, seed: 400 + i);
                var z = enc.Push(clip.AsSpan(0, 3 * H * W), 1);
                z = enc.Push(clip.AsSpan(3 * H * W), 4);
                dec.Push(z.Mean, 1, last: false);
            }
            return memory.CurrentBytes - before - model.WeightBytes;
        }

        var first = new List<IDisposable>();
        long one = OpenAndPush(1, first);
        var reports = first.OfType<StreamSession>().Select(s => s.Memory).ToArray();
        // A session's state: its caches and queues, its arena's slab and its recorder's scratch (Winograd's transformed tiles).
        Assert.Equal(one, reports.Sum(r => r.CacheBytes + r.PlannedActivationBytes + r.ScratchBytes));
        Assert.True(reports.All(r => r.CacheBytes > 0));
        foreach (var s in first) s.Dispose();
        Assert.Equal(before + model.WeightBytes, memory.CurrentBytes);

        var many = new List<IDisposable>();
        long all = OpenAndPush(sessions, many);
        Assert.Equal(sessions * one, all);
        foreach (var s in many) s.Dispose();
        Assert.Equal(before + model.WeightBytes, memory.CurrentBytes);
        gpu.AssertClean();
    }
}
