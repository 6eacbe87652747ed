using System.Text;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Model.Checkpoint.Torch;
using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Checkpoint;

/// <summary>
/// torch.save checkpoints shaped like Open-Sora-Plan v1.3's vae/merged.ckpt (tests/fixtures/torch, written
/// by tools/fixtures/make_torch_checkpoints.py from `wfvae generate --seed 15` of the config there): read
/// without running the pickle, unwrapped as the official loader does, equal to the weights they were made from.
/// </summary>
public sealed class TorchCheckpointTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "torch");
    private const string Marker = "/tmp/wfvae-hostile-pickle-ran";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Fixture(string name) => Path.Combine(Fixtures, name);

    /// <summary>The weights the fixtures were written from (the generator is deterministic).</summary>
    private string Reference()
    {
        var folder = _dir.File("reference");
        RandomCheckpoint.Write(WfVaeConfig.Load(Fixture("config.json")), folder, seed: 15);
        return folder;
    }

    private static Dictionary<string, float[]> All(ITensorFile file) =>
        file.Tensors.Keys.ToDictionary(k => k, file.ReadFloat32, StringComparer.Ordinal);

    [Fact]
    public void MergedCkpt_TakesTheEmaWeights_WithoutModulePrefixes()
    {
        using var reference = SafetensorsFile.Open(Path.Combine(Reference(), CheckpointLocator.DiffusersWeightsName));
        using var merged = TorchCheckpointFile.Open(Fixture("osp-merged.ckpt"));
        Assert.Equal("ema_state_dict", merged.Origin);
        Assert.Empty(merged.IgnoredKeys);
        var expected = All(reference);
        Assert.Equal(expected.Keys.Order(), merged.Tensors.Keys.Order());
        foreach (var (key, values) in All(merged)) Assert.Equal(expected[key], values);
        Assert.Equal(reference.Tensors["decoder.conv_out.weight"].Shape, merged.Tensors["decoder.conv_out.weight"].Shape);
    }

    [Fact]
    public void GenModelInHalfPrecision_WithANonContiguousView_ReadsExactly()
    {
        using var reference = SafetensorsFile.Open(Path.Combine(Reference(), CheckpointLocator.DiffusersWeightsName));
        using var gen = TorchCheckpointFile.Open(Fixture("osp-gen-f16.pt"));
        Assert.Equal("state_dict.gen_model", gen.Origin);
        Assert.Equal(["loss.logvar"], gen.IgnoredKeys);
        Assert.Equal(SafetensorsDType.F16, gen.Tensors["decoder.conv_out.weight"].DType);
        foreach (var (key, values) in All(gen))
            Assert.Equal(reference.ReadFloat32(key).Select(v => (float)(Half)v).ToArray(), values);
    }

    [Fact]
    public void AHostilePickleIsRefusedNamingTheGlobal_AndRunsNothing()
    {
        if (File.Exists(Marker)) File.Delete(Marker);
        var e = Assert.Throws<CheckpointException>(() => TorchCheckpointFile.Open(Fixture("hostile.ckpt")));
        Assert.Contains("refusing global 'posix.system' (GLOBAL)", e.Message);
        Assert.Contains("at byte 54", e.Message);
        Assert.False(File.Exists(Marker));

        var cli = Run("convert", Fixture("hostile.ckpt"), _dir.File("out"));
        Assert.Equal(1, cli.Code);
        Assert.Single(cli.Err.Trim().Split('\n'));
        Assert.Contains("posix.system", cli.Err);
        Assert.False(File.Exists(Marker));
        Assert.False(Directory.Exists(_dir.File("out")) && Directory.EnumerateFileSystemEntries(_dir.File("out")).Any());
    }

    [Fact]
    public void ConvertWritesTheOfficialLayout_AndModelLoadsTheCkptDirectly()
    {
        var reference = Reference();
        var cli = Run("convert", Fixture("osp-merged.ckpt"), _dir.File("converted"));
        Assert.True(cli.Code == 0, cli.Err);
        Assert.Contains("ema_state_dict", cli.Out);
        using (var converted = SafetensorsFile.Open(Path.Combine(_dir.File("converted"), CheckpointLocator.DiffusersWeightsName)))
        using (var expected = SafetensorsFile.Open(Path.Combine(reference, CheckpointLocator.DiffusersWeightsName)))
        {
            Assert.Equal(expected.Tensors.Keys.Order(), converted.Tensors.Keys.Order());
            foreach (var key in expected.Tensors.Keys) Assert.Equal(expected.ReadFloat32(key), converted.ReadFloat32(key));
        }
        Assert.Equal(WfVaeConfig.Load(Fixture("config.json")), WfVaeConfig.Load(Path.Combine(_dir.File("converted"), "config.json")));

        // --model x.ckpt: the same latents as the safetensors it was made from.
        var video = new HostTensor(StreamingVideo(), 1, 3, 5, 16, 16);
        using var fromCkpt = WfVaeModel.Load(Fixture("osp-merged.ckpt"));
        using var fromSafetensors = WfVaeModel.Load(reference, fromCkpt.Device);
        Assert.Equal(fromSafetensors.Encode(video).Mean.Data, fromCkpt.Encode(video).Mean.Data);
    }

    private static float[] StreamingVideo() => Streaming.StreamTestKit.RandomVideo(5, 16, 16, seed: 9);

    [Theory]
    [InlineData(new byte[] { 0x80, 2, (byte)'i', (byte)'o', (byte)'s', 10, (byte)'x', 10, (byte)'.' }, "opcode 0x69 (INST)")]
    [InlineData(new byte[] { 0x80, 2, (byte)')', 0x81, (byte)'.' }, "opcode 0x81 (NEWOBJ)")]
    [InlineData(new byte[] { 0x80, 2, (byte)'}', (byte)'h', 9, (byte)'.' }, "memo entry 9")]
    [InlineData(new byte[] { 0x80, 2, (byte)'X', 0xFF, 0xFF, 0xFF, 0x7F }, "runs past the end")]
    [InlineData(new byte[] { 0x80, 2, (byte)'}' }, "ends without STOP")]
    [InlineData(new byte[] { 0x80, 2, (byte)'s', (byte)'.' }, "stack is empty")]
    [InlineData(new byte[] { 0x80, 2, (byte)'N', (byte)'N', (byte)'.' }, "STOP with 2 objects")]
    public void TheUnpicklerRefusesWhatAStateDictCannotHold(byte[] pickle, string mentions)
    {
        var e = Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Load(pickle, "test.pkl"));
        Assert.Contains(mentions, e.Message);
    }

    [Fact]
    public void StackGlobalsAreCheckedToo()
    {
        var pickle = new List<byte> { 0x80, 4 };
        foreach (var s in new[] { "builtins", "eval" })
        {
            pickle.Add(0x8C);
            pickle.Add((byte)s.Length);
            pickle.AddRange(Encoding.ASCII.GetBytes(s));
        }
        pickle.AddRange([0x93, (byte)'.']);
        var e = Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Load(pickle.ToArray(), "t"));
        Assert.Contains("refusing global 'builtins.eval' (STACK_GLOBAL)", e.Message);
    }
}
