using WfVae.Operators;
using WfVae.Runtime;
using Xunit;

namespace WfVae.Tests.Runtime;

[Collection(Gpu.Ops)]
public sealed class DeviceTests(GpuFixture gpu)
{
    private static PhysicalDeviceInfo Fake(int index, string name, DeviceKind kind) =>
        new(index, name, kind, 0, 0, "1.3.0", "", 1 << 30, kind == DeviceKind.Cpu, 1 << 27, 32768, 32, true, true, 1, true);

    [Fact]
    public void EnumeratesAtLeastOneDeviceWithAName()
    {
        var devices = VulkanDevice.Enumerate();
        Assert.NotEmpty(devices);
        Assert.All(devices, d => Assert.False(string.IsNullOrWhiteSpace(d.Name)));
        Assert.Equal(Enumerable.Range(0, devices.Count), devices.Select(d => d.Index));
    }

    [Fact]
    public void DefaultSelectionPrefersDiscreteThenIntegratedThenVirtualThenCpu()
    {
        var list = new[] { Fake(0, "llvmpipe", DeviceKind.Cpu), Fake(1, "Intel UHD", DeviceKind.IntegratedGpu), Fake(2, "NVIDIA H100", DeviceKind.DiscreteGpu), Fake(3, "virtio", DeviceKind.VirtualGpu) };
        Assert.Equal(2, VulkanDevice.Select(list, null).Index);
        Assert.Equal(1, VulkanDevice.Select(list.Where(d => d.Index != 2).ToList(), null).Index);
        Assert.Equal(3, VulkanDevice.Select(list.Where(d => d.Index is 0 or 3).ToList(), "").Index);
        Assert.Equal(0, VulkanDevice.Select(list.Take(1).ToList(), null).Index);
    }

    [Fact]
    public void ADeviceWithTooFewWorkgroupInvocationsIsNamedAndRankedLast()
    {
        var small = Fake(0, "Tiny GPU", DeviceKind.DiscreteGpu) with { MaxWorkgroupInvocations = 128 };
        var narrow = Fake(1, "Narrow GPU", DeviceKind.IntegratedGpu) with { MaxWorkgroupSizeX = 192 };
        var cpu = Fake(2, "llvmpipe", DeviceKind.Cpu);
        Assert.Equal("Tiny GPU allows 128 invocations per compute workgroup; the engine's kernels use 256", small.Shortfall);
        Assert.Contains("allows 192 invocations", narrow.Shortfall);
        Assert.Null(cpu.Shortfall);
        Assert.Equal(2, VulkanDevice.Select([small, narrow, cpu], null).Index); // a GPU the engine cannot run on is not the default
        Assert.All(VulkanDevice.Enumerate(), d => Assert.Null(d.Shortfall)); // the real device reports its limits
    }

    [Fact]
    public void SelectsByIndexOrNameSubstringAndNamesTheChoicesOnAMiss()
    {
        var list = new[] { Fake(0, "llvmpipe (LLVM 15)", DeviceKind.Cpu), Fake(1, "AMD Radeon RX 7900", DeviceKind.DiscreteGpu) };
        Assert.Equal(0, VulkanDevice.Select(list, "0").Index);
        Assert.Equal(0, VulkanDevice.Select(list, "LLVMPIPE").Index);
        Assert.Equal(1, VulkanDevice.Select(list, "radeon").Index);
        var e = Assert.Throws<NoVulkanDeviceException>(() => VulkanDevice.Select(list, "geforce"));
        Assert.Contains("geforce", e.Message);
        Assert.Contains("Radeon", e.Message);
        Assert.Throws<NoVulkanDeviceException>(() => VulkanDevice.Select(list, "7"));
        Assert.Throws<NoVulkanDeviceException>(() => VulkanDevice.Select(Array.Empty<PhysicalDeviceInfo>(), null));
    }

    [Fact]
    public void SelectingTheRealDeviceByNameWorks()
    {
        var first = VulkanDevice.Enumerate()[0];
        using var d = VulkanDevice.Create(new DeviceOptions { Selector = first.Name[..Math.Min(6, first.Name.Length)], PipelineCachePath = "" });
        Assert.Contains(first.Name[..Math.Min(6, first.Name.Length)], d.Info.Name);
    }

