using WfVae.Model;
using WfVae.Model.Layers;
using WfVae.Runtime;
using WfVae.Streaming;
using Xunit;
using static WfVae.Tests.Streaming.StreamTestKit;

namespace WfVae.Tests.Streaming;

/// <summary>End of stream (docs/model.md#end-of-stream): image mode, streams that are not 1 + 4k frames, pad and drop.</summary>
[Collection(Gpu.Stream)]
public sealed class StreamEndTests(GpuFixture gpu)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public async Task StreamsRoundTripToTheRightFrameCount(int frames)
    {
        using var model = LoadSmall(gpu);
        const int h = 16, w = 16, fe = 3 * h * w;
        var video = RandomVideo(frames, h, w, seed: 100 + frames);
        int rho = (frames - 1) % 4;

        // Pad (default): every input frame comes back; the last group was completed with repeats.
        var pad = new StreamingEncoder(model, Planar(h, w), chunk: 4);
        var padded = await EncodeAsync(pad, video);
        int t = padded.Sum(c => c.Frames);
        Assert.Equal((frames + 2) / 4 + 1, t);
        Assert.Equal(rho == 0 ? 0 : 4 - rho, pad.Stats!.PaddedFrames);
        Assert.Equal(0, pad.Stats.DroppedFrames);
        Assert.Equal(frames, pad.Stats.FramesIn);
        using (var decoder = new StreamingDecoder(model, h / 8, w / 8, chunk: 1, frameCount: frames))
        {
            var (decoded, _) = Decode(decoder, Means(padded), t, perPush: 1);
            Assert.Equal(frames * fe, decoded.Length);
            Assert.Equal(frames, decoder.Stats.FramesOut);
        }

        // Drop (official): the incomplete group is left out and reported; its latents are a prefix of pad's (causality).
        var drop = new StreamingEncoder(model, Planar(h, w), chunk: 4, FramePolicy.Drop);
        var dropped = await EncodeAsync(drop, video);
        int td = dropped.Sum(c => c.Frames);
        Assert.Equal((frames - 1) / 4 + 1, td);
        Assert.Equal(rho, drop.Stats!.DroppedFrames);
        Assert.Equal(0, drop.Stats.PaddedFrames);
        Assert.Equal(Means(padded)[..Means(dropped).Length], Means(dropped));
        var whole = model.Encode(HostTensor.FromFrameMajor(video, 3, frames, h, w));
        Assert.Equal(whole.Mean.ToFrameMajor(0), Means(dropped));
        using (var decoder = new StreamingDecoder(model, h / 8, w / 8, chunk: 1))
        {
            var (decoded, _) = Decode(decoder, Means(dropped), td, perPush: 1);
            Assert.Equal((frames - rho) * fe, decoded.Length);
        }
        gpu.AssertClean();
    }

    /// <summary>
    /// GroupNorm statistics span the clip, and the official encoder's include the level-1 frame that frames 4k+1
    /// and 4k+2 of an incomplete last group make: drop leaves their latent out, not their part in the statistics.
    /// </summary>
    [Theory]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(12)]
    public async Task GroupNormDropKeepsTheIncompleteGroupInTheStatistics(int frames)
    {
        using var model = LoadGolden(gpu, "groupnorm");
        const int h = 32, w = 32;
        int rho = (frames - 1) % 4, kept = frames - rho;
        var video = RandomVideo(frames, h, w, seed: 300 + frames);
        var drop = new StreamingEncoder(model, Planar(h, w), chunk: 0, FramePolicy.Drop);
        var dropped = Means(await EncodeAsync(drop, video));
        Assert.Equal(rho, drop.Stats!.DroppedFrames);

        var whole = model.Encode(HostTensor.FromFrameMajor(video, 3, frames, h, w)).Mean;
        Assert.Equal(kept / 4 + 1, whole.T);
        Assert.Equal(whole.ToFrameMajor(0), dropped);
        // Frame 4k+1 alone makes no level-1 frame; with 4k+2 it does, and the statistics move.
        var cut = model.Encode(HostTensor.FromFrameMajor(video[..(kept * 3 * h * w)], 3, kept, h, w)).Mean.ToFrameMajor(0);
        if (rho == 1) Assert.Equal(cut, dropped);
        else Assert.NotEqual(cut, dropped);
        gpu.AssertClean();
    }

    [Fact]
    public void APushThatEndsTheStreamSkipsTheCacheUpdatesAndYieldsTheSameFrames()
    {
        using var model = LoadSmall(gpu);
        const int h = 16, w = 16;
        var latents = model.Encode(HostTensor.FromFrameMajor(RandomVideo(9, h, w, seed: 5), 3, 9, h, w)).Mean;
        var z = latents.ToFrameMajor(0);

        using var ending = model.OpenDecoder(h / 8, w / 8, profile: true);
        var once = ending.Push(z, latents.T, last: true);
        using var open = model.OpenDecoder(h / 8, w / 8, profile: true);
        var first = open.Push(z, latents.T, last: false);
        var firstPush = open.Timings.ToList();
        var rest = open.Flush();

        Assert.Equal(once.Data, first.Data.Concat(rest.Data).ToArray());
        static int CacheCopies(IEnumerable<WfVae.Runtime.DispatchTiming> push) => push.Count(t => t.Label.EndsWith(".cache"));
        int endingCopies = CacheCopies(ending.Timings), openCopies = CacheCopies(firstPush);
        Assert.True(endingCopies < openCopies, $"cache copies: {endingCopies} in the ending push, {openCopies} in the same push left open");
        gpu.AssertClean();
    }

    [Fact]
    public void OutputThatOverflowsFp16IsRefusedNamingThePrecision()
    {
        // The small random model with its decoder's last conv scaled up 1e6: frames far above fp16's 65504.
        var folder = Path.Combine(Path.GetTempPath(), $"wfvae-overflow-{Environment.ProcessId}");
        try
        {
            ScaledCopy(RandomFolder(SmallConfig), folder, "decoder.conv_out", 1e6f);
            const int h = 16, w = 16;
            using var fp32 = WfVaeModel.Load(folder, gpu.Device, precision: WfVae.Runtime.Precision.Fp32);
            var z = fp32.Encode(HostTensor.FromFrameMajor(RandomVideo(5, h, w, seed: 9), 3, 5, h, w)).Mean;
            var frames = fp32.Decode(z).Data;
            Assert.True(NonFinite.IndexIn(frames) < 0);
            Assert.True(frames.Max(Math.Abs) > 65504, "the scaled model should leave fp16's range");

            using var fp16 = WfVaeModel.Load(folder, gpu.Device, precision: WfVae.Runtime.Precision.Fp16);
            using var s = fp16.OpenDecoder(h / 8, w / 8);
            var e = Assert.Throws<OverflowException>(() => s.Push(z.ToFrameMajor(0), z.T, last: true));
            Assert.Contains("decoder produced", e.Message);
            Assert.Contains("--precision fp32", e.Message);
            var again = Assert.Throws<InvalidOperationException>(() => s.Flush());
            Assert.Contains("failed in an earlier push", again.Message);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        gpu.AssertClean();
    }

    /// <summary>Throws at the decoder's last tap once armed: after the push grew the frame queue, before it is submitted.</summary>
    private sealed class FailingTap : ITapSink
    {
        public bool Armed;

        public void Tap(StreamContext ctx, string name, GpuTensor value)
        {
            if (Armed && name == "dec.conv_out") throw new InvalidOperationException("tap failed");
        }
    }

    [Fact]
    public void APushThatFailsBeforeItsSubmissionLeavesNoDeviceMemoryOnceTheSessionIsDisposed()
    {
        using var model = LoadSmall(gpu);
        long before = gpu.Device.Memory.CurrentBytes;
        var tap = new FailingTap();
        var z = new float[4 * model.Config.LatentDim * 2 * 2];
        using (var s = model.OpenDecoder(2, 2, tap))
        {
            s.Push(z.AsSpan(0, z.Length / 4), 1, last: false);
            tap.Armed = true;
            // Three latents outgrow the frame queue: its old buffers wait for a submission that never comes.
            Assert.Throws<InvalidOperationException>(() => s.Push(z.AsSpan(z.Length / 4), 3, last: false));
        }
        Assert.Equal(before, gpu.Device.Memory.CurrentBytes);
        gpu.AssertClean();
    }

    [Fact]
    public void NonFiniteValuesPushedThroughTheModelApiAreRefusedByFrameAndPosition()
    {
        using var model = LoadSmall(gpu);
        const int h = 16, w = 16;
        var video = RandomVideo(5, h, w, seed: 3);
        video[3 * h * w + 2 * h * w + 5 * w + 7] = float.PositiveInfinity; // frame 1, channel 2, row 5, column 7
        using var s = model.OpenEncoder(h, w);
        var e = Assert.Throws<ArgumentException>(() => s.Push(video, 5));
        Assert.Contains("pushed video frame 1 holds +inf at channel 2, row 5, column 7", e.Message);
        gpu.AssertClean();
    }

    /// <summary>Copies a checkpoint folder with the weights of the layers under <paramref name="prefix"/> multiplied by <paramref name="factor"/>.</summary>
    private static void ScaledCopy(string from, string to, string prefix, float factor)
    {
        Directory.CreateDirectory(to);
        using var ckpt = WfVae.Model.Checkpoint.WfVaeCheckpoint.Load(from);
        var tensors = ckpt.Manifest.Where(spec => ckpt.IsStored(spec.Name)).Select(spec =>
        {
            var v = ckpt.Get(spec.Name);
            if (spec.Name.StartsWith(prefix + ".") && spec.Name.EndsWith("weight"))
                for (int i = 0; i < v.Length; i++) v[i] *= factor;
            return (spec.Name, ckpt.Shapes[spec.Name], (ReadOnlyMemory<float>)v);
        }).ToList();
        WfVae.Model.Checkpoint.SafetensorsWriter.Write(Path.Combine(to, "diffusion_pytorch_model.safetensors"), tensors);
        File.Copy(ckpt.ConfigPath, Path.Combine(to, "config.json"), overwrite: true);
    }

    [Fact]
    public async Task ImageModeMatchesTheGoldenImageCase()
    {
        var golden = Reference.ReferenceTolerance.Golden("image");
        using var model = LoadGolden(gpu, "image");
        var video = golden.Tensor("video");
        var encoder = new StreamingEncoder(model, Planar(video.H, video.W), chunk: 4);
        var chunks = await EncodeAsync(encoder, video.ToFrameMajor());
        Assert.Single(chunks);
        var mean = new Reference.CpuTensor(4, 1, video.H / 8, video.W / 8, chunks[0].Mean);
        Assert.True(Reference.CpuTensor.RelErr(mean, golden.Tensor("mean")) <= Reference.ReferenceTolerance.Latent);
        using var decoder = new StreamingDecoder(model, video.H / 8, video.W / 8, chunk: 1, frameCount: 1);
        var (decoded, parts) = Decode(decoder, chunks[0].Mean, 1, perPush: 1);
        Assert.Equal(1, parts[0].Frames); // the single frame leaves with its latent
        Assert.Equal(3 * video.H * video.W, decoded.Length);
        gpu.AssertClean();
    }

    [Fact]
    public void GroupNormModelsStreamOnlyWholeClips()
    {
        using var model = LoadGolden(gpu, "groupnorm");
        var e = Assert.Throws<NotSupportedException>(() => new StreamingEncoder(model, Planar(32, 32), chunk: 4));
        Assert.Contains("GroupNorm", e.Message);
        Assert.Throws<NotSupportedException>(() => new StreamingDecoder(model, 4, 4, chunk: 1));
        _ = new StreamingEncoder(model, Planar(32, 32), chunk: 0);
        using var whole = new StreamingDecoder(model, 4, 4, chunk: 0);
        gpu.AssertClean();
    }

    [Fact]
    public void BadChunkSizesAndFrameSizesAreRefused()
    {
        using var model = LoadSmall(gpu);
        Assert.Contains("multiple of 4", Assert.Throws<ArgumentException>(() => new StreamingEncoder(model, Planar(16, 16), chunk: 6)).Message);
        Assert.Throws<ArgumentException>(() => new StreamingEncoder(model, Planar(16, 16), chunk: -4));
        Assert.Contains("multiple of 8", Assert.Throws<ArgumentException>(() => new StreamingEncoder(model, Planar(12, 16), chunk: 4)).Message);
        Assert.Throws<ArgumentException>(() => new StreamingDecoder(model, 2, 2, chunk: -1));
    }

    [Fact]
    public void Rgb24MapsBytesAsTheOfficialPreprocessingAndBack()
    {
        var f = new RawFrameFormat(RawPixelFormat.Rgb24, 16, 16);
        var bytes = Enumerable.Range(0, f.FrameBytes).Select(i => (byte)(i * 7)).ToArray();
        var floats = new float[f.FrameElements];
        f.ToModel(bytes, floats);
        Assert.Equal(bytes[3 * 5 + 1] / 255f * 2f - 1f, floats[256 + 5]); // pixel 5, green: planar [3][H][W]
        Assert.Equal(-1f, new[] { 0 }.Select(b => b / 255f * 2f - 1f).Single());
        var back = new byte[f.FrameBytes];
        f.FromModel(floats, back);
        Assert.Equal(bytes, back);
        Assert.Equal(16 * 16 * 12, new RawFrameFormat(RawPixelFormat.PlanarFloat32, 16, 16).FrameBytes);
    }
}
