using System.Text;

namespace WfVae.Model.Checkpoint;

/// <summary>
/// Writes a complete checkpoint (config.json + diffusion_pytorch_model.safetensors) with random weights
/// initialised like PyTorch's defaults, for tests and benchmarks of configs without released weights.
/// </summary>
public static class RandomCheckpoint
{
    // Each chunk has its own generator seeded from (seed, tensor name, chunk index), so the output does
    // not depend on thread count, scheduling or the order tensors are written in.
    private const int ChunkElements = 1 << 16;

    /// <summary>
    /// Writes the checkpoint into <paramref name="folder"/> (created if needed; the two files are replaced
    /// atomically). <paramref name="progress"/>, when given, is called after each tensor is generated with
    /// (values generated so far, total values), so a caller can report on multi-gigabyte checkpoints.
    /// </summary>
    public static void Write(WfVaeConfig config, string folder, SafetensorsDType dtype = SafetensorsDType.F32, int seed = 0,
        Action<long, long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(folder);
        if (dtype is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
            throw new ArgumentException($"Random weights can be stored as F32, F16 or BF16, not {dtype}.", nameof(dtype));
        config.Validate();

        var manifest = WeightManifest.For(config);
        var specs = manifest.ToDictionary(s => s.Name, StringComparer.Ordinal);
        Directory.CreateDirectory(folder);

        // One reusable buffer the size of the largest tensor: the file is streamed, never held whole.
        var buffer = new float[manifest.Max(s => s.ElementCount)];
        long total = manifest.Sum(s => s.ElementCount), done = 0;
        // Fixed filters stay F32: their constant 0.3536 is not representable in F16/BF16.
        var layout = manifest.Select(s => (s.Name, s.Shape, s.Kind == WeightKind.FixedFilter ? SafetensorsDType.F32 : dtype));
        SafetensorsWriter.WriteStreaming(
            Path.Combine(folder, CheckpointLocator.DiffusersWeightsName),
            layout,
            name =>
            {
                var values = Fill(specs[name], buffer, seed);
                done += values.Length;
                progress?.Invoke(done, total);
                return values;
            },
            new Dictionary<string, string> { ["format"] = "pt" });

        WfVae.IO.OutputFile.WriteAllText(Path.Combine(folder, CheckpointLocator.ConfigName), config.ToJson());
    }

    private static ReadOnlyMemory<float> Fill(WeightSpec spec, float[] buffer, int seed)
    {
        int count = checked((int)spec.ElementCount);
        var target = buffer.AsMemory(0, count);
        if (spec.Kind == WeightKind.FixedFilter)
        {
            spec.FixedValues().CopyTo(target);
            return target;
        }

        ulong tensorSeed = unchecked((ulong)(uint)seed * 0x9E3779B97F4A7C15UL) ^ Fnv1a(spec.Name);
        // PyTorch's default for Conv: kaiming_uniform(a=sqrt 5) gives bound 1/sqrt(fan_in), and the bias uses the same bound.
        float bound = spec.FanIn > 0 ? (float)(1.0 / Math.Sqrt(spec.FanIn)) : 0f;
        int chunks = (count + ChunkElements - 1) / ChunkElements;
        Parallel.For(0, chunks, chunk =>
        {
            ulong state = tensorSeed + (ulong)chunk;
            var rng = new Xoshiro256(Xoshiro256.SplitMix64(ref state));
            int start = chunk * ChunkElements;
            var span = buffer.AsSpan(start, Math.Min(ChunkElements, count - start));
            switch (spec.Role)
            {
                case WeightRole.ConvWeight or WeightRole.ConvBias:
                    rng.FillUniform(span, -bound, 2f * bound);
                    break;
                // Norm affine parameters perturbed away from (1, 0) so a swapped weight/bias shows, as in the golden data.
                case WeightRole.NormWeight:
                    for (int i = 0; i < span.Length; i++) span[i] = 1f + 0.1f * rng.NextGaussian();
                    break;
                case WeightRole.NormBias:
                    for (int i = 0; i < span.Length; i++) span[i] = 0.1f * rng.NextGaussian();
                    break;
                default:
                    throw new InvalidOperationException($"No initialiser for '{spec.Name}' ({spec.Role}).");
            }
        });
        return target;
    }

    private static ulong Fnv1a(string text)
    {
        ulong hash = 0xCBF29CE484222325UL;
        foreach (char ch in text)
        {
            hash ^= ch;
            hash *= 0x100000001B3UL;
        }
        return hash;
    }

}
