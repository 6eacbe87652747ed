using System.Text.Json;
using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Checkpoint;

public sealed class WfVaeCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static IEnumerable<object[]> AllGoldenCases => TestPaths.GoldenCases.Select(c => new object[] { c });

    private static string TinyFolder => TestPaths.Golden("tiny");

    [Theory]
    [MemberData(nameof(AllGoldenCases))]
    public void Every_golden_case_loads_with_its_parameter_counts(string caseName)
    {
        var folder = TestPaths.Golden(caseName);
        using var ckpt = WfVaeCheckpoint.Load(folder);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "case.json")));
        var p = doc.RootElement.GetProperty("parameters");
        var fixedParameters = ckpt.Manifest.Where(s => s.Kind == WeightKind.FixedFilter && !s.IsBuffer).Sum(s => s.ElementCount);
        Assert.Equal(p.GetProperty("encoder").GetInt64() + p.GetProperty("decoder").GetInt64(), ckpt.LearnedParameters + fixedParameters);
        Assert.Equal(p.GetProperty("state_dict_tensors").GetInt32(), ckpt.Shapes.Count);
        Assert.Equal(WfVaeConfig.Load(Path.Combine(folder, "config.json")), ckpt.Config);
        Assert.All(ckpt.Manifest, s => Assert.True(ckpt.IsStored(s.Name)));
        foreach (var spec in ckpt.Manifest)
            Assert.Equal(spec.ElementCount, ckpt.Get(spec.Name).Length);
    }

    [Fact]
    public void Groupnorm_case_stores_f16_weights_and_f32_filters()
    {
        using var ckpt = WfVaeCheckpoint.Load(TestPaths.Golden("groupnorm"));
        Assert.Equal(SafetensorsDType.F16, ckpt.StoredDType("encoder.mid.0.conv1.conv.weight"));
        Assert.Equal(SafetensorsDType.F16, ckpt.StoredDType("decoder.norm_out.weight"));
        Assert.Equal(SafetensorsDType.F32, ckpt.StoredDType("encoder.wavelet_transform_in.h_conv.conv.weight"));
        var w = ckpt.Get("encoder.mid.0.conv1.conv.weight");
        Assert.All(w, v => Assert.Equal(v, (float)(Half)v));
        Assert.Contains(w, v => v != 0f);
        var norm = ckpt.Get("decoder.norm_out.weight");
        Assert.InRange(norm.Average(), 0.9, 1.1);
    }

    [Fact]
    public void Values_are_the_stored_float32_values()
    {
        using var ckpt = WfVaeCheckpoint.Load(TinyFolder);
        using var file = SafetensorsFile.Open(Path.Combine(TinyFolder, "model.safetensors"));
        Assert.Equal(file.ReadFloat32("decoder.conv_out.weight"), ckpt.Get("decoder.conv_out.weight"));
        var destination = new float[ckpt.Shapes["encoder.conv_out.conv.bias"].Aggregate(1L, (a, d) => a * d)];
        ckpt.Read("encoder.conv_out.conv.bias", destination);
        Assert.Equal(file.ReadFloat32("encoder.conv_out.conv.bias"), destination);
        Assert.Throws<KeyNotFoundException>(() => ckpt.Get("encoder.nothing"));
    }

    [Fact]
    public void Weights_hash_is_the_sha256_of_the_file_and_follows_shared_weights()
    {
        using var tiny = WfVaeCheckpoint.Load(TinyFolder);
        Assert.Equal("e91e75161edf2f3d4c31da8890b0224ed2e724de70d706c5f365baf52bf8b5bb", tiny.WeightsHash);
        // image shares tiny's weights through a symbolic link.
        using var image = WfVaeCheckpoint.Load(TestPaths.Golden("image"));
        Assert.Equal(tiny.WeightsHash, image.WeightsHash);
    }

    [Fact]
    public void A_git_symlink_stub_is_followed_but_other_small_files_are_not()
    {
        // Checkouts without symlink support store a link as a text file holding the target path.
        Directory.CreateDirectory(Path.Combine(_dir.Path, "weights"));
        File.Copy(Path.Combine(TinyFolder, "model.safetensors"), Path.Combine(_dir.Path, "weights", "model.safetensors"));
        var caseFolder = Path.Combine(_dir.Path, "case");
        Directory.CreateDirectory(caseFolder);
        File.Copy(Path.Combine(TinyFolder, "config.json"), Path.Combine(caseFolder, "config.json"));
        File.WriteAllText(Path.Combine(caseFolder, "model.safetensors"), "../weights/model.safetensors");
        using (var ckpt = WfVaeCheckpoint.Load(caseFolder))
        {
            Assert.Equal(Path.Combine(_dir.Path, "weights", "model.safetensors"), ckpt.WeightsPath);
            Assert.Equal("e91e75161edf2f3d4c31da8890b0224ed2e724de70d706c5f365baf52bf8b5bb", ckpt.WeightsHash);
        }

        File.WriteAllText(Path.Combine(caseFolder, "model.safetensors"), "../missing/model.safetensors");
        Assert.Throws<SafetensorsFormatException>(() => WfVaeCheckpoint.Load(caseFolder));
    }

    [Fact]
    public void A_single_file_loads_with_the_config_beside_it_or_given_explicitly()
    {
        using (var beside = WfVaeCheckpoint.Load(Path.Combine(TinyFolder, "model.safetensors")))
            Assert.Equal(16, beside.Config.BaseChannels);

        var copy = _dir.File("weights.safetensors");
        File.Copy(Path.Combine(TinyFolder, "model.safetensors"), copy);
        Assert.Throws<FileNotFoundException>(() => WfVaeCheckpoint.Load(copy));
        using (var given = WfVaeCheckpoint.Load(copy, Path.Combine(TinyFolder, "config.json")))
            Assert.Equal(copy, given.WeightsPath);

        // A folder with config.json and exactly one safetensors file of any name.
        File.Copy(Path.Combine(TinyFolder, "config.json"), _dir.File("config.json"));
        using (var folder = WfVaeCheckpoint.Load(_dir.Path))
            Assert.Equal(copy, folder.WeightsPath);
        File.Copy(copy, _dir.File("other.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => WfVaeCheckpoint.Load(_dir.Path));
        Assert.Contains("other.safetensors", e.Message);
    }

    /// <summary>Rewrites tiny's tensors into a temp folder after applying <paramref name="edit"/>.</summary>
    private string WriteEditedTiny(Action<Dictionary<string, (long[] Shape, float[] Data)>> edit, string name = "edited")
    {
        var folder = Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(TinyFolder, "config.json"), Path.Combine(folder, "config.json"));
        var tensors = new Dictionary<string, (long[] Shape, float[] Data)>(StringComparer.Ordinal);
        using (var file = SafetensorsFile.Open(Path.Combine(TinyFolder, "model.safetensors")))
        {
            foreach (var info in file.Tensors.Values)
                tensors[info.Name] = (info.Shape, file.ReadFloat32(info.Name));
        }
        edit(tensors);
        SafetensorsWriter.Write(Path.Combine(folder, "diffusion_pytorch_model.safetensors"),
            tensors.Select(kv => (kv.Key, kv.Value.Shape, (ReadOnlyMemory<float>)kv.Value.Data)));
        return folder;
    }

    [Fact]
    public void Missing_unexpected_and_misshaped_keys_are_reported_together()
    {
        var folder = WriteEditedTiny(t =>
        {
            t.Remove("decoder.mid.0.conv1.conv.weight");
            t["encoder.extra.weight"] = ([3, 2], new float[6]);
            t["encoder.conv_out.conv.bias"] = ([4, 2], new float[8]);
        });
        var e = Assert.Throws<CheckpointException>(() => WfVaeCheckpoint.Load(folder));
        Assert.Equal(3, e.Problems.Count);
        Assert.Contains("missing decoder.mid.0.conv1.conv.weight (expected shape [64, 64, 3, 3, 3])", e.Message);
        Assert.Contains("unexpected encoder.extra.weight (shape [3, 2])", e.Message);
        Assert.Contains("mis-shaped encoder.conv_out.conv.bias: expected shape [8], found [4, 2]", e.Message);
    }

    [Fact]
    public void Absent_fixed_filters_are_built_from_the_constants()
    {
        var folder = WriteEditedTiny(t =>
        {
            foreach (var key in t.Keys.Where(k => k.Contains("wavelet")).ToList()) t.Remove(key);
        });
        using var ckpt = WfVaeCheckpoint.Load(folder);
        const string key = "encoder.wavelet_transform_in.gh_v_conv.conv.weight";
        Assert.False(ckpt.IsStored(key));
        Assert.Null(ckpt.StoredDType(key));
        var k = HaarFilters.Kappa3D;
        Assert.Equal(new[] { k, -k, -k, k, -k, k, k, -k }, ckpt.Get(key));
        Assert.Equal(new long[] { 1, 1, 2, 2, 2 }, ckpt.Shapes[key]);
    }

    [Fact]
    public void Golden_fixed_filters_equal_our_constants()
    {
        using var ckpt = WfVaeCheckpoint.Load(TinyFolder);
        using var file = SafetensorsFile.Open(Path.Combine(TinyFolder, "model.safetensors"));
        foreach (var spec in ckpt.Manifest.Where(s => s.Kind == WeightKind.FixedFilter))
            Assert.Equal(spec.FixedValues(), file.ReadFloat32(spec.Name));
    }

    [Theory]
    [InlineData("encoder.wavelet_transform_in.g_conv.conv.weight", 0.35355339f)] // 1/sqrt(8): close, but not the constant
    [InlineData("decoder.inverse_wavelet_transform_l1.dd", 0.25f)]
    public void A_fixed_filter_with_a_wrong_value_is_refused_naming_the_key(string key, float value)
    {
        var folder = WriteEditedTiny(t => t[key].Data[0] = value);
        var e = Assert.Throws<CheckpointException>(() => WfVaeCheckpoint.Load(folder));
        Assert.Contains(key, e.Message);
        Assert.Single(e.Problems);
    }

    [Fact]
    public void A_module_prefix_is_stripped_only_when_every_key_has_it()
    {
        var all = WriteEditedTiny(t =>
        {
            foreach (var key in t.Keys.ToList()) { t["module." + key] = t[key]; t.Remove(key); }
        }, "all");
        using (var ckpt = WfVaeCheckpoint.Load(all))
            Assert.True(ckpt.IsStored("decoder.conv_out.weight"));

        var partial = WriteEditedTiny(t =>
        {
            t["module.decoder.conv_out.weight"] = t["decoder.conv_out.weight"];
            t.Remove("decoder.conv_out.weight");
        }, "partial");
        var e = Assert.Throws<CheckpointException>(() => WfVaeCheckpoint.Load(partial));
        Assert.Contains("missing decoder.conv_out.weight", e.Message);
        Assert.Contains("unexpected module.decoder.conv_out.weight", e.Message);
    }

    [Fact]
    public void Weights_of_another_config_are_refused()
    {
        var e = Assert.Throws<CheckpointException>(() =>
            WfVaeCheckpoint.Load(Path.Combine(TinyFolder, "model.safetensors"), Path.Combine(TestPaths.Golden("small16"), "config.json")));
        Assert.Contains("mis-shaped", e.Message);
        Assert.Contains("encoder.down1.0.weight", e.Message);
    }

    [Fact]
    public void An_unsupported_config_is_refused_before_the_weights_are_read()
    {
        File.WriteAllText(_dir.File("config.json"), File.ReadAllText(Path.Combine(TinyFolder, "config.json")).Replace("\"layernorm\"", "\"batchnorm\""));
        File.Copy(Path.Combine(TinyFolder, "model.safetensors"), _dir.File("model.safetensors"));
        var e = Assert.Throws<ConfigException>(() => WfVaeCheckpoint.Load(_dir.Path));
        Assert.Contains("batchnorm", e.Message);
    }

    [Fact]
    public void A_damaged_weight_file_is_a_format_error()
    {
        File.Copy(Path.Combine(TinyFolder, "config.json"), _dir.File("config.json"));
        File.WriteAllBytes(_dir.File("model.safetensors"), File.ReadAllBytes(Path.Combine(TinyFolder, "model.safetensors"))[..5000]);
        Assert.Throws<SafetensorsFormatException>(() => WfVaeCheckpoint.Load(_dir.Path));
    }
}
