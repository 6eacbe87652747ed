using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>Entry point of the <c>wfvae</c> tool: one verb per command, one-line errors, nonzero exit on failure.</summary>
public static class CommandLine
{
    public const string Usage = """
        wfvae — WF-VAE video VAE on Vulkan

        usage: wfvae <command> [options]

        commands:
          encode --model <dir|file> --input <in> --output <out.wfl|out.safetensors>
                                  <in> is a video file or URL (anything FFmpeg opens; - = stdin), raw frames
                                  (--raw), or a safetensors tensor [N,3,T,H,W] in [-1,1] (--tensor video);
                                  writes a .wfl latent stream or 'mean' and 'logvar' (--sample-seed <n> also
                                  writes a seeded 'sample') to .safetensors
          decode --model <dir|file> --input <file.wfl|file.safetensors> [--tensor mean] --output <out>
                                  <out> is a video file (.mp4, .mkv, .webm, ...), raw frames with --raw
                                  rgb24|f32 (a file, or - / no --output: stdout), or .safetensors ('decoded'
                                  [N,3,T,H,W]); frame rate and size as recorded by encode
          recon --model <dir|file> --input <in> --output <out>
                                  encode + decode chunk by chunk (frames flow through, the clip is never held)
                                  and print PSNR / SSIM against the input (mean over frames); <in> as for
                                  encode, <out> as for decode (with --raw and no --output: stdout)
          input options (encode, recon):
            --raw WxH[@fps]       raw packed RGB24 frames of that size (fps default 30), from a file or - (stdin)
            --raw rgb24|f32 --size WxH [--fps 30000/1001]
                                  the same, or planar float32 [3][H][W] in [-1,1]
            --vf <filtergraph>    FFmpeg filter graph applied before the VAE, e.g. "scale=512:512,fps=8"
            --format <name>       FFmpeg input format instead of probing (e.g. mpegts for a pipe)
            --fps <rate>          override the source frame rate (30, 29.97, 30000/1001)
            --frames <n>          read at most n frames (e.g. of a live stream)
            --timeout <seconds>   live inputs: end the stream after this long without data (default 10)
            --follow              read a file that is still being written (e.g. MPEG-TS) until it stops
                                  growing for --timeout seconds
            --pad                 frame sizes that are not multiples of 8: pad by edge replication and crop
                                  the output back (otherwise such sizes are an error)
          output options (decode, recon):
            --codec <name>        libavcodec encoder (default libx264 if present, else mpeg4; .webm libvpx-vp9)
            --crf <n>             quality for x264/x265 (default 18; lower is better)
            --raw rgb24|f32       raw frames instead of a video file (decode; recon uses the input's layout)
          a bare argument stands for --input, a second one for --output: wfvae recon --raw 256x256@24 - | ...
          streaming options (encode, decode, recon):
            --chunk <n>           encode: video frames per push after the first frame (a multiple of 4, default 4);
                                  decode: latent frames per push (default 1); 0 = whole-clip inference.
                                  Every chunking gives the same numbers; GroupNorm models run whole clips only.
            --policy pad|drop     encode: when T is not 1+4k, repeat the last frame (pad, default; decode returns
                                  exactly T frames) or leave the incomplete group out (drop, the official behaviour)
            --stats <file.json>   peak device bytes, frames in/out, padded/dropped frames, per-chunk latency (ms);
                                  recon: both directions plus PSNR and SSIM
            --quiet               no summary and no progress line (progress shows only when stderr is a terminal)
          info --model <dir|file>  print the config, parameter counts and device memory of a checkpoint
               [--height H --width W [--chunk 4]]
                                  also the per-chunk device memory plan for HxW frames (weights, caches,
                                  planned activations, live-set bound), measured by pushing zeros on the device
          info --input <file.wfl|video> [--vf ...]
                                  describe a latent stream, or a video as encode would read it
          generate (--preset wfvae-l-16chn | --config <config.json>) --output <folder> [--dtype f32|f16|bf16]
                   [--seed <n>] [--force]
                                  write a randomly initialised checkpoint (config.json + diffusion_pytorch_model
                                  .safetensors, official key names); refuses a non-empty folder unless --force
          verify [--case <folder>] encode and decode a reference case (config.json, model.safetensors,
                                  io.safetensors from the official PyTorch code) and compare; default:
                                  the repository's tests/fixtures/golden/long (33 frames, 32x32)
          bench ops [--quick] [--markdown <file>]
                                  GFLOP/s of the convolutions at WF-VAE shapes vs the measured FMA peak
          bench stream [--quick] [--markdown <file>]
                                  streaming latency/throughput and peak memory vs stream length
          bench stream --sessions N [--model <path>] [--frames 17] [--height 64] [--width 64] [--quick]
                                  N concurrent encode+decode streams of different clips on one model (default:
                                  the shipped model): bit-identical to single-session runs: yes|no, aggregate
                                  frames/s, device memory vs N separate models (exit 1 on "no")
          bench --preset wfvae-l-16chn | --model <path> [--frames 9] [--height 64] [--width 64]
                [--runs 3] [--precision fp32|fp16] [--json <file>] [--markdown <file>]
                                  whole-model encode/decode: median time, GFLOP/s, peak memory, per-layer GPU time
          devices                 list the Vulkan devices and which one is chosen by default
          help                    this text

        a model is a folder with config.json and diffusion_pytorch_model.safetensors (or one other
        .safetensors file), or a .safetensors file with --config <config.json> or a config.json beside it.

        common options:
          --device <index|name>   pick a Vulkan device (also: environment variable WFVAE_DEVICE)
          --precision fp32|fp16   storage precision of weights and activations (arithmetic is fp32 in both);
                                  default fp16 on GPUs that offer it, fp32 on CPU drivers and elsewhere
                                  (also: environment variable WFVAE_PRECISION)

        exit codes: 0 success, 1 bad input/model/output or device error, 2 usage error, 70 internal error.
        Errors are one line on stderr; an output file only appears under its name when complete.
        Documentation: docs/cli.md.
        """;

    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            stdout.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            if (args[0] == "bench") return BenchCommand.Run(args.Skip(1).ToArray(), stdout, stderr);
            var options = Options.Parse(args.Skip(1), args[0], stderr);
            switch (args[0])
            {
                case "devices":
                    return Devices(options, stdout);
                case "encode":
                    return EncodeCommand.Run(options, stdout, stderr);
                case "decode":
                    return DecodeCommand.Run(options, stdout, stderr);
                case "recon":
                    return ReconCommand.Run(options, stdout, stderr);
                case "info":
                    return ModelCommands.Info(options, stdout);
                case "generate":
                    return GenerateCommand.Run(options, stdout, stderr);
                case "verify":
                    return VerifyCommand.Run(options, stdout);
                default:
                    stderr.WriteLine($"wfvae: unknown command '{args[0]}' (see 'wfvae help')");
                    return 2;
            }
        }
        // Bad model files are FormatExceptions too, but they are bad input (1), not a usage error (2).
        catch (Exception e) when (e is NoVulkanDeviceException or VulkanException or InvalidDataException or WfVae.Model.Checkpoint.InvalidModelDataException or IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or WfVae.Media.MediaException)
        {
            stderr.WriteLine($"wfvae {args[0]}: {OneLine(e.Message, args.Contains("--verbose"))}");
            return 1;
        }
        catch (Exception e) when (e is UsageException or FormatException or OverflowException)
        {
            stderr.WriteLine($"wfvae {args[0]}: {e.Message}");
            return 2;
        }
        catch (Exception e)
        {
            // A bug, not bad input: still one line, with the details on request.
            stderr.WriteLine($"wfvae {args[0]}: internal error: {e.GetType().Name}: {e.Message}" + (Environment.GetEnvironmentVariable("WFVAE_DEBUG") == "1" ? "\n" + e : " (WFVAE_DEBUG=1 shows details)"));
            return 70;
        }
    }

    /// <summary>
    /// A multi-line report (a checkpoint's missing and mis-shaped weights, say) as one line: its summary and
    /// first items; --verbose keeps every line.
    /// </summary>
    internal static string OneLine(string message, bool verbose)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length <= 1 || verbose) return verbose ? message : message.Trim();
        const int shown = 3;
        var first = string.Join("; ", lines.Skip(1).Take(shown));
        int more = lines.Length - 1 - shown;
        return $"{lines[0].TrimEnd(':')}: {first}{(more > 0 ? $"; … {more} more (--verbose lists them all)" : "")}";
    }

    /// <summary>"cooperative matrix: &lt;path&gt; — KHR: …; NV: …; NV2: …" (issue #6; reasons from <see cref="CooperativeMatrixPlan"/>).</summary>
    internal static string CooperativeMatrixLine(CooperativeMatrixPlan plan) =>
        "cooperative matrix: " + plan.Path switch
        {
            CooperativeMatrixPath.Khr => "KHR (after a self-check at first use)",
            CooperativeMatrixPath.Nv => "NV (after a self-check at first use)",
            _ => "none, scalar conv",
        } + " — " + plan;

    private static int Devices(Options o, TextWriter stdout)
    {
        var devices = VulkanDevice.Enumerate();
        var resolved = o.DeviceOptions.WithEnvironment();
        var chosen = VulkanDevice.Select(devices, resolved.Selector);
        var setting = resolved.CooperativeMatrix ?? CooperativeMatrixSetting.Auto;
        foreach (var d in devices)
        {
            stdout.WriteLine($"{(d.Index == chosen.Index ? "*" : " ")} {d}");
            stdout.WriteLine($"      {CooperativeMatrixLine(CooperativeMatrixPlan.Create(d.CooperativeMatrix, WfVae.Operators.CooperativeConv.Build, setting))}");
        }
        return 0;
    }
}

