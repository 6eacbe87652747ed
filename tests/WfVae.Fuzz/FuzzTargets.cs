using System.IO.Pipelines;
using System.Text;
using WfVae.Model.Checkpoint;
using WfVae.Model.Checkpoint.Torch;
using WfVae.Streaming;
using WfVae.Streaming.LatentStream;

namespace WfVae.Fuzz;

/// <summary>
/// One entry point per parser of untrusted bytes. A target returns normally for any input, or throws one
/// of the exceptions that mean "bad input, reported to the user" (<see cref="IsExpected"/>); anything else
/// escaping a target is a bug, and the fuzzer records the input as a crash.
/// </summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["safetensors"] = Safetensors,
        ["config"] = Config,
        ["wfl"] = LatentStream,
        ["raw"] = RawFrames,
        ["torch"] = TorchZip,
        ["pickle"] = Pickle,
    };

    /// <summary>The errors the tools turn into a one-line message and exit 1: malformed data, named.</summary>
    public static bool IsExpected(Exception e) => e is InvalidModelDataException or InvalidDataException;

    /// <summary>Runs a target, swallowing expected errors; unexpected ones escape.</summary>
    public static void Run(string target, byte[] data)
    {
        try { All[target](data); }
        catch (Exception e) when (IsExpected(e)) { }
    }

    /// <summary>A safetensors file: header, tensor table, and every float tensor read and converted.</summary>
    private static void Safetensors(byte[] data)
    {
        var path = ScratchFile("safetensors", data);
        using var file = SafetensorsFile.Open(path);
        foreach (var info in file.Tensors.Values)
            if (info.DType.IsFloatingPoint()) file.ReadFloat32(info.Name);
    }

    /// <summary>A config.json, and the key manifest it implies (what a config sizes).</summary>
    private static void Config(byte[] data)
    {
        var config = WfVaeConfig.Parse(Encoding.UTF8.GetString(data), "fuzz");
        _ = WeightManifest.For(config).Sum(s => s.ElementCount);
        _ = config.ToJson();
    }

    /// <summary>A .wfl latent stream, read as a non-seekable and as a seekable stream.</summary>
    private static void LatentStream(byte[] data)
    {
        using (var r = new LatentStreamReader(new MemoryStream(data, writable: false)))
        {
            r.ReadAll();
            _ = r.Trailer?.Problem(r.Header);
        }
    }

    /// <summary>Raw frames: the first three bytes choose rgb24/f32 and a size of 8..32 pixels, the rest is the stream.</summary>
    private static void RawFrames(byte[] data)
    {
        if (data.Length < 3) return;
        var format = new RawFrameFormat((data[0] & 1) == 0 ? RawPixelFormat.Rgb24 : RawPixelFormat.PlanarFloat32,
            8 * (1 + (data[1] & 3)), 8 * (1 + (data[2] & 3)));
        var reader = new RawFrameReader(PipeReader.Create(new MemoryStream(data, 3, data.Length - 3)), format);
        var frames = new float[2 * format.FrameElements];
        while (!reader.Ended) reader.ReadAsync(frames, 2, CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>A torch.save zip: the archive, the restricted unpickler, the state dict, every tensor read.</summary>
    private static void TorchZip(byte[] data)
    {
        var path = ScratchFile("ckpt", data);
        using var file = TorchCheckpointFile.Open(path);
        foreach (var name in file.Tensors.Keys) file.ReadFloat32(name);
    }

    /// <summary>The restricted unpickler alone (data.pkl).</summary>
    private static void Pickle(byte[] data) => RestrictedUnpickler.Load(data, "fuzz.pkl");

    /// <summary>Parsers that open files get one per process, rewritten for each input (in RAM where /dev/shm exists).</summary>
    private static string ScratchFile(string extension, byte[] data)
    {
        var folder = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var path = Path.Combine(folder, $"wfvae-fuzz-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}.{extension}");
        File.WriteAllBytes(path, data);
        return path;
    }
}
