using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>A command-line mistake: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The options of one command after parsing (<see cref="CommandTree"/>): --name value pairs, flags with no
/// value. Up to two bare arguments (e.g. "-" in a pipe) stand for --input and then --output when those are
/// not given; bench takes its benchmark's name (ops, stream, soak) instead.
/// </summary>
public sealed class Options
{
    private readonly Dictionary<string, string?> _values;

    /// <summary>bench's first bare argument; null for other verbs.</summary>
    public string? Benchmark { get; }

    private Options(Dictionary<string, string?> values, string? benchmark) => (_values, Benchmark) = (values, benchmark);

    public static Options From(string verb, Dictionary<string, string?> values, IReadOnlyList<string> positionals)
    {
        if (verb == "bench")
        {
            if (positionals.Count > 1) throw new UsageException($"unexpected argument '{positionals[1]}' (bench takes one benchmark name)");
            return new Options(values, positionals.FirstOrDefault());
        }
        foreach (var p in positionals)
        {
            var slot = !values.ContainsKey("--input") ? "--input" : !values.ContainsKey("--output") ? "--output"
                : throw new UsageException($"unexpected argument '{p}' (--input and --output are already given)");
            // A verb without that option would silently ignore the argument (wfvae warmup <model> meaning --model).
            if (Verbs.OptionsOf.TryGetValue(verb, out var known) && !known.Contains(slot))
                throw new UsageException($"unexpected argument '{p}' ('{verb}' takes no {slot}; 'wfvae {verb} --help' lists its options)");
            values[slot] = p;
        }
        return new Options(values, null);
    }

    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;
    public string Require(string name) => Get(name) ?? throw new UsageException($"{name} is required");
    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>A required --input/--output that only a file or folder can be: "-" would be taken as a name in the current folder.</summary>
    public string RequirePath(string name, string what) =>
        Require(name) is var value && value == "-" ? throw new UsageException($"{name} -: {what}, not stdin or stdout; give a path") : value;
    public string? Device => Get("--device");

    /// <summary>Where the devices this command opens write their log lines (set by the dispatcher: stderr, prefixed with the verb).</summary>
    public Action<string>? Log { get; set; }

    /// <summary>
    /// The options of the devices this command opens: --device, --verbose (each convolution's kernel, precision and
    /// tile shape, once per layer), the log; the rest from WFVAE_* variables.
    /// </summary>
    public DeviceOptions DeviceOptions => new() { Selector = Device, Verbose = Has("--verbose") ? true : null, Log = Log };

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