    [Fact]
    public void UploadDownloadRoundTripsThroughStridedViews()
    {
        AssertRoundTripsThroughStridedViews(gpu.Device);
        gpu.AssertClean();
    }

    /// <summary>Whole tensors, a channel slice and a frame range read back as written; a strided upload writes only its view.</summary>
    internal static void AssertRoundTripsThroughStridedViews(VulkanDevice dev)
    {
        var data = Enumerable.Range(0, 3 * 5 * 4 * 7).Select(i => (float)i - 100.25f).ToArray();
        using var t = dev.Upload(data, c: 5, t: 3, h: 4, w: 7);
        Assert.Equal(data, dev.Download(t));
        // Channels 1..3 of every frame: a strided view.
        var view = t.Channels(1, 3);
        var got = dev.Download(view);
        for (int f = 0; f < 3; f++)
            for (int i = 0; i < 3 * 28; i++)
                Assert.Equal(data[f * 5 * 28 + 28 + i], got[f * 3 * 28 + i]);
        Assert.Equal(data.Skip(2 * 5 * 28).ToArray(), dev.Download(t.Frames(2, 1)));
        dev.Upload(view, Enumerable.Repeat(1f, 3 * 3 * 28).ToArray());
        var after = dev.Download(t);
        for (int i = 0; i < after.Length; i++)
            Assert.Equal(i % (5 * 28) is >= 28 and < 4 * 28 ? 1f : data[i], after[i]);
    }

