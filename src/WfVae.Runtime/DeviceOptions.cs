using System.Globalization;

namespace WfVae.Runtime;

/// <summary>
/// Which compiled variant runs the tiled GEMM kernels that have several (today the convolution): storage buffers
/// with shared-memory tiles (GPUs), texel-buffer operands (CPU drivers), or the texel kernel computing runs of a row.
/// </summary>
public enum KernelVariant { Ssbo, Texel, TexelRows, TexelPointwise }

/// <summary>How convolutions with a 3×3 spatial kernel pick between the direct kernels and Winograd.</summary>
public enum WinogradMode
{
    /// <summary>Per device class and layer (Winograd on CPU drivers, direct kernels on GPUs until measured there).</summary>
    Auto,
    /// <summary>Direct kernels only.</summary>
    Off,
    /// <summary>Winograd on every 3×3 conv; a 3×3 layer it cannot run (strided, right/bottom padding) is refused by name.</summary>
    Forced,
}

/// <summary>Output tile of a Winograd convolution F(m×m, 3×3): 2 or 4 output rows and columns per tile.</summary>
public enum WinogradTile
{
    F2 = 2,
    F4 = 4,
}

/// <summary>
/// A workgroup tile of the tiled kernels: WG invocations, WGN of them along positions, TM × TN outputs each, BK-deep
/// K steps; <paramref name="Subgroup8"/> shares weights across 8-wide subgroups (tuning only).
/// </summary>
public readonly record struct TileShape(int WG, int WGN, int TM, int TN, int BK, bool Subgroup8 = false)
{
    /// <summary>"WG,WGN,TM,TN,BK": five positive numbers; anything else throws naming <paramref name="source"/>.</summary>
    public static TileShape Parse(string text, string source)
    {
        var v = text.Split(',').Select(s => int.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1).ToArray();
        if (v.Length != 5 || v.Any(n => n <= 0))
            throw new ArgumentException($"{source} must be five positive numbers WG,WGN,TM,TN,BK; got '{text}'");
        return new TileShape(v[0], v[1], v[2], v[3], v[4]);
    }

    public override string ToString() => $"{WG},{WGN},{TM},{TN},{BK}";
}

/// <summary>Kernel choices forced for diagnosis and tuning; null leaves each choice to the operator (per device and layer).</summary>
public sealed record KernelOptions
{
    /// <summary>The variant of the tiled kernels on every layer (WFVAE_CONV_VARIANT).</summary>
    public KernelVariant? Variant { get; init; }
    /// <summary>The workgroup tile of the tiled kernels (WFVAE_CONV_TILES).</summary>
    public TileShape? Tiles { get; init; }
    /// <summary>
    /// Winograd on the 3×3 convs (WFVAE_CONV_VARIANT=winograd…: forced; direct, ssbo, texel, texel-rows, texel-pointwise: off); null =
    /// off where <see cref="Variant"/> forces a direct kernel, else auto. Read when weights load: it picks their layout.
    /// </summary>
    public WinogradMode? Winograd { get; init; }
    /// <summary>The Winograd tile wherever Winograd runs (winograd-f2, winograd-f4); null = F(4x4,3x3) in fp32, F(2x2,3x3) in fp16.</summary>
    public WinogradTile? WinogradTile { get; init; }
    /// <summary>
    /// The Winograd products on CPU drivers read their operands through device addresses instead of texel views
    /// (WFVAE_ADDRESS_LOADS); null = where the driver turns such loads into vector gathers (lavapipe from Mesa 25).
    /// </summary>
    public bool? AddressLoads { get; init; }
    /// <summary>Bytes of transformed-tile scratch one Winograd pass may use; null = 32 MiB (larger pushes run in chunks, same bits).</summary>
    public long? WinogradScratchBytes { get; init; }

