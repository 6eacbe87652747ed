using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>Entry point of the <c>wfvae</c> tool: one verb per command, one-line errors, nonzero exit on failure.</summary>
public static class CommandLine
{
    public const string Usage = """
        wfvae — WF-VAE video VAE on Vulkan

        usage: wfvae <command> [options]

        commands:
          encode --model <dir|file> --input <file.safetensors> [--tensor video] --output <out.safetensors|out.wfl>
                                  encode a video tensor [N,3,T,H,W] in [-1,1]; writes 'mean' and 'logvar'
                                  (--sample-seed <n> also writes a seeded 'sample') or a .wfl latent stream
                 --input <file|-> --raw rgb24|f32 --size WxH [--fps 30000/1001]
                                  encode raw frames (packed RGB24, or planar float32 [3][H][W]) from a file or stdin
          decode --model <dir|file> --input <file.safetensors|file.wfl> [--tensor mean] --output <out.safetensors>
                                  decode latents [N,L,t,h,w] or a .wfl stream; writes 'decoded' [N,3,T,H,W]
                 --output <file|-> --raw rgb24|f32   write raw frames to a file or stdout as they are decoded
          streaming options (encode, decode):
            --chunk <n>           encode: video frames per push after the first frame (a multiple of 4, default 4);
                                  decode: latent frames per push (default 1); 0 = whole-clip inference.
                                  Every chunking gives the same numbers; GroupNorm models run whole clips only.
            --policy pad|drop     encode: when T is not 1+4k, repeat the last frame (pad, default; decode returns
                                  exactly T frames) or leave the incomplete group out (drop, the official behaviour)
            --stats <file.json>   peak device bytes, frames in/out, padded/dropped frames, per-chunk latency (ms)
          info --model <dir|file>  print the config, parameter counts and device memory of a checkpoint
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
          bench --preset wfvae-l-16chn | --model <path> [--frames 9] [--height 64] [--width 64]
                [--runs 3] [--json <file>] [--markdown <file>]
                                  whole-model encode/decode: median time, GFLOP/s, peak memory, per-layer GPU time
          devices                 list the Vulkan devices and which one is chosen by default
          help                    this text

        a model is a folder with config.json and diffusion_pytorch_model.safetensors (or one other
        .safetensors file), or a .safetensors file with --config <config.json> or a config.json beside it.

        common options:
          --device <index|name>   pick a Vulkan device (also: environment variable WFVAE_DEVICE)
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
            var options = Options.Parse(args.Skip(1));
            switch (args[0])
            {
                case "devices":
                    return Devices(options, stdout);
                case "encode":
                    return EncodeCommand.Run(options, stdout);
                case "decode":
                    return DecodeCommand.Run(options, stdout);
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
        catch (Exception e) when (e is UsageException or FormatException or OverflowException)
        {
            stderr.WriteLine($"wfvae {args[0]}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is NoVulkanDeviceException or VulkanException or InvalidDataException or WfVae.Model.Checkpoint.InvalidModelDataException or IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"wfvae {args[0]}: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            // A bug, not bad input: still one line, with the details on request.
            stderr.WriteLine($"wfvae {args[0]}: internal error: {e.GetType().Name}: {e.Message}" + (Environment.GetEnvironmentVariable("WFVAE_DEBUG") == "1" ? "\n" + e : " (WFVAE_DEBUG=1 shows details)"));
            return 70;
        }
    }

    private static int Devices(Options o, TextWriter stdout)
    {
        var devices = VulkanDevice.Enumerate();
        var chosen = VulkanDevice.Select(devices, o.Device ?? Environment.GetEnvironmentVariable(DeviceOptions.SelectorVariable));
        foreach (var d in devices)
            stdout.WriteLine($"{(d.Index == chosen.Index ? "*" : " ")} {d}");
        return 0;
    }
}

/// <summary>A command-line mistake: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>--name value options; flags have no value.</summary>
public sealed class Options
{
    private readonly Dictionary<string, string?> _values = new();
    private static readonly HashSet<string> Flags = new() { "--quiet", "--verbose", "--quick", "--force" };

    public static Options Parse(IEnumerable<string> args)
    {
        var o = new Options();
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (!a.StartsWith("--")) throw new UsageException($"unexpected argument '{a}'");
            if (Flags.Contains(a)) { o._values[a] = null; continue; }
            if (i + 1 >= list.Count) throw new UsageException($"{a} needs a value");
            o._values[a] = list[++i];
        }
        return o;
    }

    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;
    public string Require(string name) => Get(name) ?? throw new UsageException($"{name} is required");
    public bool Has(string name) => _values.ContainsKey(name);
    public string? Device => Get("--device");
}
