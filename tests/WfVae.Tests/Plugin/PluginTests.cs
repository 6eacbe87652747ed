using System.Runtime.InteropServices;
using WfVae.Model;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Plugin;

/// <summary>
/// The native plugin driven from C (tests/native/plugin_e2e.c) against the golden "long" case (33 frames,
/// 9 latents): the C program pushes frames 1 then 4 at a time and latents 1 then 2 at a time, pulling
/// after every push, and its outputs must equal the managed whole-clip <see cref="WfVaeModel.Encode"/> and
/// <see cref="WfVaeModel.Decode"/> bit for bit (same engine, and chunked streaming is exact). Also the
/// error contract: status codes and last-error messages. Unix only (cc and an ELF/Mach-O library).
/// </summary>
[Collection(Gpu.Native)]
public sealed class PluginTests(GpuFixture gpu, ITestOutputHelper log)
{
    private const string Case = "long";

    [Fact]
    public void CDriverRoundTripEqualsTheManagedApiBitForBit()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the C driver is built with a Unix cc"); return; }
        var build = NativePluginBuild.Get();
        var golden = ReferenceTolerance.Golden(Case);
        var video = golden.Tensor("video");
        string modelPath = Path.Combine(TestPaths.Golden(Case), "model.safetensors");

        using var dir = new TempDir();
        string input = dir.File("video.f32"), meanFile = dir.File("mean.f32"), logvarFile = dir.File("logvar.f32"), decodedFile = dir.File("decoded.f32");
        File.WriteAllBytes(input, MemoryMarshal.AsBytes(video.ToFrameMajor().AsSpan()).ToArray());

        var run = NativePluginBuild.Run(build.Driver, ["roundtrip", modelPath, input, $"{video.T}", $"{video.H}", $"{video.W}", meanFile, logvarFile, decodedFile], TimeSpan.FromMinutes(5));
        log.WriteLine(run.Output);
        Assert.True(run.Exit == 0, $"plugin_e2e roundtrip exited with {run.Exit}:\n{run.Output}");

        // Managed: one whole-clip push each way, on the test device.
        using var model = WfVaeModel.Load(modelPath, gpu.Device);
        var posterior = model.Encode(new HostTensor(video.Data, 1, video.C, video.T, video.H, video.W));
        var decoded = model.Decode(posterior.Mean);

        AssertBitEqual("mean", posterior.Mean.ToFrameMajor(0), ReadFloats(meanFile));
        AssertBitEqual("logvar", posterior.Logvar.ToFrameMajor(0), ReadFloats(logvarFile));
        AssertBitEqual("decoded", decoded.ToFrameMajor(0), ReadFloats(decodedFile));

        // Equal to the managed output is only worth something if that output is right: check it against the golden.
        var m = golden.Tensor("mean");
        var pluginMean = CpuTensor.FromFrameMajor(ReadFloats(meanFile), m.C, m.T, m.H, m.W);
        Assert.True(CpuTensor.RelErr(pluginMean, m) <= ReferenceTolerance.Latent, $"plugin mean vs golden rel_err {CpuTensor.RelErr(pluginMean, m):E2}");
        gpu.AssertClean();
    }

    [Fact]
    public void ErrorsComeBackAsStatusCodesWithMessages()
    {
        if (OperatingSystem.IsWindows()) { log.WriteLine("skipped: the C driver is built with a Unix cc"); return; }
        var build = NativePluginBuild.Get();
        using var dir = new TempDir();
        string missing = dir.File("no-such-model.safetensors");
        string modelPath = Path.Combine(TestPaths.Golden(Case), "model.safetensors");

        // The host program lies elsewhere than the library and runs outside the repository (the driver finds the
        // library through its absolute rpath), as any real host: NULL must still find the model beside the library.
        string host = dir.File("host-program");
        File.Copy(build.Driver, host);
        var run = NativePluginBuild.Run(host, ["errors", modelPath, missing], TimeSpan.FromMinutes(2), dir.Path);
        log.WriteLine(run.Output);
        Assert.True(run.Exit == 0, $"plugin_e2e errors exited with {run.Exit}:\n{run.Output}");
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 3))
            .ToDictionary(p => p[0], p => (Status: int.Parse(p[1]), Message: p.Length > 2 ? p[2] : ""));

        // Status numbers as wfvae.h defines them.
        const int ok = 0, argument = -1, handle = -2, state = -3, modelError = -4;
        void Expect(string name, int status, string messagePart)
        {
            Assert.True(lines.ContainsKey(name), $"no line for {name} in:\n{run.Stdout}");
            var (s, message) = lines[name];
            Assert.True(s == status, $"{name}: status {s}, expected {status} ({message})");
            Assert.Contains(messagePart, message);
        }
        Expect("open_missing", modelError, missing);
        Expect("open_null_path", ok, "");       // NULL = the default model installed beside the library
        Expect("push_null_handle", handle, "NULL");
        Expect("push_before_begin", state, "wfvae_encoder_begin");
        Expect("pull_before_begin", state, "wfvae_encoder_begin");
        Expect("flush_before_begin", state, "wfvae_decoder_begin");
        Expect("begin_odd_size", argument, "multiples of 8");
        Expect("begin_twice", state, "already open");
        Expect("push_negative", argument, "-1");
        Expect("ok_after_error", ok, "");       // an error leaves the stream usable, and success clears the message
        Assert.Equal("", lines["ok_after_error"].Message);
        Expect("push_after_flush", state, "ended");
        Expect("push_after_close", handle, "closed");
    }

    private static float[] ReadFloats(string path) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();

    private static void AssertBitEqual(string name, float[] expected, float[] actual)
    {
        Assert.True(expected.Length == actual.Length, $"{name}: {actual.Length} values from the plugin, {expected.Length} from the managed API");
        var e = MemoryMarshal.Cast<float, int>(expected);
        var a = MemoryMarshal.Cast<float, int>(actual);
        int differ = 0, first = -1;
        for (int i = 0; i < e.Length; i++)
            if (e[i] != a[i]) { differ++; if (first < 0) first = i; }
        Assert.True(differ == 0, $"{name}: {differ} of {e.Length} values differ; first at {first}: plugin {(first >= 0 ? actual[first] : 0):R} vs managed {(first >= 0 ? expected[first] : 0):R}");
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("wfvae-plugin-").FullName;
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