    private static readonly Lazy<VulkanDevice> SmallBlocks = new(() => VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", BlockBytes = 1 << 20 }));

    [Fact]
    public void ATensorLargerThanABlockGetsABlockOfItsOwnUpToTheBindableRange()
    {
        // 1 MiB blocks stand in for a GPU's 256 MiB ones: a 1080p activation of a wide model passes those.
        // Like GpuFixture's devices, it lives until the test process ends (no teardown while other devices run).
        var dev = SmallBlocks.Value;
        Assert.True(dev.Memory.MaxAllocationBytes > 1 << 20);
        long reserved = dev.Memory.ReservedBytes;
        var data = Enumerable.Range(0, 3 * 2 * 256 * 300).Select(i => (float)(i % 977)).ToArray(); // 1.8 MiB
        var big = dev.Upload(data, 3, 2, 256, 300);
        Assert.True(big.Storage.Size > 1 << 20);
        using (var rec = dev.BeginCommands())
        {
            Elementwise.Add(rec, big, big, big);
            rec.Submit();
        }
        Assert.Equal(data.Select(v => 2 * v).ToArray(), dev.Download(big));
        // Its block goes back with it: kept, it could serve only requests as large.
        big.Dispose();
        Assert.Equal(reserved, dev.Memory.ReservedBytes);
        var e = Assert.Throws<VulkanException>(() => dev.Memory.Allocate(dev.Memory.MaxAllocationBytes + 1));
        Assert.Contains("maxStorageBufferRange", e.Message);
        Assert.Empty(dev.ValidationErrors);
    }

    [Fact]
    public void MemoryAccountingReturnsToItsStartAfterAGraphIsDisposed()
    {
        var dev = gpu.Device;
        long start = dev.Memory.CurrentBytes;
        dev.Memory.ResetPeak();
        using (var arena = new TensorArena(dev))
        {
            var a = arena.Rent(8, 3, 17, 13);
            var b = arena.Rent(8, 3, 17, 13);
            var c = arena.Rent(8, 3, 17, 13);
            using var rec = dev.BeginCommands();
            rec.Zero(a);
            rec.Zero(b);
            Elementwise.Add(rec, a, b, c);
            rec.Submit();
            arena.Return(a);
            var d = arena.Rent(8, 3, 17, 13); // reuses a's memory
            Assert.Equal(a.Storage, d.Storage);
            Assert.True(dev.Memory.CurrentBytes - start >= 3 * 8 * 3 * 17 * 13 * 4);
        }
        Assert.Equal(start, dev.Memory.CurrentBytes);
        Assert.True(dev.Memory.PeakBytes >= start + 3 * 8 * 3 * 17 * 13 * 4);
        gpu.AssertClean();
    }

    [Fact]
    public void ManyDispatchesInOneBatchChainCorrectly()
    {
        // 500 dependent additions in one submission: every one must see the previous result.
        var dev = gpu.Device;
        var ones = Enumerable.Repeat(1f, 2 * 3 * 5 * 7).ToArray();
        using var one = dev.Upload(ones, 3, 2, 5, 7);
        using var acc = dev.Upload(new float[ones.Length], 3, 2, 5, 7);
        using var rec = dev.BeginCommands();
        for (int i = 0; i < 500; i++) Elementwise.Add(rec, acc, one, acc);
        rec.Submit();
        Assert.Equal(1, rec.SubmitCount);
        Assert.Equal(500, rec.DispatchCount);
        Assert.All(dev.Download(acc), v => Assert.Equal(500f, v));
        gpu.AssertClean();
    }

    [Fact]
    public void IndependentDispatchesShareABarrierFreeStretch()
    {
        var dev = gpu.Device;
        using var a = dev.Upload(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        using var b = dev.Upload(new float[] { 10, 20, 30, 40 }, 1, 1, 2, 2);
        using var y1 = dev.CreateTensor(1, 1, 2, 2);
        using var y2 = dev.CreateTensor(1, 1, 2, 2);
        using var rec = dev.BeginCommands();
        Elementwise.Add(rec, a, b, y1);
        Elementwise.Add(rec, b, b, y2);   // independent of the first: no barrier
        int before = rec.BarrierCount;
        Elementwise.Add(rec, y1, y2, y1); // reads both results: a barrier
        rec.Submit();
        Assert.Equal(0, before);
        Assert.Equal(1, rec.BarrierCount);
        Assert.Equal(new float[] { 31, 62, 93, 124 }, dev.Download(y1));
        gpu.AssertClean();
    }

    [Fact]
    public void TimestampsGiveOneTimingPerDispatch()
    {
        var dev = gpu.Device;
        if (!dev.Info.TimestampsSupported) Assert.Fail($"{dev.Info.Name} has no timestamps; this test expects lavapipe or a GPU with them");
        using var a = dev.Upload(new float[64], 1, 1, 8, 8);
        using var rec = dev.BeginCommands(timestamps: true);
        Elementwise.Silu(rec, a, a);
        Elementwise.Add(rec, a, a, a);
        rec.Submit();
        Assert.Equal(new[] { "silu", "add" }, rec.Timings.Select(t => t.Label));
        Assert.All(rec.Timings, t => Assert.True(t.Milliseconds >= 0));
    }
}

[Collection(Gpu.Ops)]
public sealed class ValidationTests(GpuFixture gpu)
{
    [Fact]
    public void ValidationLayersAreActiveInDebugBuildsWhenInstalled()
    {
        bool installed = new[] { "/usr/share/vulkan/explicit_layer.d", "/etc/vulkan/explicit_layer.d", "/usr/local/share/vulkan/explicit_layer.d" }
            .Any(d => File.Exists(Path.Combine(d, "VkLayer_khronos_validation.json")));
        bool requested = Environment.GetEnvironmentVariable(DeviceOptions.ValidationVariable) != "0";
#if DEBUG
        Assert.Equal(installed && requested, gpu.Device.ValidationEnabled);
#else
        Assert.Equal(Environment.GetEnvironmentVariable(DeviceOptions.ValidationVariable) == "1" && installed, gpu.Device.ValidationEnabled);
#endif
    }
}

[Collection(Gpu.Ops)]
public sealed class DisposalTests(GpuFixture gpu)
{
    [Fact]
    public void AModelOnItsOwnDeviceDisposesEveryVulkanObject()
    {
        // Validation layers report objects still alive at vkDestroyDevice/vkDestroyInstance as errors.
        var device = WfVae.Runtime.VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "" });
        bool validated = device.ValidationEnabled;
        var errorsBefore = device.ValidationErrors.Count;
        long start = device.Memory.CurrentBytes;
        using (var model = WfVae.Model.WfVaeModel.Load(TestPaths.Golden("tiny") + "/model.safetensors", device))
        {
            var z = new WfVae.Model.HostTensor(1, 4, 2, 2, 3);
            Assert.Equal(5, model.Decode(z).T);
        }
        Assert.Equal(start, device.Memory.CurrentBytes);
        device.Dispose();
        // Messages raised while the device and instance were destroyed are kept after disposal.
        Assert.Equal(errorsBefore, device.ValidationErrors.Count);
        Assert.True(validated || !gpu.Device.ValidationEnabled, "a fresh device should validate like the shared one");
    }

