using System.Text;

namespace WfVae.Runtime;

/// <summary>Which cooperative-matrix extension runs the conv GEMM core (issue #6); None = the scalar kernels.</summary>
public enum CooperativeMatrixPath { None, Khr, Nv }

/// <summary>
/// The WFVAE_COOPMAT environment variable: "auto" (default: KHR where usable, else NV), "off" (scalar kernels only),
/// "khr" (KHR only, NV off) or "nv" (NV only, KHR off). For diagnosis: turn a path off and compare.
/// </summary>
public enum CooperativeMatrixSetting { Auto, Off, Khr, Nv }

/// <summary>One cooperative-matrix shape a device lists (vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR/NV).</summary>
/// <remarks>Component types and scope are the Vulkan enum values, which KHR and NV share (FLOAT16 = 0, FLOAT32 = 1, SUBGROUP = 3).</remarks>
public readonly record struct CooperativeMatrixShape(uint M, uint N, uint K, int AType, int BType, int CType, int ResultType, int Scope)
{
    public const int Float16 = 0, Float32 = 1, ScopeSubgroup = 3;

    /// <summary>The shape conv_coop.comp uses: subgroup scope, 16×16×16, fp16 × fp16 + fp32 → fp32.</summary>
    public bool IsConvShape => M == 16 && N == 16 && K == 16 && AType == Float16 && BType == Float16
        && CType == Float32 && ResultType == Float32 && Scope == ScopeSubgroup;

    public override string ToString() => $"{M}x{N}x{K} {TypeName(AType)}*{TypeName(BType)}+{TypeName(CType)}->{TypeName(ResultType)}{(Scope == ScopeSubgroup ? "" : $" scope {Scope}")}";

    private static string TypeName(int t) => t switch { Float16 => "f16", Float32 => "f32", 2 => "f64", 3 => "s8", 5 => "s32", 7 => "u8", 9 => "u32", _ => $"t{t}" };
}

/// <summary>What a device offers for one cooperative-matrix extension.</summary>
public sealed record CooperativeMatrixExtension(bool Offered, bool Feature, bool Compute, IReadOnlyList<CooperativeMatrixShape> Shapes)
{
    public static CooperativeMatrixExtension Absent { get; } = new(false, false, false, Array.Empty<CooperativeMatrixShape>());
    public bool HasConvShape => Shapes.Any(s => s.IsConvShape);
}

/// <summary>
/// What a physical device offers for cooperative matrices, read at enumeration. <see cref="Prerequisites"/>: the
/// kernel also needs shaderFloat16, storageBuffer16BitAccess and vulkanMemoryModel (Vulkan 1.2 features).
/// </summary>
public sealed record CooperativeMatrixOffer(CooperativeMatrixExtension Khr, CooperativeMatrixExtension Nv, bool Nv2Offered, bool Float16, bool MemoryModel)
{
    public static CooperativeMatrixOffer None { get; } = new(CooperativeMatrixExtension.Absent, CooperativeMatrixExtension.Absent, false, false, false);
    public bool Prerequisites => Float16 && MemoryModel;
}

/// <summary>
/// What a build of the cooperative-matrix kernels contains: whether the glslc used accepts each GLSL extension and
/// whether each kernel was compiled (key=value lines written by the shader build; glslc-path is the compiler used).
/// The operator library that embeds the kernels parses its own notes; the runtime only judges them.
/// </summary>
public sealed record CooperativeMatrixBuild(string Glslc, bool KhrAccepted, bool NvAccepted, bool Nv2Accepted, bool KhrBuilt, bool NvBuilt)
{
    /// <summary>
    /// What a device is created with: the runtime does not know which kernels the operator library embeds, so it
    /// enables every path the device and the setting allow, and the library resolves the path at first use
    /// (<see cref="CooperativeMatrixState.Resolve"/>).
    /// </summary>
    public static CooperativeMatrixBuild Unknown { get; } = new("the operator library (checked at first use)", true, true, false, true, true);

