using System.Text.Json;

namespace WfVae.Tests.Reference;

/// <summary>
/// One golden case folder tests/fixtures/golden/&lt;name&gt;/ (see /work/shared/golden/README.md).
/// Deliberately contains its own minimal safetensors parsing (F32/F16 only) so the reference stays
/// independent of the product reader; to be switched to the product reader later.
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
        _model = SafetensorsFile.Load(Path.Combine(folder, "model.safetensors"));
        _io = SafetensorsFile.Load(Path.Combine(folder, "io.safetensors"));
    }

    public static GoldenCase Load(string name) => new(name, Path.Combine(RepoRoot(), "tests", "fixtures", "golden", name));

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "WfVae.Vulkan.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("WfVae.Vulkan.sln not found above " + AppContext.BaseDirectory);
    }

    public float[] Weight(string key) => _model.Get(key).Data;
    public bool HasWeight(string key) => _model.Has(key);

    public bool Has(string name) => _io.Has(name);
    public IEnumerable<string> TensorNames => _io.Names;

    /// <summary>An io tensor [1, C, T, H, W] as a (C, T, H, W) tensor.</summary>
    public CpuTensor Tensor(string name)
    {
        var (shape, data) = _io.Get(name);
        if (shape.Length != 5 || shape[0] != 1) throw new InvalidDataException($"{name}: expected [1,C,T,H,W], got [{string.Join(",", shape)}]");
        return new CpuTensor(shape[1], shape[2], shape[3], shape[4], data);
    }

    private sealed class SafetensorsFile
    {
        private readonly byte[] _bytes;
        private readonly long _dataStart;
        private readonly Dictionary<string, (string Dtype, int[] Shape, long Begin, long End)> _entries = new();

        public IEnumerable<string> Names => _entries.Keys;
        public bool Has(string key) => _entries.ContainsKey(key);

        private SafetensorsFile(byte[] bytes)
        {
            _bytes = bytes;
            long n = BitConverter.ToInt64(bytes, 0);
            _dataStart = 8 + n;
            using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__") continue;
                var off = p.Value.GetProperty("data_offsets");
                _entries[p.Name] = (p.Value.GetProperty("dtype").GetString()!,
                    p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                    off[0].GetInt64(), off[1].GetInt64());
            }
        }

        public static SafetensorsFile Load(string path)
        {
            // The repository may hold a symbolic link as a small text file with the relative target
            // (git without symlink support); follow it.
            var info = new FileInfo(path);
            if (info.Length < 1024)
            {
                var target = File.ReadAllText(path).Trim();
                if (target.EndsWith(".safetensors", StringComparison.Ordinal))
                    return Load(Path.GetFullPath(Path.Combine(info.DirectoryName!, target)));
            }
            return new SafetensorsFile(File.ReadAllBytes(path));
        }

        public (int[] Shape, float[] Data) Get(string key)
        {
            if (!_entries.TryGetValue(key, out var e)) throw new KeyNotFoundException(key);
            long count = e.Shape.Aggregate(1L, (a, b) => a * b);
            var span = _bytes.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin));
            var data = new float[count];
            switch (e.Dtype)
            {
                case "F32":
                    if (span.Length != count * 4) throw new InvalidDataException(key);
                    for (int i = 0; i < count; i++) data[i] = BitConverter.ToSingle(span.Slice(4 * i, 4));
                    break;
                case "F16":
                    if (span.Length != count * 2) throw new InvalidDataException(key);
                    for (int i = 0; i < count; i++) data[i] = (float)BitConverter.ToHalf(span.Slice(2 * i, 2));
                    break;
                default:
                    throw new NotSupportedException($"{key}: dtype {e.Dtype}");
            }
            return (e.Shape, data);
        }
    }
}