    [Fact]
    public void DisposedDeviceRefusesWork()
    {
        var device = WfVae.Runtime.VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "" });
        device.Dispose();
        Assert.Throws<ObjectDisposedException>(() => device.CreateTensor(1, 1, 1, 1));
    }

    private static string Tiny => TestPaths.Golden("tiny") + "/model.safetensors";

    /// <summary>Pushes once, disposes the model, then checks the session refuses the next push and disposes quietly.</summary>
    private static void PushAfterModelDisposal(WfVae.Model.WfVaeModel model)
    {
        var frame = new float[3 * 16 * 16];
        var session = model.OpenEncoder(16, 16);
        session.Push(frame, 1);
        var posterior = model.Encode(new WfVae.Model.HostTensor(1, 3, 1, 16, 16));
        model.Dispose();
        Assert.Equal(typeof(WfVae.Model.WfVaeModel).FullName, Assert.Throws<ObjectDisposedException>(() => posterior.Sample(1)).ObjectName);
        var e = Assert.Throws<ObjectDisposedException>(() => session.Push(new float[4 * frame.Length], 4));
        Assert.Equal(typeof(WfVae.Model.WfVaeModel).FullName, e.ObjectName);
        Assert.Throws<ObjectDisposedException>(() => model.OpenDecoder(2, 2));
        session.Dispose();
    }

    [Fact]
    public void ASessionOutlivingAModelThatOwnsItsDeviceRefusesPushesAndDisposesQuietly()
    {
        var model = WfVae.Model.WfVaeModel.LoadOwning(Tiny, new DeviceOptions { PipelineCachePath = "" });
        var device = model.Device;
        int errorsBefore = device.ValidationErrors.Count;
        PushAfterModelDisposal(model);
        // The session's command pool, fence and memory went before the device: vkDestroyDevice found nothing alive.
        Assert.Equal(errorsBefore, device.ValidationErrors.Count);
    }

    [Fact]
    public void ASessionOutlivingAModelOnASharedDeviceRefusesPushesAndGivesBackItsMemory()
    {
        long before = gpu.Device.Memory.CurrentBytes;
        PushAfterModelDisposal(WfVae.Model.WfVaeModel.Load(Tiny, gpu.Device));
        Assert.Equal(before, gpu.Device.Memory.CurrentBytes);
        gpu.AssertClean();
    }

    [Fact]
    public void DescriptorSetsBeyondTheFirstPoolAreFreedThroughTheirOwnPool()
    {
        // Blocks smaller than the tensors: every tensor has a block of its own, released (with its descriptor sets)
        // when the tensor is disposed. More tensors than one pool has sets puts the last set in a second pool; freeing it
        // through the first is invalid usage (a crash on lavapipe, a validation error where the layers catch it).
        using var device = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = "", BlockBytes = 4096 });
        var tensors = Enumerable.Range(0, PipelineLibrary.SetsPerPool + 1).Select(_ => device.CreateTensor(1, 1, 1, 2048)).ToList();
        using (var rec = device.BeginCommands())
        {
            foreach (var t in tensors) Elementwise.Silu(rec, t, t);
            rec.Submit();
        }
        Assert.Equal(2, device.Pipelines.DescriptorPools);
        for (int i = tensors.Count - 1; i >= 0; i--) tensors[i].Dispose();
        Assert.Empty(device.ValidationErrors);
    }
}

