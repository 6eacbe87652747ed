using System.Security.Cryptography;

namespace WfVae.Model.Checkpoint;

/// <summary>
/// A WF-VAE checkpoint validated against <see cref="WeightManifest"/>: every learned key present with
/// its exact shape, no unexpected keys, fixed filters (if stored) equal to the constants. Weights stay
/// in the memory-mapped file and are converted to float32 on request, so loading the 1.27 GB L model
/// costs no copy until the engine uploads a tensor.
/// </summary>
public sealed class WfVaeCheckpoint : IDisposable
{
    private readonly ITensorFile _file;
    private readonly Dictionary<string, WeightSpec> _specs;
    private readonly Dictionary<string, string> _storedNames; // manifest name -> name in the file
    private readonly Lazy<string> _hash;

    public WfVaeConfig Config { get; }
    public string WeightsPath => _file.Path;
    public string ConfigPath { get; }
    public IReadOnlyList<WeightSpec> Manifest { get; }

    /// <summary>Shape of every manifest key, fixed filters included even when the file omits them.</summary>
    public IReadOnlyDictionary<string, long[]> Shapes { get; }

    public long LearnedParameters { get; }

    /// <summary>SHA-256 (lowercase hex) of the weight file's bytes; computed on first use.</summary>
    public string WeightsHash => _hash.Value;

    private WfVaeCheckpoint(ITensorFile file, WfVaeConfig config, string configPath,
        IReadOnlyList<WeightSpec> manifest, Dictionary<string, string> storedNames)
    {
        _file = file;
        Config = config;
        ConfigPath = configPath;
        Manifest = manifest;
        _specs = manifest.ToDictionary(s => s.Name, StringComparer.Ordinal);
        _storedNames = storedNames;
        Shapes = manifest.ToDictionary(s => s.Name, s => (long[])s.Shape.Clone(), StringComparer.Ordinal);
        LearnedParameters = manifest.Where(s => s.Kind == WeightKind.Learned).Sum(s => s.ElementCount);
        _hash = new Lazy<string>(() => HashFile(file.Path), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <param name="modelPath">A folder (config.json + diffusion_pytorch_model.safetensors, model.safetensors,
    /// or a single *.safetensors) or a .safetensors file.</param>
    /// <param name="configPath">Overrides the config.json next to the weights.</param>
    public static WfVaeCheckpoint Load(string modelPath, string? configPath = null)
    {
        var (weightsPath, resolvedConfig) = CheckpointLocator.Resolve(modelPath, configPath);
        var config = WfVaeConfig.Load(resolvedConfig);
        var manifest = WeightManifest.For(config);
        var file = TensorFiles.Open(weightsPath);
        try
        {
            var storedNames = CheckpointValidator.Validate(file, config, resolvedConfig, manifest);
            return new WfVaeCheckpoint(file, config, resolvedConfig, manifest, storedNames);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public bool Contains(string key) => _specs.ContainsKey(key);

    /// <summary>Whether the file stores this key (fixed filters may be absent and are then built from constants).</summary>
    public bool IsStored(string key) => _storedNames.ContainsKey(key);

    /// <summary>The stored element type, or null for a fixed filter the file omits.</summary>
    public SafetensorsDType? StoredDType(string key) =>
        _storedNames.TryGetValue(RequireKey(key).Name, out var stored) ? _file.Tensors[stored].DType : null;

    /// <summary>A fresh float32 host copy of the tensor (read from the memory map, converted from F16/BF16).</summary>
    public float[] Get(string key)
    {
        var spec = RequireKey(key);
        if (!_storedNames.TryGetValue(key, out var stored)) return spec.FixedValues();
        var values = _file.ReadFloat32(stored);
        RequireFinite(stored, values);
        return values;
    }

    /// <summary>Converts the tensor into <paramref name="destination"/> (exactly its element count).</summary>
    public void Read(string key, Span<float> destination)
    {
        var spec = RequireKey(key);
        if (_storedNames.TryGetValue(key, out var stored))
        {
            _file.ReadFloat32(stored, destination);
            RequireFinite(stored, destination);
            return;
        }
        var values = spec.FixedValues();
        if (destination.Length != values.Length)
            throw new ArgumentException($"'{key}' has {values.Length} elements but the destination holds {destination.Length}.", nameof(destination));
        values.CopyTo(destination);
    }

    /// <summary>A NaN or infinite weight would make every output NaN (or black) without an error: refused by name.</summary>
    private void RequireFinite(string stored, ReadOnlySpan<float> values)
    {
        int bad = NonFinite.IndexIn(values);
        if (bad >= 0)
            throw new CheckpointException($"Checkpoint '{WeightsPath}': weight '{stored}' holds {NonFinite.Name(values[bad])} at element {bad}; the file is damaged.");
    }

    private WeightSpec RequireKey(string key) =>
        _specs.TryGetValue(key, out var spec)
            ? spec
            : throw new KeyNotFoundException($"'{key}' is not a weight of {Config} (checkpoint '{WeightsPath}').");

    private static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public void Dispose() => _file.Dispose();
}
