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

    /// <summary>
    /// A torch.save archive holding { "encoder.w": a float32 tensor of <paramref name="shape"/> (contiguous, offset 0) on a
    /// storage of <paramref name="numel"/> elements }, whose data entry has 4 bytes.
    /// </summary>
    private string TorchArchive(string name, long numel, long shape)
    {
        var p = new List<byte> { 0x80, 2, (byte)'}' };
        void Text(string s)
        {
            p.Add((byte)'X');
            p.AddRange(BitConverter.GetBytes(s.Length));
            p.AddRange(Encoding.ASCII.GetBytes(s));
        }
        void Long(long v)
        {
            p.AddRange([0x8A, 8]);
            p.AddRange(BitConverter.GetBytes(v));
        }
        Text("encoder.w");
        p.AddRange(Encoding.ASCII.GetBytes("ctorch._utils\n_rebuild_tensor_v2\n("));
        p.Add((byte)'(');
        Text("storage");
        p.AddRange(Encoding.ASCII.GetBytes("ctorch\nFloatStorage\n"));
        Text("0");
        Text("cpu");
        Long(numel);
        p.AddRange("tQ"u8.ToArray());
        Long(0);
        Long(shape);
        p.Add(0x85);
        Long(1);
        p.Add(0x85);
        p.AddRange([0x89, (byte)'N', (byte)'t', (byte)'R', (byte)'s', (byte)'.']);

        var path = _dir.File(name);
        using var zip = new System.IO.Compression.ZipArchive(File.Create(path), System.IO.Compression.ZipArchiveMode.Create);
        void Entry(string entry, byte[] bytes)
        {
            using var s = zip.CreateEntry(entry, System.IO.Compression.CompressionLevel.NoCompression).Open();
            s.Write(bytes);
        }
        Entry("archive/data.pkl", p.ToArray());
        Entry("archive/data/0", new byte[4]);
        return path;
    }

    [Theory]
    [InlineData(1L << 62, 1L, "storage '0' of 4611686018427387904 F32 elements is more bytes than can be counted")]
    [InlineData(1L << 62, 1L << 62, "tensor 'encoder.w' ([4611686018427387904] at offset 0) is more bytes than can be counted")]
    public void SizesWhoseBytesOverflowAreRefusedBeforeTheyAreCompared(long numel, long shape, string mentions)
    {
        var e = Assert.Throws<CheckpointException>(() => TorchCheckpointFile.Open(TorchArchive("huge.ckpt", numel, shape)));
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
