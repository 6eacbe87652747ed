using WfVae.Model.Checkpoint;

namespace WfVae.Cli;

/// <summary>
/// wfvae generate: writes a randomly initialised checkpoint folder (config.json +
/// diffusion_pytorch_model.safetensors with the official key names) for a preset or a config.json, so
/// configs without released weights can be benchmarked and tested. The same config, dtype and seed give
/// the same bytes.
/// </summary>
public static class GenerateCommand
{
    /// <summary>Named configs for --preset.</summary>
    public static IReadOnlyDictionary<string, WfVaeConfig> Presets { get; } = new Dictionary<string, WfVaeConfig>(StringComparer.Ordinal)
    {
        ["wfvae-l-16chn"] = WfVaeConfig.WfVaeL16Chn,
    };

    // Below this many values the file takes a moment to write and progress lines would only be noise.
    private const long ProgressThreshold = 16L << 20;

    internal static int Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        var config = ResolveConfig(o);
        var dtype = ParseDType(o.Get("--dtype") ?? "f32");
        int seed = 0;
        if (o.Get("--seed") is { } s && !int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out seed))
            throw new UsageException($"--seed '{s}' is not a 32-bit integer");
        var output = Path.GetFullPath(o.RequirePath("--output", "generate writes a checkpoint folder"));
        CheckOutputFolder(output, o.Has("--force"));

        var manifest = WeightManifest.For(config);
        long total = manifest.Sum(w => w.ElementCount);
        Action<long, long>? progress = null;
        if (total >= ProgressThreshold && !o.Has("--quiet"))
        {
            int lastTenth = 0;
            progress = (done, all) =>
            {
                int tenth = (int)(10 * done / all);
                if (tenth <= lastTenth) return;
                lastTenth = tenth;
                stderr.WriteLine($"wfvae generate: {10 * tenth}% ({done:N0} of {all:N0} values)");
            };
        }

        RandomCheckpoint.Write(config, output, dtype, seed, progress);

        if (!o.Has("--quiet"))
        {
            long bytes = new FileInfo(Path.Combine(output, CheckpointLocator.DiffusersWeightsName)).Length;
            long learned = WeightManifest.LearnedParameterCount(config, ModelPart.Encoder) + WeightManifest.LearnedParameterCount(config, ModelPart.Decoder);
            stdout.WriteLine($"wrote {output}: {CheckpointLocator.ConfigName} + {CheckpointLocator.DiffusersWeightsName} " +
                $"({manifest.Count} tensors, {learned:N0} learned parameters, {bytes / 1048576.0:F1} MiB, {dtype}, seed {seed})");
            stdout.WriteLine($"config: {config}");
        }
        return 0;
    }

    private static WfVaeConfig ResolveConfig(Options o)
    {
        var preset = o.Get("--preset");
        var configPath = o.Get("--config");
        if ((preset == null) == (configPath == null))
            throw new UsageException("give exactly one of --preset <name> or --config <config.json>");
        if (preset != null)
        {
            return Presets.TryGetValue(preset, out var c)
                ? c
                : throw new UsageException($"unknown preset '{preset}' (presets: {string.Join(", ", Presets.Keys)})");
        }
        // A checkpoint folder is accepted too: its config.json is used.
        if (Directory.Exists(configPath)) configPath = Path.Combine(configPath!, CheckpointLocator.ConfigName);
        return WfVaeConfig.Load(configPath!);
    }

    private static SafetensorsDType ParseDType(string text) => text.ToLowerInvariant() switch
    {
        "f32" or "float32" => SafetensorsDType.F32,
        "f16" or "float16" => SafetensorsDType.F16,
        "bf16" or "bfloat16" => SafetensorsDType.BF16,
        _ => throw new UsageException($"--dtype '{text}' is not supported (use f32, f16 or bf16)"),
    };

    /// <summary>Refuses to write into a file or, without --force, into a folder that already has entries.</summary>
    private static void CheckOutputFolder(string output, bool force)
    {
        if (File.Exists(output))
            throw new IOException($"--output {output} is a file; give a folder for the checkpoint");
        if (!Directory.Exists(output) || force) return;
        int entries = Directory.EnumerateFileSystemEntries(output).Count();
        if (entries > 0)
            throw new IOException($"output folder {output} is not empty ({entries} entries); pass --force to overwrite the checkpoint files in it");
    }
}