/// <summary>A command-line mistake: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// --name value options; flags have no value. Up to two bare arguments (e.g. "-" in a pipe) stand for
/// --input and then --output when those are not given.
/// </summary>
public sealed class Options
{
    private readonly Dictionary<string, string?> _values = new();
    private static readonly HashSet<string> Flags = new() { "--quiet", "--verbose", "--quick", "--force", "--pad", "--follow" };

    /// <summary>Parses the options of verb <paramref name="verb"/>; the device's log lines go to <paramref name="log"/> prefixed with the verb.</summary>
    public static Options Parse(IEnumerable<string> args, string verb = "wfvae", TextWriter? log = null)
    {
        var o = new Options { _log = log == null ? null : line => log.WriteLine($"wfvae {verb}: {line}") };
        var list = args.ToList();
        var positional = new List<string>();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (!a.StartsWith("--")) { positional.Add(a); continue; }
            if (Flags.Contains(a)) { o._values[a] = null; continue; }
            if (i + 1 >= list.Count) throw new UsageException($"{a} needs a value");
            o._values[a] = list[++i];
        }
        foreach (var p in positional)
        {
            var slot = !o.Has("--input") ? "--input" : !o.Has("--output") ? "--output"
                : throw new UsageException($"unexpected argument '{p}' (--input and --output are already given)");
            o._values[slot] = p;
        }
        return o;
    }

    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;
    public string Require(string name) => Get(name) ?? throw new UsageException($"{name} is required");
    public bool Has(string name) => _values.ContainsKey(name);
    public string? Device => Get("--device");

    private Action<string>? _log;

    /// <summary>
    /// The options of the devices this command opens: --device, --verbose (each convolution's kernel, precision and
    /// tile shape, once per layer), the log on stderr; the rest from WFVAE_* variables.
    /// </summary>
    public DeviceOptions DeviceOptions => new() { Selector = Device, Verbose = Has("--verbose") ? true : null, Log = _log };

    /// <summary>--precision fp32|fp16; null = the device's default (<see cref="PrecisionInfo.DefaultFor"/>).</summary>
    public Precision? Precision
    {
        get
        {
            if (Get("--precision") is not { } text) return null;
            try { return PrecisionInfo.Parse(text); }
            catch (ArgumentException e) { throw new UsageException($"--precision: {e.Message}"); }
        }
    }
}
