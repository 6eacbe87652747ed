using System.Reflection;
using System.Runtime.CompilerServices;

namespace WfVae.Runtime;

/// <summary>
/// One compiled form of a shader family, chosen by defines at build time: its name ("" for the plain module) and
/// how each of its bindings is bound. An optional variant may be missing from the build (e.g. a kernel the installed
/// glslc could not compile); <see cref="ShaderKernel.IsEmbedded"/> tells.
/// </summary>
public sealed record ShaderVariant(string Name, IReadOnlyList<BindingKind> Bindings, bool Optional = false)
{
    /// <summary>The plain module with <paramref name="bindings"/> storage buffers.</summary>
    public static ShaderVariant Plain(int bindings) => new("", Enumerable.Repeat(BindingKind.Storage, bindings).ToArray());
}

/// <summary>
/// The one declaration of an operator's shader (shaders/&lt;Name&gt;.comp): its push-constant block (the C# struct
/// that mirrors it), its specialization constants (ids 0, 1, … in order), its variants and precisions. Every
/// (variant, precision) pair is a <see cref="ShaderKernel"/>, the typed identity a dispatcher asks the device's
/// <see cref="PipelineLibrary"/> for. The build compiles each pair into the resource
/// "&lt;Name&gt;[_&lt;variant&gt;][_f16].spv" of the assembly that declares the push struct; loading a kernel checks the
/// descriptor against the SPIR-V words (push-constant size, bindings, specialization ids), so a C#/GLSL mismatch
/// fails at the first load with the shader named.
/// </summary>
public sealed class ShaderFamily
{
    private readonly ShaderKernel?[] _kernels;

    public string Name { get; }
    /// <summary>Bytes of the push-constant block (the size of the C# struct mirroring it).</summary>
    public int PushBytes { get; }
    /// <summary>Names of the specialization constants, by id.</summary>
    public IReadOnlyList<string> Specialization { get; }
    public IReadOnlyList<ShaderVariant> Variants { get; }
    public IReadOnlyList<Precision> Precisions { get; }
    /// <summary>The assembly whose embedded resources hold the compiled modules.</summary>
    public Assembly Source { get; }
    /// <summary>
    /// How long a CPU driver takes to compile this family's kernels where no tile says so, in the unit of
    /// <see cref="FirstDispatchCompiler"/>'s order (output elements per invocation); 0 for the cheap ones.
    /// </summary>
    public int CompileWeight { get; private init; }

    private ShaderFamily(string name, int pushBytes, Assembly source, IReadOnlyList<string> specialization,
        IReadOnlyList<Precision> precisions, IReadOnlyList<ShaderVariant> variants)
    {
        if (variants.Count == 0 || precisions.Count == 0) throw new ArgumentException($"shader family {name}: no variants or precisions");
        if (specialization.Count > PipelineKey.MaxSpecialization) throw new ArgumentException($"shader family {name}: at most {PipelineKey.MaxSpecialization} specialization constants");
        Name = name;
        PushBytes = pushBytes;
        Source = source;
        Specialization = specialization;
        Precisions = precisions;
        Variants = variants;
        _kernels = new ShaderKernel?[variants.Count * 2];
        for (int v = 0; v < variants.Count; v++)
            foreach (var p in precisions)
                _kernels[v * 2 + (int)p] = new ShaderKernel(this, variants[v], p);
    }

    /// <summary>
    /// Declares a family whose push-constant block is <typeparamref name="TPush"/> and whose modules are embedded in
    /// the assembly declaring <typeparamref name="TPush"/>.
    /// </summary>
    public static ShaderFamily Create<TPush>(string name, IReadOnlyList<string> specialization, IReadOnlyList<Precision> precisions,
        params ShaderVariant[] variants) where TPush : unmanaged =>
        new(name, Unsafe.SizeOf<TPush>(), typeof(TPush).Assembly, specialization, precisions, variants);

    /// <summary>Declares a family by its push-constant size and the assembly embedding its modules.</summary>
    public static ShaderFamily Create(string name, int pushBytes, Assembly source, IReadOnlyList<string> specialization,
        IReadOnlyList<Precision> precisions, params ShaderVariant[] variants) =>
        new(name, pushBytes, source, specialization, precisions, variants);

    /// <summary>This family with <see cref="CompileWeight"/> <paramref name="weight"/> (for the family's declaration).</summary>
    public ShaderFamily WithCompileWeight(int weight) =>
        new(Name, PushBytes, Source, Specialization, Precisions, Variants) { CompileWeight = weight };

    /// <summary>fp32 and fp16: the precisions of every operator shader.</summary>
    public static IReadOnlyList<Precision> BothPrecisions { get; } = [Precision.Fp32, Precision.Fp16];

