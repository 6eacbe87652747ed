using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Cli;

/// <summary>Without --model the tools use the model installed beside them, say so, and warn about untrained weights.</summary>
public sealed class DefaultModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-default-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TheBuildInstallsTheDefaultModelBesideTheTools()
    {
        string folder = DefaultModel.Locate();
        Assert.Equal(Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, DefaultModel.FolderName)), folder);
        using var checkpoint = WfVaeCheckpoint.Load(folder);
        Assert.True(checkpoint.Config.LatentDim > 0);
    }

    [Fact]
    public void ReconWithoutModelUsesTheDefaultAndNamesIt()
    {
        string input = Path.Combine(_dir, "in.rgb"), output = Path.Combine(_dir, "out.rgb");
        var rng = new Random(3);
        var bytes = new byte[5 * 16 * 16 * 3];
        rng.NextBytes(bytes);
        File.WriteAllBytes(input, bytes);
        var (code, _, err) = CliRunner.Run("recon", "--raw", "16x16@8", input, output, "--quiet");
        Assert.True(code == 0, err);
        Assert.Contains($"the shipped default model ({DefaultModel.Locate()})", err);
        Assert.Equal(bytes.Length, new FileInfo(output).Length);
    }

    [Fact]
    public void MissingDefaultNamesWhereItLookedAndHowToPassAModel()
    {
        string a = Path.Combine(_dir, "a", DefaultModel.FolderName), b = Path.Combine(_dir, "b");
        Directory.CreateDirectory(a);
        File.WriteAllText(Path.Combine(a, "config.json"), "{}"); // no weights: not a model folder
        var e = Assert.Throws<DefaultModelMissingException>(() => DefaultModel.Locate([a, b]));
        Assert.Contains(a, e.Message);
        Assert.Contains(b, e.Message);
        Assert.Contains("--model", e.Message);
        Assert.IsAssignableFrom<IOException>(e); // the CLI's bad-input exit code, 1
    }

    [Theory]
    [InlineData(null, null, false)]
    [InlineData("UNTRAINED.txt", "random weights", true)]
    [InlineData("MODEL_CARD.md", "# A model\n\nStatus: untrained (random weights)\n", true)]
    [InlineData("MODEL_CARD.md", "# A model\n\nStatus: trained, 9000 steps\nNot untrained.\n", false)]
    public void UntrainedWeightsAreRecognisedByMarkerOrCard(string? file, string? text, bool untrained)
    {
        string model = CopyTinyModel();
        if (file != null) File.WriteAllText(Path.Combine(model, file), text);
        Assert.Equal(untrained, DefaultModel.IsUntrained(model));
        Assert.Equal(untrained, DefaultModel.IsUntrained(Path.Combine(model, "diffusion_pytorch_model.safetensors")));
    }

    [Fact]
    public void EveryUseOfAnUntrainedModelWarns()
    {
        string model = CopyTinyModel();
        File.WriteAllText(Path.Combine(model, DefaultModel.UntrainedMarker), "random");
        var (code, _, err) = CliRunner.Run("info", "--model", model);
        Assert.Equal(0, code);
        Assert.Contains("is untrained (random weights)", err);
        Assert.DoesNotContain("shipped default", err);
    }

    private string CopyTinyModel()
    {
        string folder = Path.Combine(_dir, "model-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(TestPaths.Golden("tiny"), "config.json"), Path.Combine(folder, "config.json"));
        File.Copy(Path.Combine(TestPaths.Golden("tiny"), "model.safetensors"), Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
        return folder;
    }
}
