using WfVae.Cli;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Cli;

/// <summary>wfvae generate: random checkpoint folders that info and the model loader accept.</summary>
[Collection(Gpu.Apps)]
public sealed class GenerateCommandTests(GpuFixture gpu) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-generate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly WfVaeConfig Small = WfVaeConfig.Create(baseChannels: 8, latentDim: 3, encoderEnergyFlowHiddenSize: 12,
        decoderEnergyFlowHiddenSize: 20, encoderNumResBlocks: 1, decoderNumResBlocks: 1, useAttention: false,
        temporalInterpolation: TemporalInterpolation.Nearest);

    private string WriteConfig()
    {
        var path = Path.Combine(_dir, "small.json");
        File.WriteAllText(path, Small.ToJson());
        return path;
    }

    [Fact]
    public void GeneratedCheckpointPassesInfoAndLoads()
    {
        var output = Path.Combine(_dir, "ckpt");
        var gen = Run("generate", "--config", WriteConfig(), "--output", output, "--dtype", "f16", "--seed", "11");
        Assert.True(gen.Code == 0, gen.Err);
        Assert.Contains("F16", gen.Out);
        Assert.Equal("", gen.Err); // small checkpoints print no progress
        Assert.True(File.Exists(Path.Combine(output, "config.json")));
        Assert.True(File.Exists(Path.Combine(output, "diffusion_pytorch_model.safetensors")));

        var info = Run("info", "--model", output);
        Assert.True(info.Code == 0, info.Err);
        Assert.Contains("base_channels=8 latent_dim=3 encoder_energy_flow_hidden_size=12 decoder_energy_flow_hidden_size=20", info.Out);
        Assert.Contains("use_attention=false", info.Out);

        using (var ckpt = WfVaeCheckpoint.Load(output))
        {
            Assert.Equal(Small, ckpt.Config);
            Assert.Equal(SafetensorsDType.F16, ckpt.StoredDType("decoder.conv_in.conv.weight"));
            Assert.Equal(SafetensorsDType.F32, ckpt.StoredDType("encoder.wavelet_transform_in.h_conv.conv.weight"));
        }
        using var model = WfVaeModel.Load(output, gpu.Device);
        var decoded = model.Decode(new HostTensor(new float[3 * 2 * 2 * 2], 1, 3, 2, 2, 2));
        Assert.Equal(new long[] { 1, 3, 5, 16, 16 }, decoded.Shape);
        Assert.All(decoded.Data, v => Assert.True(float.IsFinite(v)));
        gpu.AssertClean();
    }

    [Fact]
    public void SameSeedGivesTheSameBytesAndANonEmptyFolderNeedsForce()
    {
        var config = WriteConfig();
        var a = Path.Combine(_dir, "a");
        var b = Path.Combine(_dir, "b");
        Assert.Equal(0, Run("generate", "--config", config, "--output", a, "--seed", "5", "--quiet").Code);
        Assert.Equal(0, Run("generate", "--config", config, "--output", b, "--seed", "5", "--quiet").Code);
        var weights = "diffusion_pytorch_model.safetensors";
        Assert.Equal(File.ReadAllBytes(Path.Combine(a, weights)), File.ReadAllBytes(Path.Combine(b, weights)));

        var before = File.ReadAllBytes(Path.Combine(a, weights));
        var refused = Run("generate", "--config", config, "--output", a, "--seed", "6");
        Assert.Equal(1, refused.Code);
        Assert.Contains("not empty", refused.Err);
        Assert.Contains("--force", refused.Err);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(a, weights)));

        var forced = Run("generate", "--config", config, "--output", a, "--seed", "6", "--force");
        Assert.True(forced.Code == 0, forced.Err);
        Assert.NotEqual(before, File.ReadAllBytes(Path.Combine(a, weights)));
        Assert.Empty(Directory.GetFiles(a, "*.partial"));
    }

    [Fact]
    public void BadArgumentsAreOneLineErrors()
    {
        var output = Path.Combine(_dir, "x");
        var badConfig = Path.Combine(_dir, "bad.json");
        File.WriteAllText(badConfig, Small.ToJson().Replace("\"layernorm\"", "\"groupnorm\""));
        var cases = new[]
        {
            (Run("generate", "--output", output), 2, "--preset"),
            (Run("generate", "--preset", "wfvae-l-16chn", "--config", WriteConfig(), "--output", output), 2, "exactly one"),
            (Run("generate", "--preset", "wfvae-xl", "--output", output), 2, "wfvae-l-16chn"),
            (Run("generate", "--config", WriteConfig(), "--output", output, "--dtype", "f64"), 2, "f64"),
            (Run("generate", "--config", WriteConfig(), "--output", output, "--seed", "abc"), 2, "abc"),
            (Run("generate", "--config", badConfig, "--output", output), 1, "groupnorm"), // a bad config file is bad input
            (Run("generate", "--config", Path.Combine(_dir, "missing.json"), "--output", output), 1, "missing.json"),
            (Run("generate", "--config", WriteConfig()), 2, "--output"),
        };
        foreach (var ((code, _, err), expectedCode, mention) in cases)
        {
            Assert.Equal(expectedCode, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.StartsWith("wfvae generate:", err);
            Assert.Contains(mention, err);
        }
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void ThePresetIsTheReleasedLConfig()
    {
        var l = GenerateCommand.Presets["wfvae-l-16chn"];
        Assert.Equal(WfVaeConfig.WfVaeL16Chn, l);
        // 317,081,244 learned parameters, as the released model (docs/model.md#checkpoint).
        Assert.Equal(317_081_244, WeightManifest.LearnedParameterCount(l, ModelPart.Encoder) + WeightManifest.LearnedParameterCount(l, ModelPart.Decoder));
    }

    [Fact]
    public void ProgressIsReportedForBigCheckpoints()
    {
        var calls = new List<(long Done, long Total)>();
        RandomCheckpoint.Write(Small, Path.Combine(_dir, "p"), progress: (d, t) => calls.Add((d, t)));
        long total = WeightManifest.For(Small).Sum(s => s.ElementCount);
        Assert.Equal(WeightManifest.For(Small).Count, calls.Count);
        Assert.All(calls, c => Assert.Equal(total, c.Total));
        Assert.Equal(total, calls[^1].Done);
        Assert.True(calls.Zip(calls.Skip(1)).All(p => p.First.Done < p.Second.Done));
    }
}