    /// <summary>The kernel of variant <paramref name="variant"/> (index into <see cref="Variants"/>) in <paramref name="precision"/>.</summary>
    public ShaderKernel Kernel(int variant, Precision precision) =>
        _kernels[variant * 2 + (int)precision] ?? throw new ArgumentException($"shader {Name} has no {precision.Name()} form");

    /// <summary>The plain variant's kernel in <paramref name="precision"/>.</summary>
    public ShaderKernel Kernel(Precision precision) => Kernel(0, precision);

    /// <summary>Every kernel of the family (every variant in every precision).</summary>
    public IEnumerable<ShaderKernel> Kernels => _kernels.OfType<ShaderKernel>();

    /// <summary>Loads and checks every kernel that must be embedded (and every optional one that is).</summary>
    public void Verify()
    {
        foreach (var k in Kernels)
            if (!k.Variant.Optional || k.IsEmbedded) k.Spirv();
    }

    public override string ToString() => Name;
}

/// <summary>One (variant, precision) of a <see cref="ShaderFamily"/>: a compiled module, its bindings and push block.</summary>
public sealed class ShaderKernel
{
    private byte[]? _spirv;

    public ShaderFamily Family { get; }
    public ShaderVariant Variant { get; }
    public Precision Precision { get; }
    /// <summary>The module's name: "&lt;family&gt;[_&lt;variant&gt;][_f16]" (resource "&lt;ModuleName&gt;.spv").</summary>
    public string ModuleName { get; }
    public IReadOnlyList<BindingKind> Bindings => Variant.Bindings;
    public int PushBytes => Family.PushBytes;

    internal ShaderKernel(ShaderFamily family, ShaderVariant variant, Precision precision)
    {
        Family = family;
        Variant = variant;
        Precision = precision;
        ModuleName = family.Name + (variant.Name.Length > 0 ? "_" + variant.Name : "") + precision.ShaderSuffix();
    }

    /// <summary>Whether this build embedded the module (optional variants may be missing).</summary>
    public bool IsEmbedded => _spirv != null || Family.Source.GetManifestResourceInfo(ModuleName + ".spv") != null;

    /// <summary>The module's words, loaded once and checked against this descriptor.</summary>
    public byte[] Spirv()
    {
        if (Volatile.Read(ref _spirv) is { } cached) return cached;
        using var s = Family.Source.GetManifestResourceStream(ModuleName + ".spv")
            ?? throw new ShaderInterfaceException(this, $"is not embedded in {Family.Source.GetName().Name}; was shaders/{Family.Name}.comp compiled?");
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        SpirvInterface module;
        try { module = SpirvInterface.Parse(bytes); }
        catch (InvalidDataException e) { throw new ShaderInterfaceException(this, e.Message); }
        Check(module);
        Volatile.Write(ref _spirv, bytes);
        return bytes;
    }

    private void Check(SpirvInterface m)
    {
        if (m.PushConstantBytes != PushBytes)
            throw new ShaderInterfaceException(this, $"the push-constant block is {m.PushConstantBytes} bytes in the SPIR-V and {PushBytes} in the C# descriptor");
        if (m.Bindings.Count != Bindings.Count || m.Bindings.Keys.Any(b => b < 0 || b >= Bindings.Count))
            throw new ShaderInterfaceException(this, $"the SPIR-V binds {{{string.Join(", ", m.Bindings.Keys.Order())}}}, the C# descriptor declares {Bindings.Count} bindings (0..{Bindings.Count - 1})");
        for (int i = 0; i < Bindings.Count; i++)
        {
            var want = Bindings[i] == BindingKind.Storage ? SpirvBindingKind.StorageBuffer : SpirvBindingKind.TexelBuffer;
            if (m.Bindings[i] != want)
                throw new ShaderInterfaceException(this, $"binding {i} is a {m.Bindings[i]} in the SPIR-V, the C# descriptor binds it as {Bindings[i]}");
        }
        if (m.SpecIds.FirstOrDefault(id => id >= Family.Specialization.Count, -1) is var extra and >= 0)
            throw new ShaderInterfaceException(this, $"the SPIR-V has specialization constant {extra}, the C# descriptor declares {Family.Specialization.Count} ({string.Join(", ", Family.Specialization)})");
    }

    public override string ToString() => ModuleName;
}

/// <summary>A shader module that is missing or disagrees with its C# descriptor; the message names the module.</summary>
public sealed class ShaderInterfaceException(ShaderKernel kernel, string problem)
    : InvalidOperationException($"shader {kernel.ModuleName} (shaders/{kernel.Family.Name}.comp): {problem}")
{
    public ShaderKernel Kernel { get; } = kernel;
}
