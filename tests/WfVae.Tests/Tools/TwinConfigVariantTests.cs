using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Tests.Checkpoint;
using CpuTensor = WfVae.Tests.Reference.CpuTensor;
using Xunit;

namespace WfVae.Tests.Tools;

/// <summary>
/// The engine and the PyTorch twin (tools/train/twin.py, a second implementation written from docs/model.md) agree
/// on configurations no golden case has: random checkpoints, the engine's outputs stored as a case folder and checked
/// by the twin's own golden check (same metric and fp32 bounds). Both configs were also checked, engine and twin,
/// against the official PyTorch code (docs/testing.md).
/// </summary>
[Collection(Gpu.Golden)]
public sealed class TwinConfigVariantTests(GpuFixture gpu) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A config and the clip [1, 3, T, H, W] it runs on.</summary>
    private sealed record Variant(string Name, WfVaeConfig Config, int T, int H, int W);

    private static readonly Variant[] All =
    {
        // No encoder blocks, three decoder blocks, two outflow blocks, no attention, nearest, widths not multiples
        // of 4, a clip whose last two frames the encoder drops, non-square frames.
        new("mix_e0_d3_r2_noattn_nearest", WfVaeConfig.Create(baseChannels: 12, latentDim: 5,
            encoderEnergyFlowHiddenSize: 9, decoderEnergyFlowHiddenSize: 11, encoderNumResBlocks: 0, decoderNumResBlocks: 3,
            connectResLayerNum: 2, useAttention: false, temporalInterpolation: TemporalInterpolation.Nearest), 11, 24, 40),
        // GroupNorm with three encoder blocks, one decoder block and no outflow blocks; Ee > Ed.
        new("groupnorm_e3_d1_r0", WfVaeConfig.Create(baseChannels: 32, latentDim: 12,
            encoderEnergyFlowHiddenSize: 64, decoderEnergyFlowHiddenSize: 32, encoderNumResBlocks: 3, decoderNumResBlocks: 1,
            connectResLayerNum: 0, normType: NormType.GroupNorm), 9, 16, 24),
    };

    [Fact]
    public void TwinAgreesWithTheEngineOnConfigsOutsideTheGoldenSet()
    {
        for (int i = 0; i < All.Length; i++) WriteEngineCase(All[i], seed: 40 + i);
        TwinGoldenTests.AssertTwinWithinFp32Bounds(All.Select(v => v.Name), "--golden", Path.Combine(_dir.Path, "cases"));
    }

    /// <summary>A case folder as golden_check.py reads it: config.json, the weights, and io.safetensors with the engine's outputs.</summary>
    private void WriteEngineCase(Variant v, int seed)
    {
        var folder = Path.Combine(_dir.Path, "cases", v.Name);
        RandomCheckpoint.Write(v.Config, folder, seed: seed);
        using var model = WfVaeModel.Load(folder, gpu.Device);
        var clip = CpuTensor.Random(3, v.T, v.H, v.W, seed: seed);
        var video = new HostTensor(clip.Data, 1, 3, v.T, v.H, v.W);
        var posterior = model.Encode(video);
        var decoded = model.Decode(posterior.Mean);
        SafetensorsWriter.Write(Path.Combine(folder, "io.safetensors"),
        [
            ("video", video.Shape, video.Data),
            ("mean", posterior.Mean.Shape, posterior.Mean.Data),
            ("logvar", posterior.Logvar.Shape, posterior.Logvar.Data),
            ("decoded", decoded.Shape, decoded.Data),
        ]);
        gpu.AssertClean();
    }
}
