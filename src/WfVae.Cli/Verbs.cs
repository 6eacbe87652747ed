namespace WfVae.Cli;

/// <summary>
/// Which options each verb takes. An option a verb does not know is a usage error (exit 2) with the
/// nearest known name suggested: a misspelt option silently ignored would run with a default the
/// user meant to change (<c>--polcy drop</c> running with <c>pad</c>).
/// </summary>
internal static class Verbs
{
    /// <summary>Options that take no value.</summary>
    public static readonly IReadOnlySet<string> Flags = new HashSet<string> { "--quiet", "--verbose", "--quick", "--force", "--pad", "--follow", "--allow-incomplete", "--no-autorotate" };

    private static readonly string[] Device = ["--device", "--precision", "--verbose"];
    internal static readonly string[] Model = ["--model", "--config", .. Device];
    internal static readonly string[] VideoInput = ["--raw", "--size", "--fps", "--vf", "--format", "--frames", "--timeout", "--follow", "--no-autorotate", "--pad"];
    private static readonly string[] Streaming = ["--chunk", "--policy", "--stats", "--quiet"];
    private static readonly string[] VideoOutput = ["--codec", "--crf"];

    public static readonly IReadOnlyDictionary<string, string[]> OptionsOf = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["encode"] = ["--input", "--output", "--tensor", "--sample-seed", .. Model, .. VideoInput, .. Streaming],
        ["decode"] = ["--input", "--output", "--tensor", "--allow-incomplete", "--raw", "--fps", "--chunk", "--stats", "--quiet", .. Model, .. VideoOutput], // no --policy: latents need no frame-count policy
        ["recon"] = ["--input", "--output", .. Model, .. VideoInput, .. Streaming, .. VideoOutput],
        ["info"] = ["--input", "--height", "--width", "--chunk", .. Model, .. VideoInput],
        ["repair"] = ["--input", "--output", "--quiet", "--verbose"],
        ["convert"] = ["--input", "--output", "--config", "--force", "--quiet", "--verbose"],
        ["generate"] = ["--preset", "--config", "--output", "--dtype", "--seed", "--force", "--quiet", "--verbose"],
        ["verify"] = ["--case", .. Device],
        ["devices"] = ["--device", "--verbose"],
        ["warmup"] = ["--height", "--width", .. Model],
        ["bench"] = ["--quick", "--sessions", "--peer", "--peer-device", "--peer-precision", "--markdown", "--preset", "--model", "--config", "--frames", "--height", "--width", "--runs", "--json", "--size", .. Device],
    };

    /// <summary>One line per verb for the generated per-command help (`wfvae encode --help`); `wfvae help` has the full reference.</summary>
    public static readonly IReadOnlyDictionary<string, string> Summaries = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["encode"] = "video (file, URL, raw frames, - for stdin, or a [N,3,T,H,W] safetensors tensor) -> latents (.wfl stream or .safetensors)",
        ["decode"] = "latents (.wfl or .safetensors) -> a video file, raw frames (--raw) or a safetensors tensor",
        ["recon"] = "encode and decode in one stream; prints PSNR and SSIM against the input",
        ["info"] = "describe a checkpoint (--model, with --height/--width the memory plan) or an input (--input)",
        ["repair"] = "complete a latent stream whose writer was killed (write the missing trailer)",
        ["convert"] = "a torch.save checkpoint (.ckpt/.pt, e.g. Open-Sora-Plan's merged.ckpt) to config.json + safetensors",
        ["generate"] = "write a randomly initialised checkpoint with the official key names",
        ["verify"] = "compare encode/decode with the official PyTorch outputs of a reference case",
        ["devices"] = "list the Vulkan devices; * marks the default choice",
        ["warmup"] = "compile every pipeline encode and decode use into the pipeline cache (for installers)",
        ["bench"] = "performance figures: ops, stream, soak, or a whole model (--preset/--model)",
    };

    /// <summary>Short help per option (the reference with every detail is docs/cli.md and `wfvae help`).</summary>
    public static readonly IReadOnlyDictionary<string, string> Help = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--input"] = "input file, URL or - (stdin); also the first bare argument",
        ["--output"] = "output file, folder or - (stdout); also the second bare argument",
        ["--model"] = "checkpoint folder or weights file (.safetensors, .ckpt, .pt)",
        ["--config"] = "config.json (default: beside the weights)",
        ["--device"] = "Vulkan device index or name substring (also WFVAE_DEVICE)",
        ["--precision"] = "storage precision fp32|fp16 (also WFVAE_PRECISION)",
        ["--verbose"] = "full error reports and one line per convolution layer",
        ["--quiet"] = "no summary and no progress line",
        ["--raw"] = "raw frames: WxH[@fps] (rgb24), or rgb24|f32 with --size",
        ["--size"] = "frame size WxH",
        ["--fps"] = "frame rate: 30, 29.97 or 30000/1001",
        ["--vf"] = "FFmpeg filter graph applied before the VAE",
        ["--format"] = "FFmpeg input format instead of probing",
        ["--frames"] = "read at most this many frames",
        ["--timeout"] = "live inputs: seconds without data that end the stream (default 10)",
        ["--follow"] = "read a file that is still being written",
        ["--no-autorotate"] = "keep frames as stored instead of turning them upright by the stream's display matrix",
        ["--pad"] = "edge-pad frame sizes that are not multiples of 8 (output cropped back)",
        ["--chunk"] = "frames per push (encode: multiple of 4, default 4; decode: default 1; 0 = whole clip)",
        ["--policy"] = "frame counts other than 1+4k: pad (default) or drop",
        ["--stats"] = "write timing and memory figures to this JSON file",
        ["--tensor"] = "tensor name in a safetensors input (video / mean)",
        ["--sample-seed"] = "also write a seeded 'sample' of the posterior",
        ["--codec"] = "libavcodec encoder (default libx264, else mpeg4; .avi mpeg4; .webm .ogv .y4m their own)",
        ["--crf"] = "x264/x265 quality 0..63 (default 18)",
        ["--height"] = "frame height",
        ["--width"] = "frame width",
        ["--preset"] = "named config (wfvae-l-16chn)",
        ["--dtype"] = "f32|f16|bf16",
        ["--seed"] = "random seed",
        ["--force"] = "write into a non-empty folder",
        ["--case"] = "reference case folder (config.json, model.safetensors, io.safetensors)",
        ["--quick"] = "fewer shapes and runs",
        ["--markdown"] = "also write the table into this Markdown file",
        ["--json"] = "also write the figures to this JSON file",
        ["--sessions"] = "bench stream: N concurrent sessions on one model",
        ["--peer"] = "bench: also run the PyTorch twin (torch) on the same weights and clip",
        ["--peer-device"] = "the twin's device: cpu or cuda (default: cpu on a CPU driver, cuda beside a GPU)",
        ["--peer-precision"] = "the twin's arithmetic: fp32, tf32 (cuda) or bf16 (default: tf32 on cuda, fp32 on cpu)",
        ["--runs"] = "timed runs (median reported)",
    };

    /// <summary>
    /// Where one verb's option means something else than <see cref="Help"/> says ("verb --option"): bench's --frames is
    /// the clip length, not a limit on what is read; repair, convert and generate run no convolution.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> VerbHelp = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["repair --input"] = "the latent stream to complete (a .wfl or a writer's .partial); also the first bare argument",
        ["repair --output"] = "write the completed stream here instead of in place; also the second bare argument",
        ["convert --config"] = "the checkpoint's config.json (default: beside it)",
        ["generate --config"] = "config.json to instantiate (instead of --preset)",
        ["bench --frames"] = "frames of the clip (default 9; --sessions: 17, with --quick 9; soak: 10000)",
        ["bench --height"] = "frame height (default 64; --sessions --quick: 32)",
        ["bench --width"] = "frame width (default 64; --sessions --quick: 32)",
        ["decode --input"] = "latents (.wfl or .safetensors file); also the first bare argument",
        ["encode --output"] = "latents: a .wfl stream or a .safetensors file; also the second bare argument",
        ["convert --input"] = "torch checkpoint (.ckpt, .pt) or weights file; also the first bare argument",
        ["convert --output"] = "folder for config.json + safetensors; also the second bare argument",
        ["generate --output"] = "folder for config.json + safetensors",
        ["decode --allow-incomplete"] = "decode the intact part of a latent stream without a valid trailer (killed writer, cut off, damaged)",
        ["decode --fps"] = "frame rate of a video or raw output (default: as recorded by encode)",
        ["bench --size"] = "soak: frame size WxH (default 64x64)",
        ["repair --verbose"] = "full error reports",
        ["convert --verbose"] = "full error reports",
        ["generate --verbose"] = "full error reports",
        ["repair --quiet"] = "no summary line",
        ["convert --quiet"] = "no summary line",
        ["generate --quiet"] = "no summary and no progress line",
    };

    /// <summary>The help line of <paramref name="option"/> under <paramref name="verb"/>.</summary>
    public static string HelpOf(string verb, string option) =>
        VerbHelp.TryGetValue($"{verb} {option}", out var text) ? text : Help.GetValueOrDefault(option, "");

    /// <summary>Values offered by tab completion (checked by the commands themselves, with their own messages).</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Completions = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["--policy"] = ["pad", "drop"],
        ["--precision"] = ["fp32", "fp16"],
        ["--raw"] = ["rgb24", "f32"],
        ["--dtype"] = ["f32", "f16", "bf16"],
        ["--preset"] = ["wfvae-l-16chn"],
        ["--peer"] = ["torch"],
        ["--peer-device"] = ["cpu", "cuda"],
        ["--peer-precision"] = ["fp32", "tf32", "bf16"],
    };

    /// <summary>Throws a <see cref="UsageException"/> for an option <paramref name="verb"/> does not take.</summary>
    public static void CheckOption(string verb, string option)
    {
        if (!OptionsOf.TryGetValue(verb, out var known) || known.Contains(option)) return;
        var nearest = known.MinBy(k => Distance(k, option));
        var hint = nearest != null && Distance(nearest, option) <= 2 ? $" (did you mean {nearest}?)" : "";
        throw new UsageException($"unknown option '{option}' for '{verb}'{hint}; 'wfvae help' lists the options");
    }

    /// <summary>Edit distance (insertions, deletions, substitutions).</summary>
    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
