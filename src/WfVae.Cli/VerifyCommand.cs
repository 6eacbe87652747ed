using System.Diagnostics;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>
/// wfvae verify: encodes a reference case's video and decodes its mean, then compares with the official
/// PyTorch outputs stored beside it (golden README metric and bounds). Exit 1 when a bound is exceeded.
/// </summary>
internal static class VerifyCommand
{

    public static int Run(Options o, TextWriter stdout)
    {
        var folder = o.Get("--case") ?? FindDefaultCase()
            ?? throw new UsageException("no reference case found; pass --case <folder with config.json, model.safetensors, io.safetensors>");
        var io = Path.Combine(folder, "io.safetensors");
        if (!File.Exists(io)) throw new FileNotFoundException($"{io} not found: a reference case holds config.json, model.safetensors and io.safetensors");
        using var reference = SafetensorsFile.Open(io);
        if (ReferenceNames.FirstOrDefault(n => !reference.Contains(n)) is { } missing)
            throw new InvalidDataException($"{io} has no '{missing}' tensor: a reference case's io.safetensors holds {string.Join(", ", ReferenceNames)}");

        using var device = VulkanDevice.Create(o.DeviceOptions);
        using var model = WfVaeModel.Load(Path.Combine(folder, "model.safetensors"), device, precision: o.Precision);
        var video = ModelCommands.ReadTensor(io, "video", 3);
        var mean = ModelCommands.ReadTensor(io, "mean", model.Config.LatentDim);
        stdout.WriteLine($"case:    {folder}");
        stdout.WriteLine($"device:  {device.Info}, {model.Precision.Name()}");
        stdout.WriteLine($"model:   base {model.Config.BaseChannels}, latent {model.Config.LatentDim}, {model.Config.NormType.ToString().ToLowerInvariant()}, {model.Config.TemporalInterpolation.ToString().ToLowerInvariant()}; video {video.ShapeText}");

        var sw = Stopwatch.StartNew();
        var posterior = model.Encode(video);
        double encodeS = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var decoded = model.Decode(mean);
        double decodeS = sw.Elapsed.TotalSeconds;

        bool ok = true;
        void Check(string name, HostTensor actual, double bound)
        {
            var expected = reference.ReadFloat32(name);
            double err = RelErr(actual.Data, expected);
            bool pass = err <= bound;
            ok &= pass;
            stdout.WriteLine($"{name,-8} rel_err {err:E2}  (bound {bound:E0})  {(pass ? "ok" : "FAIL")}");
        }
        Check("mean", posterior.Mean, Conformance.LatentBound(model.Precision));
        Check("logvar", posterior.Logvar, Conformance.LatentBound(model.Precision));
        Check("decoded", decoded, Conformance.DecodedBound(model.Precision));
        // fp16 convs ran the cooperative-matrix self-check at first use: its verdict is part of the result.
        stdout.WriteLine($"convs:   {device.CooperativeMatrix}");
        stdout.WriteLine($"encode {encodeS:F2} s, decode {decodeS:F2} s (first run, pipelines included); peak device memory {device.Memory.PeakBytes / 1048576.0:F1} MiB");
        stdout.WriteLine(ok ? "verify: the engine matches the official implementation on this case" : "verify: MISMATCH against the official implementation");
        return ok ? 0 : 1;
    }

    /// <summary>The official code's input and outputs that a reference case records.</summary>
    private static readonly string[] ReferenceNames = ["video", "mean", "logvar", "decoded"];

    internal static double RelErr(float[] actual, float[] expected)
    {
        if (actual.Length != expected.Length) throw new InvalidDataException($"result has {actual.Length} values, the reference {expected.Length}");
        return Conformance.RelErr(actual, expected);
    }

    /// <summary>The repository's 33-frame reference case, searched upward from the working and program folders.</summary>
    private static string? FindDefaultCase()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "tests", "fixtures", "golden", "long");
                if (File.Exists(Path.Combine(candidate, "io.safetensors"))) return candidate;
            }
        }
        return null;
    }
}
