using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace WfVae.Runtime;

/// <summary>
/// Compiles the shaders a push is about to run on every core at once, for CPU drivers that compile a shader when it
/// first runs. llvmpipe (lavapipe) creates a pipeline in milliseconds and compiles its shader with LLVM at the first
/// dispatch, on the device's single queue thread, so a cold first push would compile its shaders one after another
/// (docs/performance.md, "Cold start"). Here the device's own queue and one extra device per further core take the
/// pipelines from one queue, longest compiles first, and compile each by a dispatch of no workgroups with the dry run's
/// bindings and push constants. Mesa keeps what an extra device compiles in its shader disk cache, where the
/// device's first real dispatch finds it. Devices that compile in vkCreateComputePipelines (GPUs) are left alone.
/// </summary>
internal static class FirstDispatchCompiler
{
    /// <summary>Compiles the pipelines of <paramref name="candidates"/> that a dry run used and nothing dispatched yet.</summary>
    public static void Run(VulkanDevice device, IEnumerable<ComputePipeline> candidates)
    {
        if (!CompilesAtFirstDispatch(device.Info) || device.Options.ParallelCompile == false) return;
        var todo = candidates.Where(p => !p.Started && p.FirstUse != null).ToList();
        if (todo.Count == 0) return;
        todo.Sort((a, b) => CompileCost(b).CompareTo(CompileCost(a)));
        var queue = new ConcurrentQueue<ComputePipeline>(todo);
        // Without Mesa's disk cache the device would compile the extra devices' shares again: its own queue only.
        int workers = MesaDiskCacheOff() ? 1 : Math.Clamp(Environment.ProcessorCount, 1, todo.Count);
        var clock = Stopwatch.StartNew();
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            try
            {
                if (w == 0) Drain(device, device, queue, p => p);
                else DrainOnExtraDevice(device, queue);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Only a head start, never a reason for a push to fail (a host may lack the resources for an extra
                // device, a driver may refuse an empty dispatch): the real dispatch compiles whatever this missed.
                device.Log($"wfvae: a parallel shader compile worker stopped: {e.GetType().Name}: {e.Message}");
            }
        });
        if (device.Verbose)
            device.Log($"wfvae: compiled {todo.Count} shaders before the first push on {workers} queue(s) in {clock.ElapsedMilliseconds} ms");
    }

    /// <summary>
    /// Order of the queue, most expensive first so that the last shaders to finish are short ones: LLVM's time goes into
    /// the unrolled accumulator tiles (TM x TN outputs per invocation, e.g. conv_texel and the pointwise kernel at about
    /// 2 s each on lavapipe 22.3, where the other shaders take 0.03-0.6 s) or, for families without a tile, what their
    /// declaration says (<see cref="ShaderFamily.CompileWeight"/>: attention, 2.4 s on Mesa 25), then grows with the
    /// module's size.
    /// </summary>
    private static long CompileCost(ComputePipeline p)
    {
        var names = p.Kernel.Family.Specialization.ToList();
        int tm = names.IndexOf("TM"), tn = names.IndexOf("TN");
        var spec = p.Specialization;
        long tile = tm >= 0 && tn >= 0 && tm < spec.Length && tn < spec.Length ? (long)spec[tm] * spec[tn] : 0;
        return (Math.Max(tile, p.Kernel.Family.CompileWeight) << 32) + p.Kernel.Spirv().Length;
    }

    /// <summary>Mesa's CPU driver (lavapipe): compiles at first dispatch and caches the result on disk.</summary>
    internal static bool CompilesAtFirstDispatch(PhysicalDeviceInfo info) =>
        info.Kind == DeviceKind.Cpu && info.Name.StartsWith("llvmpipe", StringComparison.Ordinal);

    private static bool MesaDiskCacheOff() =>
        Environment.GetEnvironmentVariable("MESA_SHADER_CACHE_DISABLE") is { } v
        && (v == "1" || v.Equals("true", StringComparison.OrdinalIgnoreCase));

    private static void DrainOnExtraDevice(VulkanDevice device, ConcurrentQueue<ComputePipeline> queue)
    {
        if (queue.IsEmpty) return;
        var options = device.Options with
        {
            Selector = device.Info.Index.ToString(CultureInfo.InvariantCulture),
            Validation = false, Verbose = false, Log = null, PipelineCachePath = "", ParallelCompile = false,
            BlockBytes = 1 << 20,
        };
        // Disposing the device (its instance) waits until Mesa has written what it compiled to the disk cache.
        using var extra = VulkanDevice.Create(options);
        Drain(extra, device, queue, p => extra.Pipelines.Get(p.Kernel, p.Specialization));
    }

    /// <summary>
    /// Takes pipelines from the queue until it is empty; each is compiled by its own empty dispatch on
    /// <paramref name="device"/> (with <paramref name="owner"/>'s --verbose, one line per shader and its compile time).
    /// </summary>
    private static void Drain(VulkanDevice device, VulkanDevice owner, ConcurrentQueue<ComputePipeline> queue, Func<ComputePipeline, ComputePipeline> onDevice)
    {
        var dummies = new Dictionary<int, GpuTensor>();
        try
        {
            using var rec = device.BeginCommands();
            while (queue.TryDequeue(out var original))
            {
                original.Started = true; // compiled now, here or into the disk cache
                var (push, elementBytes) = original.FirstUse!.Value;
                var pipeline = onDevice(original);
                var bindings = new Binding[pipeline.Bindings];
                for (int i = 0; i < bindings.Length; i++)
                {
                    if (!dummies.TryGetValue(elementBytes[i], out var t)) dummies[elementBytes[i]] = t = device.CreateTensor(1, 1, 1, 64, elementBytes[i]);
                    bindings[i] = new Binding(t, pipeline.Kinds[i] == BindingKind.Storage, pipeline.Kinds[i]);
                }
                long start = Stopwatch.GetTimestamp();
                rec.RecordEmpty(pipeline, bindings, push);
                rec.Submit();
                if (owner.Verbose)
                    owner.Log($"wfvae: compiled {pipeline.Name} [{string.Join(",", pipeline.Specialization.ToArray())}] in {Stopwatch.GetElapsedTime(start).TotalMilliseconds:F0} ms{(device == owner ? "" : " on an extra device")}");
            }
        }
        finally
        {
            foreach (var t in dummies.Values) t.Dispose();
        }
    }
}