    /// <summary>Parses the key=value lines; missing keys read as false (nothing built).</summary>
    public static CooperativeMatrixBuild Parse(string? text)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in (text ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = line.IndexOf('=');
            if (eq > 0) map[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        bool Flag(string k) => map.TryGetValue(k, out var v) && v.Equals("true", StringComparison.OrdinalIgnoreCase);
        return new CooperativeMatrixBuild(
            map.TryGetValue("glslc", out var g) && g.Length > 0 ? g : "unknown glslc",
            Flag("GL_KHR_cooperative_matrix"), Flag("GL_NV_cooperative_matrix"), Flag("GL_NV_cooperative_matrix2"),
            Flag("kernel-khr"), Flag("kernel-nv"))
        {
            GlslcPath = map.TryGetValue("glslc-path", out var path) && path.Length > 0 ? path : null,
        };
    }

    /// <summary>The glslc the build ran (as given to MSBuild), when recorded.</summary>
    public string? GlslcPath { get; init; }
}

/// <summary>The cooperative-matrix path chosen for a device, with the reason for each extension, in words.</summary>
public sealed record CooperativeMatrixPlan(CooperativeMatrixPath Path, string Khr, string Nv, string Nv2)
{
    private const string Variable = DeviceOptions.CooperativeMatrixVariable;

    public static CooperativeMatrixSetting ParseSetting(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" or "1" or "on" => CooperativeMatrixSetting.Auto,
        "off" or "0" or "none" or "scalar" => CooperativeMatrixSetting.Off,
        "khr" => CooperativeMatrixSetting.Khr,
        "nv" => CooperativeMatrixSetting.Nv,
        _ => throw new ArgumentException($"{Variable}={text}: expected auto, off, khr or nv"),
    };

    /// <summary>
    /// KHR is preferred where both are usable (the portable extension; the kernel is the same). A path is usable when
    /// the device offers the extension with its feature, compute-stage support and the 16×16×16 fp16/fp32 subgroup
    /// shape, the fp16/memory-model prerequisites hold, the setting allows it and this build embedded its kernel.
    /// </summary>
    public static CooperativeMatrixPlan Create(CooperativeMatrixOffer offer, CooperativeMatrixBuild build, CooperativeMatrixSetting setting)
    {
        ArgumentNullException.ThrowIfNull(offer);
        ArgumentNullException.ThrowIfNull(build);
        var (khrOk, khr) = Judge("VK_KHR_cooperative_matrix", offer.Khr, offer, setting is CooperativeMatrixSetting.Auto or CooperativeMatrixSetting.Khr, setting,
            build.KhrAccepted, build.KhrBuilt, "GL_KHR_cooperative_matrix", build.Glslc);
        var (nvOk, nv) = Judge("VK_NV_cooperative_matrix", offer.Nv, offer, setting is CooperativeMatrixSetting.Auto or CooperativeMatrixSetting.Nv, setting,
            build.NvAccepted, build.NvBuilt, "GL_NV_cooperative_matrix", build.Glslc);
        var path = khrOk ? CooperativeMatrixPath.Khr : nvOk ? CooperativeMatrixPath.Nv : CooperativeMatrixPath.None;
        var usable = new List<CooperativeMatrixPath>();
        if (khrOk) usable.Add(CooperativeMatrixPath.Khr);
        if (nvOk) usable.Add(CooperativeMatrixPath.Nv);
        if (path == CooperativeMatrixPath.Khr && nvOk) nv = "usable, not used (KHR preferred)";
        string nv2 = !offer.Nv2Offered ? "not offered by the device"
            : build.Nv2Accepted ? "offered, not used (no kernel for it yet)"
            : $"offered, not used (no kernel for it; glslc ({build.Glslc}) does not accept GL_NV_cooperative_matrix2)";
        return new CooperativeMatrixPlan(path, khr, nv, nv2) { Usable = usable };
    }

    /// <summary>Every path that passed (preferred first): the extensions a device is created with.</summary>
    public IReadOnlyList<CooperativeMatrixPath> Usable { get; init; } = [];

    private static (bool, string) Judge(string name, CooperativeMatrixExtension e, CooperativeMatrixOffer offer, bool allowed, CooperativeMatrixSetting setting,
        bool accepted, bool built, string glslExtension, string glslc)
    {
        if (!e.Offered) return (false, "not offered by the device");
        if (!e.Feature) return (false, $"{name} offered without the cooperativeMatrix feature");
        if (!e.Compute) return (false, "offered, not for compute shaders");
        if (!e.HasConvShape)
            return (false, $"offered, no 16x16x16 f16*f16+f32 subgroup shape (has: {(e.Shapes.Count == 0 ? "none" : string.Join(", ", e.Shapes))})");
        if (!offer.Float16) return (false, "offered, but shaderFloat16 / storageBuffer16BitAccess is missing");
        if (!offer.MemoryModel) return (false, "offered, but vulkanMemoryModel is missing");
        if (!allowed) return (false, $"disabled by {Variable}={setting.ToString().ToLowerInvariant()}");
        if (!accepted) return (false, $"glslc could not build it ({glslc} does not accept {glslExtension})");
        if (!built) return (false, $"glslc could not build it (the kernel failed to compile with {glslc})");
        return (true, "usable");
    }