    /// <summary>
    /// A WFVAE_CONV_VARIANT value: "direct" (the device's direct kernels, Winograd off), "ssbo", "texel", "texel-rows",
    /// "texel-pointwise" (that direct kernel, Winograd off), "winograd" (forced, default tile), "winograd-f2", "winograd-f4" (forced, that
    /// tile); any case, spaces around. Anything else throws naming <paramref name="source"/>.
    /// </summary>
    public static KernelOptions ParseVariant(string text, string source) => text.Trim().ToLowerInvariant() switch
    {
        "direct" => new() { Winograd = WinogradMode.Off },
        "ssbo" => new() { Variant = KernelVariant.Ssbo, Winograd = WinogradMode.Off },
        "texel" => new() { Variant = KernelVariant.Texel, Winograd = WinogradMode.Off },
        "texel-rows" => new() { Variant = KernelVariant.TexelRows, Winograd = WinogradMode.Off },
        "texel-pointwise" => new() { Variant = KernelVariant.TexelPointwise, Winograd = WinogradMode.Off },
        "winograd" => new() { Winograd = WinogradMode.Forced },
        "winograd-f2" => new() { Winograd = WinogradMode.Forced, WinogradTile = Runtime.WinogradTile.F2 },
        "winograd-f4" => new() { Winograd = WinogradMode.Forced, WinogradTile = Runtime.WinogradTile.F4 },
        _ => throw new ArgumentException($"{source}={text}: expected 'direct', 'ssbo', 'texel', 'texel-rows', 'texel-pointwise', 'winograd', 'winograd-f2' or 'winograd-f4'"),
    };

    /// <summary>The mode in force: <see cref="Winograd"/>, else off where a direct variant is forced, else auto.</summary>
    public WinogradMode WinogradInForce => Winograd ?? (Variant != null ? WinogradMode.Off : WinogradMode.Auto);

