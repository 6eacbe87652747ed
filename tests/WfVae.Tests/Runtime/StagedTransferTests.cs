using WfVae.Model;
using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Model;
using WfVae.Tests.Reference;
using Xunit;

namespace WfVae.Tests.Runtime;

/// <summary>
/// The discrete-GPU transfer path: device memory the host never maps, every upload and download a copy through a
/// staging buffer recorded in the batch. CI has only a CPU driver, whose memory is mapped by default, so these tests
/// force the path with <see cref="DeviceOptions.StagedTransfers"/> and compare it with the mapped device bit for bit.
/// </summary>
[Collection(Gpu.Stream)]
public sealed class StagedTransferTests(GpuFixture gpu, StagedTransferTests.StagedDevice staged) : IClassFixture<StagedTransferTests.StagedDevice>
{
    /// <summary>The staged device; like GpuFixture's devices it lives until the test process ends.</summary>
    public sealed class StagedDevice
    {
        public VulkanDevice Device { get; } = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", StagedTransfers = true });
    }

    private VulkanDevice Dev => staged.Device;

    [Fact]
    public void DeviceMemoryIsNotMappedWhenTransfersAreStaged()
    {
        Assert.False(Dev.Memory.MapsDeviceMemory);
        using var t = Dev.CreateTensor(3, 2, 5, 7);
        Assert.False(t.Storage.HostVisible);
    }

    [Fact]
    public void UploadDownloadRoundTripThroughStagingAndStridedViews() => DeviceTests.AssertRoundTripsThroughStridedViews(Dev);

    [Fact]
    public void Fp16TensorsRoundAndWidenThroughStagingLikeMappedMemory()
    {
        var rng = new Random(7);
        var data = Enumerable.Range(0, 2 * 3 * 9 * 5).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray();
        // Halves' edges: subnormals, the largest half, values that round to it or overflow to infinity, ties.
        float[] edges = [6e-8f, -3e-6f, 6.1e-5f, 65504f, 65519f, 65520f, -1e6f, 1.00048828125f, 0f, -0f];
        edges.CopyTo(data, 11);
        using var s = Dev.Upload(data, 3, 2, 9, 5, Precision.Fp16);
        using var m = gpu.Device.Upload(data, 3, 2, 9, 5, Precision.Fp16);
        var expected = data.Select(v => (float)(Half)v).ToArray();
        Assert.Equal(expected, Dev.Download(s));
        Assert.Equal(expected, gpu.Device.Download(m));
    }

    [Fact]
    public void OneBatchUploadsComputesAndDownloadsWithOneSubmission()
    {
        long before = Dev.Memory.CurrentBytes;
        var a = Enumerable.Range(0, 2 * 3 * 5 * 7).Select(i => i * 0.5f).ToArray();
        var b = Enumerable.Range(0, a.Length).Select(i => 1000f - i).ToArray();
        using var ta = Dev.CreateTensor(3, 2, 5, 7);
        using var tb = Dev.CreateTensor(3, 2, 5, 7);
        using var tc = Dev.CreateTensor(3, 2, 5, 7);
        using var rec = Dev.BeginCommands();
        rec.Upload(ta, a);
        rec.Upload(tb, b);
        Elementwise.Add(rec, ta, tb, tc);
        using var result = rec.Download(tc);
        var early = Assert.Throws<InvalidOperationException>(() => result.ToArray());
        Assert.Contains("before its batch was submitted", early.Message);
        rec.Submit();
        Assert.Equal(1, rec.SubmitCount);
        Assert.Equal(a.Zip(b, (x, y) => x + y).ToArray(), result.ToArray());
        Assert.Throws<ArgumentException>(() => rec.Upload(ta, new float[3]));

        // A download given up before its batch ran: its staging goes back only after the batch.
        var dropped = rec.Download(tc);
        rec.Zero(ta);
        dropped.Dispose();
        rec.Submit();
        result.Dispose();
        ta.Dispose(); tb.Dispose(); tc.Dispose();
        Assert.Equal(before, Dev.Memory.CurrentBytes);
    }

    [Fact]
    public void StreamedEncodeAndDecodeOnStagedMemoryEqualTheMappedDeviceBitForBit()
    {
        var golden = ReferenceTolerance.Golden("long");
        var video = golden.Tensor("video");
        var frames = video.ToFrameMajor();
        int frameSize = 3 * video.H * video.W;
        using var mapped = GoldenModelTests.LoadGolden(gpu, "long");
        using var onStaged = GoldenModelTests.LoadGolden(Dev, "long");

        LatentFrames whole;
        using (var s = mapped.OpenEncoder(video.H, video.W)) whole = s.Push(frames, video.T);
        var mean = new List<float>();
        using (var s = onStaged.OpenEncoder(video.H, video.W))
            for (int at = 0, n = 1; at < video.T; at += n, n = Math.Min(4, video.T - at))
                mean.AddRange(s.Push(frames.AsSpan(at * frameSize, n * frameSize), n).Mean);
        Assert.Equal(whole.Mean, mean.ToArray());

        int latentSize = whole.Mean.Length / whole.Frames;
        VideoFrames decoded;
        using (var s = mapped.OpenDecoder(video.H / 8, video.W / 8)) decoded = s.Push(whole.Mean, whole.Frames, last: true);
        var streamed = new List<float>();
        using (var s = onStaged.OpenDecoder(video.H / 8, video.W / 8))
        {
            for (int at = 0; at < whole.Frames; at += 2)
            {
                int n = Math.Min(2, whole.Frames - at);
                streamed.AddRange(s.Push(whole.Mean.AsSpan(at * latentSize, n * latentSize), n, last: false).Data);
            }
            streamed.AddRange(s.Flush().Data);
        }
        Assert.Equal(decoded.Data, streamed.ToArray());
        Assert.Empty(Dev.ValidationErrors);
        gpu.AssertClean();
    }
}
