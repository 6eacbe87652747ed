using System.IO.Pipelines;
using WfVae.Model;
using WfVae.Streaming;
using Xunit;
using Xunit.Abstractions;
using static WfVae.Tests.Streaming.StreamTestKit;

namespace WfVae.Tests.Streaming;

/// <summary>Bounded memory, backpressure, cancellation and broken input on real System.IO.Pipelines.</summary>
[Collection(Gpu.Stream)]
public sealed class StreamPipelineTests(GpuFixture gpu, ITestOutputHelper log)
{
    private const int H = 16, W = 16, FrameElements = 3 * H * W;

    /// <summary>Encodes then decodes a stream of <paramref name="frames"/> frames; returns (encode, decode) peak device bytes.</summary>
    private async Task<(long Encode, long Decode, long Frames)> RoundTripAsync(WfVaeModel model, int frames)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 8 * 12 * H * W, resumeWriterThreshold: 4 * 12 * H * W));
        // Frames are generated on the fly: the producer holds no more than one frame of the stream either.
        var producer = Task.Run(async () =>
        {
            for (int i = 0; i < frames; i++)
            {
                var frame = RandomVideo(1, H, W, seed: i);
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(frame.AsSpan()).CopyTo(pipe.Writer.GetSpan(4 * FrameElements));
                pipe.Writer.Advance(4 * FrameElements);
                await pipe.Writer.FlushAsync();
            }
            await pipe.Writer.CompleteAsync();
        });
        // Chunks of 12 frames / 3 latents: fewer submissions keep the 1000-frame stream short on lavapipe.
        var encoder = new StreamingEncoder(model, Planar(H, W), chunk: 12);
        using var decoder = new StreamingDecoder(model, H / 8, W / 8, chunk: 3, frameCount: frames);
        long framesOut = 0;
        await foreach (var v in decoder.DecodeAsync(encoder.EncodeAsync(pipe.Reader))) framesOut += v.Frames;
        await producer;
        return (encoder.Stats!.PeakDeviceBytes, decoder.Stats.PeakDeviceBytes, framesOut);
    }

    [Fact]
    public async Task DeviceMemoryDoesNotDependOnStreamLength()
    {
        using var model = LoadSmall(gpu);
        var mem = gpu.Device.Memory;
        long before = mem.CurrentBytes;
        // 33 frames = 9 latents: past the first few pushes every chunk has the steady shape, so the arena
        // and the caches have reached their final size; a longer stream only repeats those pushes.
        var short33 = await RoundTripAsync(model, 33);
        var long1000 = await RoundTripAsync(model, 1000);
        log.WriteLine($"weights {model.WeightBytes:N0} B; peak encode+decode 33 frames: {short33.Encode:N0} B, 1000 frames: {long1000.Encode:N0} B");
        Assert.Equal(33, short33.Frames);
        Assert.Equal(1000, long1000.Frames);
        // Margin: 64 KiB. Both streams reach the steady push shape (12 frames / 3 latents) and only their last
        // pushes are smaller (33 = 1 + 12 + 12 + 8; 1000 = 1 + 12·83 + 3 frames + 1 repeat), which rent no more
        // than a steady push, so the expected difference is zero; the margin only allows for the arena's
        // best-fit reuse picking another free block for those last shapes (measured on lavapipe: 6 KiB more
        // for 1000 frames, from the final 4-frame encoder push and the empty decoder flush). Anything kept per frame would
        // add at least one small frame (3·16·16·4 B = 3 KiB) per 4 frames, over 700 KiB across 1000 frames.
        const long margin = 64 * 1024;
        Assert.InRange(long1000.Encode, short33.Encode - margin, short33.Encode + margin);
        Assert.InRange(long1000.Decode, short33.Decode - margin, short33.Decode + margin);
        Assert.Equal(before, mem.CurrentBytes); // every cache and arena block was given back
        gpu.AssertClean();
    }

    [Fact]
    public async Task AFastProducerIsHeldBackByThePipeAndASlowConsumerPausesTheEncoder()
    {
        using var model = LoadSmall(gpu);
        int frameBytes = 12 * H * W;
        const int pauseFrames = 3, total = 41;
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: pauseFrames * frameBytes, resumeWriterThreshold: frameBytes));
        int flushed = 0;
        var video = RandomVideo(total, H, W, seed: 5);
        var producer = Task.Run(() => ProduceAsync(pipe.Writer, video, FrameElements, flushed: n => Volatile.Write(ref flushed, n)));
        var encoder = new StreamingEncoder(model, Planar(H, W), chunk: 4);
        int latents = 0, maxAhead = 0;
        await foreach (var chunk in encoder.EncodeAsync(pipe.Reader))
        {
            latents += chunk.Frames;
            // The slow consumer: while it holds on to a latent the encoder reads nothing and the producer stalls.
            await Task.Delay(30);
            int consumed = 1 + 4 * (latents - 1); // the encoder reads exactly the frames of the latents it emitted
            maxAhead = Math.Max(maxAhead, Volatile.Read(ref flushed) - consumed);
        }
        await producer;
        log.WriteLine($"producer ran at most {maxAhead} frames ahead of the encoder (pipe pauses at {pauseFrames})");
        Assert.Equal(11, latents);
        // A flush returns once the unconsumed bytes are under the pause threshold, so at most pauseFrames frames
        // wait in the pipe (plus the one being written). Without backpressure the producer would be all 40 ahead.
        Assert.InRange(maxAhead, 0, pauseFrames + 1);
        gpu.AssertClean();
    }

    [Fact]
    public async Task CancellationMidStreamFreesTheDeviceStateAndReleasesTheProducer()
    {
        using var model = LoadSmall(gpu);
        var mem = gpu.Device.Memory;
        long before = mem.CurrentBytes;
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 * 12 * H * W, resumeWriterThreshold: 12 * H * W));
        var producer = Task.Run(() => ProduceAsync(pipe.Writer, RandomVideo(200, H, W, seed: 9), FrameElements));
        using var cts = new CancellationTokenSource();
        var encoder = new StreamingEncoder(model, Planar(H, W), chunk: 4);
        int latents = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in encoder.EncodeAsync(pipe.Reader, cts.Token))
                if ((latents += chunk.Frames) == 3) cts.Cancel();
        });
        Assert.Equal(3, latents);
        await producer.WaitAsync(TimeSpan.FromSeconds(30)); // the completed reader tells the producer to stop
        Assert.Equal(before, mem.CurrentBytes);

        // The model is free again: a new stream runs.
        var again = await EncodeAsync(new StreamingEncoder(model, Planar(H, W), chunk: 4), RandomVideo(5, H, W, seed: 1));
        Assert.Equal(2, again.Sum(c => c.Frames));
        Assert.Equal(before, mem.CurrentBytes);
        gpu.AssertClean();
    }

    [Fact]
    public async Task ATruncatedLastFrameIsAnErrorAfterTheCompletedLatents()
    {
        using var model = LoadSmall(gpu);
        var video = RandomVideo(7, H, W, seed: 3);
        var pipe = new Pipe();
        var producer = Task.Run(() => ProduceAsync(pipe.Writer, video, FrameElements, tail: new byte[100]));
        var encoder = new StreamingEncoder(model, Planar(H, W), chunk: 8);
        var got = new List<LatentFrames>();
        var e = await Assert.ThrowsAsync<InvalidDataException>(async () =>
        {
            await foreach (var c in encoder.EncodeAsync(pipe.Reader)) got.Add(c);
        });
        await producer;
        Assert.Contains("100 bytes after 7 complete frames", e.Message);
        Assert.Contains($"a frame is {12 * H * W} bytes", e.Message);
        // Frames 0-4 completed latents 0 and 1; both arrived before the error, equal to a whole-clip encode of them.
        var whole = model.Encode(HostTensor.FromFrameMajor(video[..(5 * FrameElements)], 3, 5, H, W));
        Assert.Equal(whole.Mean.ToFrameMajor(0), Means(got));
        gpu.AssertClean();
    }

    [Fact]
    public async Task AFailingProducerIsReportedAfterTheCompletedLatents()
    {
        using var model = LoadSmall(gpu);
        var mem = gpu.Device.Memory;
        long before = mem.CurrentBytes;
        var video = RandomVideo(9, H, W, seed: 4);
        var pipe = new Pipe();
        var threeLatents = new TaskCompletionSource();
        // The producer fails once the encoder has read its 9 frames (a Pipe discards bytes still unread when
        // its writer fails, so the failure waits until they were read, as a live source's earlier frames would be).
        var producer = Task.Run(async () =>
        {
            await ProduceAsync(pipe.Writer, video, FrameElements, complete: false);
            await threeLatents.Task;
            await pipe.Writer.CompleteAsync(new TimeoutException("camera unplugged"));
        });
        var encoder = new StreamingEncoder(model, Planar(H, W), chunk: 4);
        var got = new List<LatentFrames>();
        var e = await Assert.ThrowsAsync<IOException>(async () =>
        {
            await foreach (var c in encoder.EncodeAsync(pipe.Reader))
            {
                got.Add(c);
                if (got.Sum(g => g.Frames) == 3) threeLatents.SetResult();
            }
        });
        await producer;
        Assert.IsType<TimeoutException>(e.InnerException);
        Assert.Contains("camera unplugged", e.Message);
        Assert.Contains("after 9 complete frames", e.Message);
        var whole = model.Encode(HostTensor.FromFrameMajor(video, 3, 9, H, W));
        Assert.Equal(whole.Mean.ToFrameMajor(0), Means(got));
        Assert.Equal(before, mem.CurrentBytes);
        gpu.AssertClean();
    }
}