    public override string ToString() => $"KHR: {Khr}; NV: {Nv}; NV2: {Nv2}";
}

/// <summary>
/// The cooperative-matrix state of one open device: the path enabled at device creation, and the outcome of the
/// dispatcher's first-use self-check. <see cref="Disable"/> falls back to the scalar kernels for the device's lifetime.
/// </summary>
public sealed class CooperativeMatrixState
{
    private readonly object _sync = new();
    private readonly CooperativeMatrixOffer? _offer;
    private readonly CooperativeMatrixSetting _setting;
    private readonly IReadOnlyList<CooperativeMatrixPath> _enabled;
    private bool _resolved;

    public CooperativeMatrixState(CooperativeMatrixPlan plan, CooperativeMatrixPath enabled, string? note = null)
        : this(plan, enabled == CooperativeMatrixPath.None ? [] : [enabled], null, CooperativeMatrixSetting.Auto, note) { }

    /// <summary>
    /// A device's state: <paramref name="enabled"/> lists the extensions the device was created with (preferred
    /// first); <see cref="Resolve"/> later picks among them what the operator library has kernels for.
    /// </summary>
    public CooperativeMatrixState(CooperativeMatrixPlan plan, IReadOnlyList<CooperativeMatrixPath> enabled,
        CooperativeMatrixOffer? offer, CooperativeMatrixSetting setting, string? note = null)
    {
        Plan = plan ?? throw new ArgumentNullException(nameof(plan));
        _enabled = enabled;
        _offer = offer;
        _setting = setting;
        _resolved = offer == null;
        Path = enabled.Count > 0 ? enabled[0] : CooperativeMatrixPath.None;
        _note = note;
    }

    private string? _note;

    public CooperativeMatrixPlan Plan { get; private set; }
    /// <summary>The extension in use and not disabled since; None = scalar kernels.</summary>
    public CooperativeMatrixPath Path { get; private set; }
    /// <summary>True once the self-check passed on this device.</summary>
    public bool Verified { get; private set; }

    private int _selfCheckThread;

    /// <summary>
    /// Set by the self-check around its own cooperative dispatches, which must use the kernel before it is verified;
    /// other threads wait for the verdict.
    /// </summary>
    public bool SelfCheckingOnThisThread
    {
        get => Volatile.Read(ref _selfCheckThread) == Environment.CurrentManagedThreadId;
        set => Volatile.Write(ref _selfCheckThread, value ? Environment.CurrentManagedThreadId : 0);
    }

    /// <summary>
    /// Settles the path once the kernels are known: the plan again with <paramref name="build"/>, restricted to the
    /// extensions the device was created with. Later calls do nothing.
    /// </summary>
    public void Resolve(CooperativeMatrixBuild build)
    {
        ArgumentNullException.ThrowIfNull(build);
        lock (_sync)
        {
            if (_resolved) return;
            _resolved = true;
            var plan = CooperativeMatrixPlan.Create(_offer!, build, _setting);
            Plan = plan;
            if (Path == CooperativeMatrixPath.None) return;
            Path = _enabled.Contains(plan.Path) ? plan.Path : CooperativeMatrixPath.None;
        }
    }

    public void MarkVerified(string detail)
    {
        lock (_sync)
        {
            if (Path == CooperativeMatrixPath.None) throw new InvalidOperationException("no cooperative-matrix path to verify");
            Verified = true;
            _note = $"self-check passed ({detail})";
        }
    }

    /// <summary>Stops using cooperative matrices on this device (the extension stays enabled, nothing uses it).</summary>
    public void Disable(string reason)
    {
        lock (_sync)
        {
            Path = CooperativeMatrixPath.None;
            Verified = false;
            _note = reason;
        }
    }

    /// <summary>One line: the path in use and why.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(Path switch
        {
            CooperativeMatrixPath.Khr => "KHR cooperative matrix",
            CooperativeMatrixPath.Nv => "NV cooperative matrix",
            _ => "scalar conv",
        });
        if (_note != null) sb.Append(" (").Append(_note).Append(')');
        sb.Append(" — ").Append(Plan);
        return sb.ToString();
    }
}
