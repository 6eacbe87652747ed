using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;
using WfVae.Tests.Reference;
using Xunit;
using static WfVae.Tests.Streaming.StreamTestKit;

namespace WfVae.Tests.Streaming;

/// <summary>
/// The streaming layer (pipe in, latents out; latents in, frames out) against this engine's whole-clip
/// inference, bit for bit, and against the official golden outputs within the golden tolerances.
/// </summary>
[Collection(Gpu.Stream)]
public sealed class StreamExactnessTests(GpuFixture gpu)
{
    [Fact]
    public async Task LongCaseStreamsAreBitIdenticalToWholeClipAndMatchTheGoldenOutputs()
    {
        var golden = ReferenceTolerance.Golden("long");
        using var model = LoadGolden(gpu, "long");
        var video = golden.Tensor("video");
        var frames = video.ToFrameMajor();
        var whole = model.Encode(new HostTensor(video.Data, 1, 3, video.T, video.H, video.W));
        var wholeMean = whole.Mean.ToFrameMajor(0);
        var wholeLogvar = whole.Logvar.ToFrameMajor(0);

        foreach (int chunk in new[] { 4, 8, 12, 0 })
        {
            var encoder = new StreamingEncoder(model, Planar(video.H, video.W), chunk);
            var chunks = await EncodeAsync(encoder, frames);
            Assert.Equal(wholeMean, Means(chunks));
            Assert.Equal(wholeLogvar, Logvars(chunks));
            // Latents leave as soon as computable: frame 0 alone, then chunk/4 latents per chunk.
            Assert.Equal(chunk == 0 ? new[] { 9 } : new[] { 1 }.Concat(Enumerable.Repeat(chunk / 4, 8 / (chunk / 4))).Concat(8 % (chunk / 4) == 0 ? [] : new[] { 8 % (chunk / 4) }), chunks.Select(c => c.Frames));
            Assert.Equal(33, encoder.Stats!.FramesIn);
            Assert.Equal(0, encoder.Stats.PaddedFrames);
        }
        double meanErr = CpuTensor.RelErr(new CpuTensor(4, 9, 4, 4, whole.Mean.Data), golden.Tensor("mean"));
        Assert.True(meanErr <= ReferenceTolerance.Latent, $"mean rel_err {meanErr:E2}");

        // Decoder: the golden mean, one latent at a time and in chunks, against one whole-clip push.
        var z = golden.Tensor("mean");
        var latents = z.ToFrameMajor();
        var wholeVideo = model.Decode(new HostTensor(z.Data, 1, z.C, z.T, z.H, z.W)).ToFrameMajor(0);
        // One latent at a time (other chunkings: the random-config test; decoding this case costs seconds on lavapipe).
        using (var decoder = new StreamingDecoder(model, z.H, z.W, chunk: 1))
        {
            var (decoded, _) = Decode(decoder, latents, z.T, perPush: 1);
            Assert.Equal(wholeVideo, decoded);
        }
        double decErr = CpuTensor.RelErr(CpuTensor.FromFrameMajor(wholeVideo, 3, 33, 32, 32), golden.Tensor("decoded"));
        Assert.True(decErr <= ReferenceTolerance.Decoded, $"decoded rel_err {decErr:E2}");
        gpu.AssertClean();
    }

    public static TheoryData<string, int, int, int> RandomCases() => new()
    {
        // config, frames, height, width
        { "small", 23, 16, 24 },
        { "nearest", 18, 24, 16 },
    };

    [Theory]
    [MemberData(nameof(RandomCases))]
    public async Task RandomConfigStreamsAreBitIdenticalToWholeClip(string config, int frames, int h, int w)
    {
        using var model = LoadRandom(gpu, config == "small" ? SmallConfig : NearestConfig);
        var video = RandomVideo(frames, h, w, seed: frames);
        int frameElements = 3 * h * w;

        // Whole-clip reference of what the pad policy encodes: the clip with its last group completed by repeats.
        int pad = (4 - (frames - 1) % 4) % 4;
        var padded = video.Concat(Enumerable.Range(0, pad).SelectMany(_ => video[^frameElements..])).ToArray();
        var whole = model.Encode(HostTensor.FromFrameMajor(padded, 3, frames + pad, h, w));
        var wholeMean = whole.Mean.ToFrameMajor(0);

        foreach (int chunk in new[] { 4, 8, 12 })
        {
            var encoder = new StreamingEncoder(model, Planar(h, w), chunk, FramePolicy.Pad);
            var chunks = await EncodeAsync(encoder, video);
            Assert.Equal(wholeMean, Means(chunks));
            Assert.Equal(whole.Logvar.ToFrameMajor(0), Logvars(chunks));
            Assert.Equal(pad, encoder.Stats!.PaddedFrames);
        }

        int t = whole.Mean.T;
        var wholeVideo = model.Decode(whole.Mean).ToFrameMajor(0);
        // (latents per push, latents per Push call): one at a time, chunks fed in other sizes, whole clip.
        foreach (var (chunk, perPush) in new[] { (1, 1), (2, 3), (4, 1), (0, 2) })
        {
            using var decoder = new StreamingDecoder(model, h / 8, w / 8, chunk, frameCount: frames);
            var (decoded, _) = Decode(decoder, wholeMean, t, perPush);
            // The cut keeps exactly the frames that came in: the whole-clip decode of the padded clip, truncated.
            Assert.Equal(wholeVideo[..(frames * frameElements)], decoded);
        }
        gpu.AssertClean();
    }

    [Fact]
    public void DecoderReleasesFramesOnTheScheduleOfTheSpecAndReportsItsDelay()
    {
        foreach (var name in new[] { "long", "nearest" })
        {
            var golden = ReferenceTolerance.Golden(name);
            using var model = LoadGolden(gpu, name);
            var z = golden.Tensor("mean");
            using var decoder = new StreamingDecoder(model, z.H, z.W, chunk: 1);
            bool trilinear = model.Config.TemporalInterpolation == WfVae.Model.Checkpoint.TemporalInterpolation.Trilinear;
            Assert.Equal(trilinear ? 1 : 0, decoder.OutputDelayLatents);
            Assert.Equal(trilinear ? 2 : 0, decoder.HeldBackFrames);

            var (_, chunks) = Decode(decoder, z.ToFrameMajor(), z.T, perPush: 1);
            long released = 0;
            for (int j = 0; j < z.T; j++)
            {
                // Trilinear: latent 0 -> frame 0, latent 1 -> frames 1-2, latent j >= 2 -> frames 4j-5 .. 4j-2 (docs/model.md#decoder-output-schedule).
                int expected = trilinear ? (j == 0 ? 1 : j == 1 ? 2 : 4) : (j == 0 ? 1 : 4);
                Assert.Equal(released, chunks[j].FirstFrame);
                Assert.Equal(expected, chunks[j].Frames);
                released += chunks[j].Frames;
                Assert.Equal(StreamingDecoder.FramesReleased(model.Config, j + 1, ended: false), released);
            }
            Assert.Equal(trilinear ? 2 : 0, chunks[^1].Frames); // the end-of-stream flush
            Assert.Equal(4 * z.T - 3, released + chunks[^1].Frames);
        }
        gpu.AssertClean();
    }
}
