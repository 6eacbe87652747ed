using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Checkpoint;

public sealed class RandomCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly WfVaeConfig Small = WfVaeConfig.Create(
        baseChannels: 8, latentDim: 4, encoderEnergyFlowHiddenSize: 8, decoderEnergyFlowHiddenSize: 16,
        encoderNumResBlocks: 1, decoderNumResBlocks: 1);

    private string Folder(string name) => Path.Combine(_dir.Path, name);

    private static byte[] Weights(string folder) => File.ReadAllBytes(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));

    [Fact]
    public void Written_checkpoint_loads_back_with_every_key()
    {
        RandomCheckpoint.Write(Small, Folder("a"), seed: 7);
        using var ckpt = WfVaeCheckpoint.Load(Folder("a"));
        Assert.Equal(Small, ckpt.Config);
        Assert.All(ckpt.Manifest, s => Assert.True(ckpt.IsStored(s.Name)));
        Assert.Equal(WeightManifest.LearnedParameterCount(Small, ModelPart.Encoder) + WeightManifest.LearnedParameterCount(Small, ModelPart.Decoder),
            ckpt.LearnedParameters);
    }

    [Fact]
    public void Same_seed_gives_identical_bytes_and_another_seed_does_not()
    {
        RandomCheckpoint.Write(Small, Folder("a"), seed: 3);
        RandomCheckpoint.Write(Small, Folder("b"), seed: 3);
        RandomCheckpoint.Write(Small, Folder("c"), seed: 4);
        Assert.Equal(Weights(Folder("a")), Weights(Folder("b")));
        Assert.NotEqual(Weights(Folder("a")), Weights(Folder("c")));
        Assert.Equal(File.ReadAllText(Path.Combine(Folder("a"), "config.json")), File.ReadAllText(Path.Combine(Folder("b"), "config.json")));
    }

    [Fact]
    public void Values_follow_the_pytorch_default_initialisation()
    {
        RandomCheckpoint.Write(WfVaeConfig.Create(baseChannels: 16, latentDim: 4, encoderEnergyFlowHiddenSize: 16, decoderEnergyFlowHiddenSize: 16), Folder("a"));
        using var ckpt = WfVaeCheckpoint.Load(Folder("a"));
        foreach (var spec in ckpt.Manifest)
        {
            var v = ckpt.Get(spec.Name);
            switch (spec.Role)
            {
                case WeightRole.ConvWeight or WeightRole.ConvBias:
                    var bound = 1 / Math.Sqrt(spec.FanIn);
                    Assert.All(v, x => Assert.InRange(x, -bound, bound));
                    if (v.Length >= 1000)
                    {
                        Assert.InRange(v.Max(), 0.95 * bound, bound); // fills the interval
                        Assert.InRange(v.Average(x => x * x), 0.9 * bound * bound / 3, 1.1 * bound * bound / 3); // uniform variance
                    }
                    break;
                case WeightRole.NormWeight:
                    Assert.All(v, x => Assert.InRange(x, 0.4, 1.6));
                    break;
                case WeightRole.NormBias:
                    Assert.All(v, x => Assert.InRange(x, -0.6, 0.6));
                    break;
                case WeightRole.FixedFilter:
                    Assert.Equal(spec.FixedValues(), v);
                    break;
            }
        }
        var allNormWeights = ckpt.Manifest.Where(s => s.Role == WeightRole.NormWeight).SelectMany(s => ckpt.Get(s.Name)).ToArray();
        Assert.InRange(allNormWeights.Average(), 0.99, 1.01);
        var sd = Math.Sqrt(allNormWeights.Average(x => (x - 1.0) * (x - 1.0)));
        Assert.InRange(sd, 0.09, 0.11);
    }

    [Fact]
    public void Half_precision_keeps_fixed_filters_in_f32()
    {
        RandomCheckpoint.Write(Small, Folder("h"), SafetensorsDType.F16, seed: 1);
        RandomCheckpoint.Write(Small, Folder("f"), SafetensorsDType.F32, seed: 1);
        using var half = WfVaeCheckpoint.Load(Folder("h"));
        using var full = WfVaeCheckpoint.Load(Folder("f"));
        Assert.Equal(SafetensorsDType.F16, half.StoredDType("decoder.conv_in.conv.weight"));
        Assert.Equal(SafetensorsDType.F32, half.StoredDType("decoder.inverse_wavelet_transform_out.h"));
        // Same seed: the F16 file holds the F32 values rounded.
        var w32 = full.Get("decoder.conv_in.conv.weight");
        Assert.Equal(w32.Select(x => (float)(Half)x), half.Get("decoder.conv_in.conv.weight"));
        Assert.True(Weights(Folder("h")).Length < Weights(Folder("f")).Length * 0.6);
    }

    [Fact]
    public void Bf16_checkpoints_load()
    {
        RandomCheckpoint.Write(Small, Folder("b"), SafetensorsDType.BF16);
        using var ckpt = WfVaeCheckpoint.Load(Folder("b"));
        Assert.Equal(SafetensorsDType.BF16, ckpt.StoredDType("encoder.down1.0.weight"));
    }

    [Fact]
    public void Groupnorm_and_attention_free_configs_are_generated()
    {
        var gn = WfVaeConfig.Create(baseChannels: 32, latentDim: 4, encoderEnergyFlowHiddenSize: 32, decoderEnergyFlowHiddenSize: 32,
            encoderNumResBlocks: 1, decoderNumResBlocks: 1, useAttention: false, normType: NormType.GroupNorm,
            temporalInterpolation: TemporalInterpolation.Nearest);
        RandomCheckpoint.Write(gn, Folder("g"));
        using var ckpt = WfVaeCheckpoint.Load(Folder("g"));
        Assert.Equal(gn, ckpt.Config);
        Assert.True(ckpt.Contains("encoder.mid.1.norm1.weight"));
    }
}
