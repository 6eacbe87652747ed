using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>Entry point of the <c>wfvae</c> tool: one verb per command, one-line errors, nonzero exit on failure.</summary>
public static class CommandLine
{
    public const string Usage = """
        wfvae — WF-VAE video VAE on Vulkan

        usage: wfvae <command> [options]

        commands:
          encode [--model <dir|file>] --input <in> --output <out.wfl|out.safetensors>
                                  <in> is a video file or URL (anything FFmpeg opens; - = stdin), raw frames
                                  (--raw), or a safetensors tensor [N,3,T,H,W] in [-1,1] (--tensor video);
                                  writes a .wfl latent stream or 'mean' and 'logvar' (--sample-seed <n> also
                                  writes a seeded 'sample') to .safetensors
          decode [--model <dir|file>] --input <file.wfl|file.safetensors> [--tensor mean] --output <out>
                                  <out> is a video file (.mp4, .mkv, .webm, ...), raw frames with --raw
                                  rgb24|f32 (a file, or - / no --output: stdout), or .safetensors ('decoded'
                                  [N,3,T,H,W]); frame rate and size as recorded by encode
          recon [--model <dir|file>] --input <in> --output <out>
                                  encode + decode chunk by chunk (frames flow through, the clip is never held)
                                  and print PSNR / SSIM against the input (mean over frames); <in> as for
                                  encode, <out> as for decode (with --raw and no --output: stdout)
          input options (encode, recon):
            --raw WxH[@fps]       raw packed RGB24 frames of that size (fps default 30), from a file or - (stdin)
            --raw rgb24|f32 --size WxH [--fps 30000/1001]
                                  the same, or planar float32 [3][H][W] in [-1,1]
            --vf <filtergraph>    FFmpeg filter graph applied before the VAE, e.g. "scale=512:512,fps=8"; frames
                                  reach it upright (a phone clip's display rotation applied, as ffmpeg does)
            --no-autorotate       keep the frames as stored (ignore the display rotation)
            --format <name>       FFmpeg input format instead of probing (e.g. mpegts for a pipe)
            --fps <rate>          override the source frame rate (30, 29.97, 30000/1001)
            --frames <n>          read at most n frames (e.g. of a live stream)
            --timeout <seconds>   live inputs: end the stream after this long without data (default 10)
            --follow              read a file that is still being written (e.g. MPEG-TS) until it stops
                                  growing for --timeout seconds
            --pad                 frame sizes that are not multiples of 8: pad by edge replication and crop
                                  the output back (otherwise such sizes are an error)
          output options (decode, recon):
            --codec <name>        libavcodec encoder (default libx264, else mpeg4; .avi mpeg4; .webm .ogv .y4m their own)
            --crf <n>             quality for x264/x265 (default 18; lower is better)
            --raw rgb24|f32       raw frames instead of a video file (decode; recon uses the input's layout)
            --fps <rate>          decode: override the recorded frame rate of a video or raw output
            --allow-incomplete    decode: decode the intact part of a .wfl without a valid trailer (a killed
                                  writer's, cut short or damaged; refused otherwise: 'wfvae repair' completes it)
          a bare argument stands for --input, a second one for --output: wfvae recon --raw 256x256@24 - | ...
          streaming options (encode, decode, recon):
            --chunk <n>           encode: video frames per push after the first frame (a multiple of 4, default 4);
                                  decode: latent frames per push (default 1); 0 = whole-clip inference.
                                  Every chunking gives the same numbers; GroupNorm models run whole clips only.
            --policy pad|drop     encode, recon: when T is not 1+4k, repeat the last frame (pad, default; decode returns
                                  exactly T frames) or leave the incomplete group out (drop, the official behaviour)
            --stats <file.json>   peak device bytes, frames in/out, padded/dropped frames, per-chunk latency (ms);
                                  recon: both directions plus PSNR and SSIM
            --quiet               no summary and no progress line (progress shows only when stderr is a terminal)
          info [--model <dir|file>] print the config, parameter counts and device memory of a checkpoint
               [--height H --width W [--chunk 4]]
                                  also the per-chunk device memory plan for HxW frames (weights, caches,
                                  planned activations, live-set bound), measured by pushing zeros on the device
          info --input <file.wfl|video> [--vf ...]
                                  describe a latent stream (any name: files are told by their first bytes,
                                  so a writer's unfinished <name>.<8 hex>.partial works too), or a video as
                                  encode would read it
          repair --input <file> [--output <out.wfl>]
                                  complete a latent stream whose writer was killed: keep every intact chunk,
                                  cut a damaged tail, write the missing trailer (in place, or to --output)
          convert --input <in.ckpt|in.pt|weights> --output <folder> [--config <config.json>] [--force]
                                  a torch.save training checkpoint (e.g. Open-Sora-Plan's vae/merged.ckpt) to the
                                  official layout (config.json + diffusion_pytorch_model.safetensors, F32); the
                                  pickle is read by a restricted reader that runs nothing (only dicts, strings,
                                  numbers, storages and tensor rebuilds); ema_state_dict, state_dict[.gen_model]
                                  and 'module.' prefixes are unwrapped as Open-Sora-Plan's loader does
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
          bench stream --sessions N [--model <path>] [--frames 17] [--height 64] [--width 64] [--quick (9 at 32x32)]
                                  N concurrent encode+decode streams of different clips on one model (default:
                                  the shipped model): bit-identical to single-session runs: yes|no, aggregate
                                  frames/s, device memory vs N separate models (exit 1 on "no")
          bench soak --model <path> [--frames 10000] [--size 64x64] [--json <file>] [--markdown <file>]
                                  a long stream of raw frames through a pipe into encode and recon, host RSS and
                                  device memory sampled every second; slopes in bytes per frame after frame 100
          bench --preset wfvae-l-16chn | --model <path> [--config <config.json>] [--frames 9] [--height 64] [--width 64]
                [--runs 3] [--precision fp32|fp16] [--json <file>] [--markdown <file>]
                [--peer torch [--peer-device cpu|cuda] [--peer-precision fp32|tf32|bf16]]
                                  whole-model encode/decode: median time, GFLOP/s, peak memory, per-layer GPU time;
                                  --peer torch: also the PyTorch twin (tools/train, python3 with torch or
                                  WFVAE_PYTHON) on the same weights, clip and threads, after its golden check
          warmup [--model <dir|file>] [--height 256 --width 256]
                                  compile every pipeline that encode and decode of HxW frames use (by streaming
                                  zeros through both) into the persistent pipeline cache, so that a later first
                                  push does not wait for the shader compiler; prints one line (pipelines, seconds)
          devices                 list the Vulkan devices and which one is chosen by default
          help                    this text

        a model is a folder with config.json and diffusion_pytorch_model.safetensors (or one other
        .safetensors file, or one .ckpt/.pt/.pth), or such a file with --config <config.json> or a
        config.json beside it; torch checkpoints load directly (read as 'wfvae convert' reads them).
        Without --model, encode, decode, recon, info, warmup and bench stream --sessions use the shipped default model (a small WF-VAE trained
        on real footage, installed beside wfvae as default-model/): wfvae recon in.mp4 out.mp4

        common options:
          --device <index|name>   pick a Vulkan device (also: environment variable WFVAE_DEVICE)
          --precision fp32|fp16   storage precision of weights and activations (arithmetic is fp32 in both);
                                  default fp16 on GPUs that offer it, fp32 on CPU drivers and elsewhere
                                  (also: environment variable WFVAE_PRECISION)
          --verbose               full multi-line error reports, and one line per convolution layer with its
                                  kernel, precision and tile shape (also: WFVAE_VERBOSE=1)

        exit codes: 0 success, 1 bad input/model/output or device error, 2 usage error, 70 internal error,
        129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM, 141 the reader of the output went away (broken pipe).
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
        if (!Verbs.OptionsOf.ContainsKey(args[0]) && !args[0].StartsWith('-') && !args[0].StartsWith('@') && !args[0].StartsWith('['))
        {
            stderr.WriteLine($"wfvae: unknown command '{args[0]}' (see 'wfvae help')");
            return 2;
        }
        // System.CommandLine keeps a response file it cannot read as a word, which surfaced as "Required command was not provided".
        if (args.FirstOrDefault(a => a.Length > 1 && a[0] == '@' && !File.Exists(a[1..])) is { } missing)
        {
            stderr.WriteLine($"wfvae: response file '{missing[1..]}' is not a readable file (an argument starting with @ names one; write ./{missing} for a file named so)");
            return 2;
        }
        var verb = args[0];
        try
        {
            var parse = CommandTree.Build((v, o) => Dispatch(v, o, stdout, stderr)).Parse(args);
            verb = parse.CommandResult.Command.Name;
            if (CommandTree.UsageError(parse) is { } usage) throw usage;
            // Exceptions come to the handlers below; signals are Program's (no cancellation token is handed out).
            return parse.Invoke(new System.CommandLine.InvocationConfiguration
            {
                Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
            });
        }
        catch (Exception e) when (WfVae.IO.Interrupts.IsBrokenPipe(e))
        {
            stderr.WriteLine($"wfvae {verb}: the reader of the output went away (broken pipe){Note(e)}");
            return WfVae.IO.Interrupts.BrokenPipeExitCode;
        }
        // Bad model files are FormatExceptions too, but they are bad input (1), not a usage error (2).
        catch (Exception e) when (e is NoVulkanDeviceException or VulkanException or InvalidDataException or WfVae.Model.Checkpoint.InvalidModelDataException or IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or WfVae.Media.MediaException or OverflowException)
        {
            stderr.WriteLine($"wfvae {verb}: {OneLine(e.Message, args.Contains("--verbose"))}{Note(e)}");
            return 1;
        }
        catch (Exception e) when (e is UsageException or FormatException)
        {
            stderr.WriteLine($"wfvae {verb}: {e.Message}");
            return 2;
        }
        catch (Exception e)
        {
            // A bug, not bad input: still one line, with the details on request.
            stderr.WriteLine($"wfvae {verb}: internal error: {e.GetType().Name}: {e.Message}" + (Environment.GetEnvironmentVariable("WFVAE_DEBUG") == "1" ? "\n" + e : " (WFVAE_DEBUG=1 shows details)"));
            return 70;
        }
    }

    private static int Dispatch(string verb, Options options, TextWriter stdout, TextWriter stderr)
    {
        // The devices a command opens log to stderr under the verb's name (coop self-check, --verbose kernel lines).
        options.Log = line => stderr.WriteLine($"wfvae {verb}: {line}");
        RefuseSharedFiles(verb, options);
        return Run(verb, options, stdout, stderr);
    }

    /// <summary>An output named like the input, or --stats like either, would replace it when written: a usage error.</summary>
    private static void RefuseSharedFiles(string verb, Options o)
    {
        // repair's --output may name its input: that is the in-place repair, done safely by the repair itself.
        var pairs = new[] { ("--output", "--input"), ("--stats", "--input"), ("--stats", "--output") }.Where(p => verb != "repair" || p.Item1 != "--output");
        foreach (var (written, other) in pairs)
            if (o.Get(written) is { } a && o.Get(other) is { } b && WfVae.IO.OutputFile.SameFile(a, b))
                throw new UsageException($"{written} '{a}' is also the {other} file: writing it would replace that; choose another name");
        var target = verb is "decode" or "recon" ? StreamOptions.FramesOutput(o) : o.Get("--output");
        if (o.Get("--stats") is { } stats && target is { } output && WfVae.IO.OutputFile.IsStdout(stats) && WfVae.IO.OutputFile.IsStdout(output))
            throw new UsageException($"--stats '{stats}' and the output '{output}' both write to standard output: the statistics would land inside the output; send one of them to a file");
    }

    private static int Run(string verb, Options options, TextWriter stdout, TextWriter stderr) => verb switch
    {
        "devices" => Devices(options, stdout),
        "encode" => EncodeCommand.Run(options, stdout, stderr),
        "decode" => DecodeCommand.Run(options, stdout, stderr),
        "recon" => ReconCommand.Run(options, stdout, stderr),
        "info" => ModelCommands.Info(options, stdout, stderr),
        "repair" => RepairCommand.Run(options, stdout, stderr),
        "convert" => ConvertCommand.Run(options, stdout),
        "generate" => GenerateCommand.Run(options, stdout, stderr),
        "verify" => VerifyCommand.Run(options, stdout),
        "bench" => BenchCommand.Run(options, stdout, stderr),
        "warmup" => WarmupCommand.Run(options, stdout, stderr),
        _ => throw new UsageException($"unknown command '{verb}' (see 'wfvae help')"),
    };

    /// <summary>Key of <see cref="Exception.Data"/> under which a command adds what survived the failure (a kept partial stream).</summary>
    internal const string NoteKey = "wfvae.note";

    private static string Note(Exception e) => e.Data[NoteKey] is string note ? "; " + note : "";

    /// <summary>What the signal handler and failures say about a latent stream kept on purpose.</summary>
    internal static string KeptNote(IReadOnlyList<string> kept) =>
        $"the latents encoded so far are kept in '{string.Join("', '", kept)}' ('wfvae repair' completes it; 'wfvae decode --allow-incomplete' reads it as it is)";

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

    /// <summary>"memory: …": how tensors reach the host on this device (docs/architecture.md, Memory).</summary>
    internal static string MemoryLine(PhysicalDeviceInfo d, bool staged) =>
        $"memory: {d.DeviceLocalBytes / (1024.0 * 1024 * 1024):F1} GiB device-local, " + (staged
            ? "read and written by staged copies (WFVAE_STAGED_TRANSFERS)"
            : d.HostCachedDeviceMemory ? "mapped by the host (host-cached)" : "read and written by staged copies (not host-cached)");

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
            stdout.WriteLine($"      {MemoryLine(d, resolved.StagedTransfers == true)}");
            if (d.Shortfall is { } why) stdout.WriteLine($"      cannot run the engine: {why}");
        }
        return 0;
    }
}
