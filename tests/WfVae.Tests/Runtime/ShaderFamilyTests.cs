using WfVae.Operators;
using WfVae.Runtime;
using Xunit;

namespace WfVae.Tests.Runtime;

/// <summary>
/// Shader descriptors against the SPIR-V the build embedded: every operator module is present and agrees with its
/// descriptor, and a descriptor that disagrees with the GLSL (push-constant size, binding count or kind,
/// specialization constants) fails when the module is loaded, naming it.
/// </summary>
public sealed class ShaderFamilyTests
{
    private static readonly System.Reflection.Assembly Operators = typeof(Conv).Assembly;

    [Fact]
    public void EveryOperatorModuleIsEmbeddedAndMatchesItsDescriptor()
    {
        OperatorShaders.Verify();
        foreach (var family in OperatorShaders.All)
            foreach (var kernel in family.Kernels.Where(k => !k.Variant.Optional))
            {
                Assert.True(kernel.IsEmbedded, kernel.ModuleName);
                var spirv = SpirvInterface.Parse(kernel.Spirv());
                Assert.Equal(family.PushBytes, spirv.PushConstantBytes);
                Assert.Equal(kernel.Bindings.Count, spirv.Bindings.Count);
            }
    }

    [Fact]
    public void TheBuildDerivesEveryVariantInEveryPrecision()
    {
        // conv.comp declares three variants and fp16: eight modules, named by variant and precision.
        var names = Conv.Shader.Kernels.Select(k => k.ModuleName).Order().ToArray();
        Assert.Equal(new[] { "conv", "conv_f16", "conv_texel", "conv_texel_f16", "conv_texel_pointwise", "conv_texel_pointwise_f16", "conv_texel_rows", "conv_texel_rows_f16" }, names);
        Assert.All(Conv.Shader.Kernels, k => Assert.True(k.IsEmbedded, k.ModuleName));
        Assert.Equal("elementwise_f16", Elementwise.Shader.Kernel(Precision.Fp16).ModuleName);
        Assert.Throws<ArgumentException>(() => PeakProbe.Shader.Kernel(Precision.Fp16));
    }

    [Fact]
    public void AWrongPushSizeFailsNamingTheModule()
    {
        var family = ShaderFamily.Create("elementwise", Elementwise.Shader.PushBytes - 4, Operators, ["OP"], ShaderFamily.BothPrecisions, ShaderVariant.Plain(3));
        var e = Assert.Throws<ShaderInterfaceException>(() => family.Kernel(Precision.Fp16).Spirv());
        Assert.Equal($"shader elementwise_f16 (shaders/elementwise.comp): the push-constant block is {Elementwise.Shader.PushBytes} bytes in the SPIR-V and {Elementwise.Shader.PushBytes - 4} in the C# descriptor", e.Message);
    }

    [Fact]
    public void AWrongBindingCountOrKindFailsNamingTheModule()
    {
        var four = ShaderFamily.Create("haar", Haar.Shader.PushBytes, Operators, ["MODE", "ADD"], ShaderFamily.BothPrecisions, ShaderVariant.Plain(4));
        var e = Assert.Throws<ShaderInterfaceException>(() => four.Kernel(Precision.Fp32).Spirv());
        Assert.Contains("shader haar ", e.Message);
        Assert.Contains("the SPIR-V binds {0, 1, 2}, the C# descriptor declares 4 bindings", e.Message);

        // conv's plain module binds storage buffers; declaring its texel bindings there is a mismatch.
        var texelAsPlain = ShaderFamily.Create("conv", Conv.Shader.PushBytes, Operators, Conv.Shader.Specialization, ShaderFamily.BothPrecisions,
            new ShaderVariant("", Conv.Shader.Variants[1].Bindings));
        e = Assert.Throws<ShaderInterfaceException>(() => texelAsPlain.Kernel(Precision.Fp32).Spirv());
        Assert.Contains("binding 0 is a StorageBuffer in the SPIR-V, the C# descriptor binds it as Texels", e.Message);
    }

    [Fact]
    public void TooFewSpecializationConstantsFailNamingTheModule()
    {
        var family = ShaderFamily.Create("norm", Norm.Shader.PushBytes, Operators, ["MODE"], ShaderFamily.BothPrecisions, ShaderVariant.Plain(5));
        var e = Assert.Throws<ShaderInterfaceException>(() => family.Kernel(Precision.Fp32).Spirv());
        Assert.Contains("shader norm ", e.Message);
        Assert.Contains("specialization constant 1", e.Message);
    }

    [Fact]
    public void AMissingModuleFailsNamingIt()
    {
        var family = ShaderFamily.Create("winograd", 16, Operators, [], ShaderFamily.BothPrecisions, ShaderVariant.Plain(2));
        var e = Assert.Throws<ShaderInterfaceException>(() => family.Verify());
        Assert.Contains("shader winograd (shaders/winograd.comp): is not embedded", e.Message);
        var optional = ShaderFamily.Create("winograd", 16, Operators, [], [Precision.Fp16], new ShaderVariant("x", [BindingKind.Storage], Optional: true));
        optional.Verify(); // an optional module may be missing
        Assert.False(optional.Kernel(Precision.Fp16).IsEmbedded);
    }

    [Fact]
    public void MalformedModulesAreRejected()
    {
        Assert.Throws<InvalidDataException>(() => SpirvInterface.Parse(new byte[8]));
        Assert.Throws<InvalidDataException>(() => SpirvInterface.Parse(new byte[24]));
        var truncated = Conv.Shader.Kernel(Precision.Fp32).Spirv()[..64];
        Assert.Throws<InvalidDataException>(() => SpirvInterface.Parse(truncated));
    }
}
