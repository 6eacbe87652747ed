using WfVae.Model.Checkpoint;

namespace WfVae.Tests.Reference;

/// <summary>
/// One golden case folder tests/fixtures/golden/&lt;name&gt;/ (see tests/fixtures/golden/README.md), read with
/// the product's safetensors reader (itself tested on its own in tests/Checkpoint).
/// </summary>
public sealed class GoldenCase
{
    public string Name { get; }
    public string Folder { get; }
    public string ConfigJson { get; }
    public ReferenceConfig Config => ReferenceConfig.Parse(ConfigJson);
    private readonly SafetensorsFile _model, _io;

    private GoldenCase(string name, string folder)
    {
        Name = name;
        Folder = folder;
        ConfigJson = File.ReadAllText(Path.Combine(folder, "config.json"));
        _model = SafetensorsFile.Open(CheckpointLocator.FollowLinkStub(Path.Combine(folder, "model.safetensors")));
        _io = SafetensorsFile.Open(Path.Combine(folder, "io.safetensors"));
    }

    public static GoldenCase Load(string name) => new(name, Path.Combine(RepoRoot(), "tests", "fixtures", "golden", name));

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "WfVae.Vulkan.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("WfVae.Vulkan.sln not found above " + AppContext.BaseDirectory);
    }

    public float[] Weight(string key) => _model.ReadFloat32(key);
    public bool HasWeight(string key) => _model.Contains(key);

    public bool Has(string name) => _io.Contains(name);
    public IEnumerable<string> TensorNames => _io.Tensors.Keys;

    /// <summary>An io tensor [1, C, T, H, W] as a (C, T, H, W) tensor.</summary>
    public CpuTensor Tensor(string name)
    {
        var shape = _io.Tensors[name].Shape;
        if (shape.Length != 5 || shape[0] != 1) throw new InvalidDataException($"{name}: expected [1,C,T,H,W], got [{string.Join(",", shape)}]");
        return new CpuTensor((int)shape[1], (int)shape[2], (int)shape[3], (int)shape[4], _io.ReadFloat32(name));
    }
}
