using System.Globalization;
using WfVae.Model.Checkpoint;

namespace WfVae.Demo;

/// <summary>A command-line mistake: one line on stderr, exit code 2.</summary>
public sealed class DemoUsageException(string message) : Exception(message);

/// <summary>The demo's options (see <see cref="Usage"/>).</summary>
public sealed record DemoOptions
{
    public const string Usage = """
        wfvae-demo — stream a video through WF-VAE encode and decode on every Vulkan device and report

        usage: wfvae-demo [options]

          --input <file|URL>     video to stream (any format FFmpeg reads); default: the shipped real clip
                                 (demo/assets/clip/cup.mkv, 17 frames the default model never saw)
          --synthetic            stream a synthetic clip generated in code instead (moving gradient, disk, bar)
          --model <dir|file>     checkpoint (e.g. the published WF-VAE-L-16Chn folder); default: the shipped
                                 default model (demo/assets/default-model, trained on real footage)
          --frames <N>           frames to stream, 1 + 4k (default 17)
          --size <W>x<H>         frame size, multiples of 8 (default 128x128); an input video is scaled to it
          --chunk <n>            frames per encoder push after the first frame, which goes alone (default 4)
          --output <folder>      where report.md, report.html and contact-sheet.png go (default demo-report)
          --devices all|<sel>    'all' (default) or a comma-separated list of device indices or name
                                 substrings, e.g. --devices 0,llvmpipe
          --help                 this text

        Every device runs in fp32 storage so that latents can be compared across devices at the fp32 bound.
        exit code: 0 when every device ran and all latents agree, 1 otherwise, 2 for a usage error.
        """;

    public string? Input { get; init; }
    public bool Synthetic { get; init; }
    public string? Model { get; init; }
    public int Frames { get; init; } = 17;
    public int Width { get; init; } = 128;
    public int Height { get; init; } = 128;
    public int Chunk { get; init; } = 4;
    public string Output { get; init; } = "demo-report";
    public string Devices { get; init; } = "all";
    public bool Help { get; init; }

    /// <summary>The options as a command line (for the report), defaults included.</summary>
    public IReadOnlyList<string> ToArguments()
    {
        var a = new List<string>();
        if (Input != null) a.AddRange(["--input", Quote(Input)]);
        if (Synthetic) a.Add("--synthetic");
        if (Model != null) a.AddRange(["--model", Quote(Model)]);
        a.AddRange(["--frames", Frames.ToString(CultureInfo.InvariantCulture), "--size", $"{Width}x{Height}",
            "--chunk", Chunk.ToString(CultureInfo.InvariantCulture), "--output", Quote(Output), "--devices", Quote(Devices)]);
        return a;
    }

    private static string Quote(string s) => s.Any(char.IsWhiteSpace) ? $"\"{s}\"" : s;

    // The options that take a value, each with how it sets the options (one table for the parser and its refusals).
    private static readonly Dictionary<string, Func<DemoOptions, string, string, DemoOptions>> ValueOptions = new()
    {
        ["--input"] = (o, n, v) => o with { Input = NonEmpty(n, v) },
        ["--model"] = (o, n, v) => o with { Model = NonEmpty(n, v) },
        ["--frames"] = (o, _, v) => o with { Frames = ParseFrames(v) },
        ["--size"] = (o, _, v) => ParseSize(o, v),
        ["--chunk"] = (o, n, v) => o with { Chunk = Positive(n, v) },
        ["--output"] = (o, n, v) => o with { Output = NonEmpty(n, v) },
        ["--devices"] = (o, n, v) => o with { Devices = NonEmpty(n, v) },
    };

    public static DemoOptions Parse(IReadOnlyList<string> args)
    {
        var o = new DemoOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            if (name is "--help" or "-h" or "help") { o = o with { Help = true }; continue; }
            if (name == "--synthetic") { o = o with { Synthetic = true }; continue; }
            if (!name.StartsWith("--", StringComparison.Ordinal)) throw new DemoUsageException($"unexpected argument '{name}' (see --help)");
            if (!ValueOptions.TryGetValue(name, out var set)) throw new DemoUsageException($"unknown option '{name}' (see --help)");
            if (i + 1 >= args.Count) throw new DemoUsageException($"{name} needs a value");
            o = set(o, name, args[++i]);
        }
        if (o.Synthetic && o.Input != null) throw new DemoUsageException("--synthetic and --input exclude each other");
        return o;
    }

    private static string NonEmpty(string name, string value) =>
        string.IsNullOrWhiteSpace(value) ? throw new DemoUsageException($"{name} needs a non-empty value") : value;

    private static int Positive(string name, string value)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
            throw new DemoUsageException($"{name} must be a positive integer, got '{value}'");
        return n;
    }

    // The encoder turns the first frame alone and then every group of 4 frames into one latent frame;
    // frames after the last complete group never reach a latent, so they could not be reconstructed.
    private static int ParseFrames(string value)
    {
        int n = Positive("--frames", value);
        if (!WfVaeConfig.IsWholeGroups(n))
            throw new DemoUsageException($"--frames must be 1 + 4k (1, 5, 9, 13, 17, ...): the encoder maps the first frame and then each group of 4 frames to one latent frame; got {n}");
        return n;
    }

    private static DemoOptions ParseSize(DemoOptions o, string value)
    {
        var parts = value.ToLowerInvariant().Split('x');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h))
            throw new DemoUsageException($"--size must be <width>x<height>, e.g. 64x64; got '{value}'");
        // The model halves the frame three times (8x smaller latents).
        if (!WfVaeConfig.FitsSpatially(w) || !WfVaeConfig.FitsSpatially(h))
            throw new DemoUsageException($"--size must be multiples of {WfVaeConfig.SpatialCompression} of at least {WfVaeConfig.SpatialCompression}x{WfVaeConfig.SpatialCompression} (latents are {WfVaeConfig.SpatialCompression}x smaller); got {w}x{h}");
        return o with { Width = w, Height = h };
    }
}