    /// <summary>The name of a variant in logs and in WFVAE_CONV_VARIANT: "ssbo", "texel", "texel-rows", "texel-pointwise".</summary>
    public static string Name(KernelVariant v) => v switch
    {
        KernelVariant.TexelRows => "texel-rows",
        KernelVariant.TexelPointwise => "texel-pointwise",
        _ => v.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// How to choose and configure a device: every switch of the engine, in one place. A property left null takes the
/// value of its WFVAE_* environment variable, read once when the device is created (<see cref="WithEnvironment"/>),
/// else the built-in default; code sets any of them per device. The table of variables is in docs/architecture.md
/// ("Options").
/// </summary>
public sealed record DeviceOptions
{
    public const string SelectorVariable = "WFVAE_DEVICE";
    public const string ValidationVariable = "WFVAE_VALIDATION";
    public const string PrecisionVariable = "WFVAE_PRECISION";
    public const string CooperativeMatrixVariable = "WFVAE_COOPMAT";
    public const string VariantVariable = "WFVAE_CONV_VARIANT";
    public const string TilesVariable = "WFVAE_CONV_TILES";
    public const string VerboseVariable = "WFVAE_VERBOSE";
    public const string ParallelCompileVariable = "WFVAE_PARALLEL_COMPILE";
    public const string StagedTransfersVariable = "WFVAE_STAGED_TRANSFERS";
    public const string AddressLoadsVariable = "WFVAE_ADDRESS_LOADS";

    /// <summary>Index (as listed by <c>wfvae devices</c>) or a case-insensitive name substring (WFVAE_DEVICE); null = default rank.</summary>
    public string? Selector { get; init; }
    /// <summary>Enable VK_LAYER_KHRONOS_validation when installed (WFVAE_VALIDATION); null = on in Debug builds.</summary>
    public bool? Validation { get; init; }
    /// <summary>Storage precision of models loaded on the device without an explicit one (WFVAE_PRECISION); null = <see cref="PrecisionInfo.DefaultFor"/>'s rule.</summary>
    public Precision? Precision { get; init; }
    /// <summary>Cooperative-matrix paths allowed (WFVAE_COOPMAT); null = auto.</summary>
    public CooperativeMatrixSetting? CooperativeMatrix { get; init; }
    /// <summary>Kernel variant, Winograd and tile overrides (WFVAE_CONV_VARIANT, WFVAE_CONV_TILES).</summary>
    public KernelOptions Kernels { get; init; } = new();
    /// <summary>Also log each convolution's kernel, precision and tile shape (WFVAE_VERBOSE=1, the CLI's --verbose).</summary>
    public bool? Verbose { get; init; }
    /// <summary>
    /// The one log sink of everything on this device (warnings such as a failed cooperative-matrix self-check,
    /// validation-layer messages, and with <see cref="Verbose"/> the kernel choices); null = silent. The command line
    /// writes to stderr, the native plugin forwards to its host's callback; a library stays silent unless its user sets it.
    /// It is called from the engine's worker threads too (parallel shader compiles, validation messages raised there), so
    /// it must be thread-safe; the plugin hands such lines to its host on the thread of the call they belong to (CallLog).
    /// </summary>
    public Action<string>? Log { get; init; }
    /// <summary>
    /// On CPU drivers that compile a shader when it first runs: compile a push's shaders on every core before it runs
    /// (<see cref="FirstDispatchCompiler"/>; WFVAE_PARALLEL_COMPILE); null = on.
    /// </summary>
    public bool? ParallelCompile { get; init; }
    /// <summary>
    /// Keep the host out of device memory: tensors are never mapped, and uploads and downloads go through staging
    /// buffers and copies in the command stream, as they must on discrete GPUs (WFVAE_STAGED_TRANSFERS). null = map
    /// device memory only where it is host-cached (CPU drivers, integrated GPUs that mark it so, such as Intel's). Set on a CPU driver, it runs
    /// the discrete-GPU transfer path where tests can check it.
    /// </summary>
    public bool? StagedTransfers { get; init; }
    /// <summary>Where the persistent pipeline cache lives; null = the user's cache folder, "" = none.</summary>
    public string? PipelineCachePath { get; init; }
    /// <summary>Bytes per memory block (capped by the device's storage-buffer range).</summary>
    public ulong BlockBytes { get; init; } = 256UL << 20;

    public static DeviceOptions Default { get; } = new();

    /// <summary>
    /// These options with every unset property taken from the environment (<paramref name="variable"/>, default
    /// <see cref="Environment.GetEnvironmentVariable(string)"/>). A malformed value throws naming the variable.
    /// </summary>
    public DeviceOptions WithEnvironment(Func<string, string?>? variable = null)
    {
        variable ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => variable(name) is { } v && !string.IsNullOrWhiteSpace(v) ? v : null;
        return this with
        {
            Selector = Selector ?? Get(SelectorVariable),
            Validation = Validation ?? ParseFlag(Get(ValidationVariable), ValidationVariable),
            Precision = Precision ?? (Get(PrecisionVariable) is { } p ? ParsePrecision(p) : null),
            CooperativeMatrix = CooperativeMatrix ?? (Get(CooperativeMatrixVariable) is { } c ? CooperativeMatrixPlan.ParseSetting(c) : null),
            Kernels = KernelsWithEnvironment(Get),
            Verbose = Verbose ?? ParseFlag(Get(VerboseVariable), VerboseVariable),
            ParallelCompile = ParallelCompile ?? ParseFlag(Get(ParallelCompileVariable), ParallelCompileVariable),
            StagedTransfers = StagedTransfers ?? ParseFlag(Get(StagedTransfersVariable), StagedTransfersVariable),
        };
    }

    // Each property set in code wins over the variable: WFVAE_CONV_VARIANT sets both the variant and the Winograd mode.
    private KernelOptions KernelsWithEnvironment(Func<string, string?> get)
    {
        var v = get(VariantVariable) is { } text ? KernelOptions.ParseVariant(text, VariantVariable) : new KernelOptions();
        return Kernels with
        {
            Variant = Kernels.Variant ?? v.Variant,
            Winograd = Kernels.Winograd ?? v.Winograd,
            WinogradTile = Kernels.WinogradTile ?? v.WinogradTile,
            Tiles = Kernels.Tiles ?? (get(TilesVariable) is { } t ? TileShape.Parse(t, TilesVariable) : null),
            AddressLoads = Kernels.AddressLoads ?? ParseFlag(get(AddressLoadsVariable), AddressLoadsVariable),
        };
    }

    private static bool? ParseFlag(string? text, string name) => text?.Trim().ToLowerInvariant() switch
    {
        null => null,
        "1" or "true" or "on" or "yes" => true,
        "0" or "false" or "off" or "no" => false,
        _ => throw new ArgumentException($"{name}={text}: expected 1 or 0"),
    };

    private static Precision ParsePrecision(string text)
    {
        try { return PrecisionInfo.Parse(text); }
        catch (ArgumentException e) { throw new ArgumentException($"{PrecisionVariable}={text}: {e.Message}"); }
    }
}