[Collection(Gpu.Ops)]
public sealed class PipelineCacheTests
{
    [Fact]
    public void StalePipelineCachesArePrunedAndTheCurrentOneAndOtherFilesKept()
    {
        var dir = Directory.CreateTempSubdirectory("wfvae-usercache-").FullName;
        try
        {
            string P(string n) => Path.Combine(dir, n);
            foreach (var n in new[] { "pipelines-old.bin", "pipelines-old.bin.0a1b2c3d.partial", "pipelines-recent.bin", "pipelines-current.bin", "random-checkpoints.bin" })
                File.WriteAllText(P(n), n);
            var old = DateTime.UtcNow - VulkanDevice.PipelineCacheLifetime - TimeSpan.FromDays(1);
            foreach (var n in new[] { "pipelines-old.bin", "pipelines-old.bin.0a1b2c3d.partial", "pipelines-current.bin", "random-checkpoints.bin" })
                File.SetLastWriteTimeUtc(P(n), old);
            UserCache.PruneStale(dir, "pipelines-*", VulkanDevice.PipelineCacheLifetime, keep: P("pipelines-current.bin"));
            Assert.Equal(["pipelines-current.bin", "pipelines-recent.bin", "random-checkpoints.bin"],
                Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order().ToArray());
            UserCache.PruneStale(P("missing"), "pipelines-*.bin", TimeSpan.Zero, keep: P("missing/x.bin")); // no folder yet: nothing to do
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void TheUserCacheFollowsXdgCacheHomeElseTheSystemDefault()
    {
        Assert.Equal(Path.Combine("/x/cache", "wfvae"), UserCache.Resolve("/x/cache", "/home/u/.cache"));
        Assert.Equal(Path.Combine("/home/u/.cache", "wfvae"), UserCache.Resolve(null, "/home/u/.cache"));
        Assert.Equal(Path.Combine("/home/u/.cache", "wfvae"), UserCache.Resolve("", "/home/u/.cache"));
        if (!OperatingSystem.IsWindows() && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("XDG_CACHE_HOME")))
            Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "wfvae"), UserCache.Folder);
    }

    [Fact]
    public void ThePipelineCacheIsSavedOnDisposeAndReadBack()
    {
        var dir = Directory.CreateTempSubdirectory("wfvae-cache-");
        try
        {
            var path = Path.Combine(dir.FullName, "sub", "pipelines.bin");
            using (var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = path }))
            {
                using var a = d.Upload(new float[] { 1, 2 }, 1, 1, 1, 2);
                using var rec = d.BeginCommands();
                Elementwise.Silu(rec, a, a);
                rec.Submit();
                Assert.Equal(1, d.Pipelines.Count);
            }
            Assert.True(new FileInfo(path).Length > 0);
            // A second device starts from the saved blob; a corrupt blob is ignored rather than fatal.
            using (var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = path })) Assert.Equal(0, d.Pipelines.Count);
            File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
            using (var d = VulkanDevice.Create(new DeviceOptions { PipelineCachePath = path }))
            {
                using var a = d.Upload(new float[] { -1 }, 1, 1, 1, 1);
                using var rec = d.BeginCommands();
                Elementwise.Silu(rec, a, a);
                rec.Submit();
                Assert.Equal(-1 / (1 + MathF.E), d.Download(a)[0], 5);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

/// <summary>Dispatches only bind: after the first use of a pipeline and a descriptor set nothing is allocated per dispatch.</summary>
[Collection(Gpu.Ops)]
public sealed class DispatchAllocationTests(GpuFixture gpu)
{
    [Fact]
    public void RecordingADispatchAllocatesNothing()
    {
        var d = gpu.Device;
        using var a = d.Upload(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 1, 1, 3);
        using var y = d.CreateTensor(2, 1, 1, 3);
        using var w = ConvWeights.Upload(d, new float[] { 1, 0, 0, 1 }, [], 2, 2, 1, 1, 1);
        using var z = d.CreateTensor(2, 1, 1, 3);
        using var rec = d.BeginCommands();
        void Record(int n)
        {
            for (int i = 0; i < n; i++)
            {
                Elementwise.Add(rec, a, a, y);
                Conv.Forward(rec, null, y, w, z, label: "identity");
            }
        }
        Record(4); // first use: pipelines, descriptor sets, JIT
        rec.Submit();
        Record(4);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Record(200);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        rec.Submit();
        Assert.Equal(0, allocated);
        Assert.Equal(new float[] { 2, 4, 6, 8, 10, 12 }, d.Download(z));
        gpu.AssertClean();
    }
}
