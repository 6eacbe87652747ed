using System.Diagnostics;
using WfVae.Runtime;
using Xunit;

namespace WfVae.Tests.Runtime;

/// <summary>
/// Cooperative-matrix probing, the path decision, WFVAE_COOPMAT and the build's verdicts (issue #6). No device here
/// offers the extensions, so the decision is tested on constructed offers, and the real probe only for "not offered".
/// </summary>
[Collection(Gpu.Ops)]
public sealed class CooperativeMatrixTests(GpuFixture gpu)
{
    private static readonly CooperativeMatrixShape Conv16 = new(16, 16, 16, 0, 0, 1, 1, 3);
    private static readonly CooperativeMatrixShape Int8 = new(16, 16, 32, 3, 3, 5, 5, 3);
    private static readonly CooperativeMatrixExtension Usable = new(true, true, true, new[] { Int8, Conv16 });
    private static readonly CooperativeMatrixOffer Both = new(Usable, Usable, Nv2Offered: false, Float16: true, MemoryModel: true);
    private static readonly CooperativeMatrixBuild AllBuilt = new("shaderc test", true, true, false, true, true);

    [Fact]
    public void LavapipeOffersNoCooperativeMatrixAndSaysSo()
    {
        foreach (var info in VulkanDevice.Enumerate())
        {
            var plan = CooperativeMatrixPlan.Create(info.CooperativeMatrix, WfVae.Operators.CooperativeConv.Build, CooperativeMatrixSetting.Auto);
            // Whatever the device, an extension it does not list is reported as such and never chosen.
            if (!info.CooperativeMatrix.Khr.Offered) Assert.Equal("not offered by the device", plan.Khr);
            if (!info.CooperativeMatrix.Nv.Offered) Assert.Equal("not offered by the device", plan.Nv);
            if (info.Name.Contains("llvmpipe", StringComparison.OrdinalIgnoreCase))
            {
                Assert.False(info.CooperativeMatrix.Khr.Offered);
                Assert.False(info.CooperativeMatrix.Nv.Offered);
                Assert.False(info.CooperativeMatrix.Nv2Offered);
                Assert.Equal(CooperativeMatrixPath.None, plan.Path);
            }
        }
        var d = gpu.Device;
        if (d.Info.Name.Contains("llvmpipe", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Equal(CooperativeMatrixPath.None, d.CooperativeMatrix.Path);
            Assert.Contains("scalar conv", d.CooperativeMatrix.ToString());
            Assert.Contains("KHR: not offered by the device", d.CooperativeMatrix.ToString());
        }
        gpu.AssertClean();
    }

    [Theory]
    [InlineData(null, CooperativeMatrixSetting.Auto)]
    [InlineData("", CooperativeMatrixSetting.Auto)]
    [InlineData(" Auto ", CooperativeMatrixSetting.Auto)]
    [InlineData("off", CooperativeMatrixSetting.Off)]
    [InlineData("0", CooperativeMatrixSetting.Off)]
    [InlineData("KHR", CooperativeMatrixSetting.Khr)]
    [InlineData("nv", CooperativeMatrixSetting.Nv)]
    public void ParsesTheEnvironmentSetting(string? text, CooperativeMatrixSetting expected) =>
        Assert.Equal(expected, CooperativeMatrixPlan.ParseSetting(text));

    [Theory]
    [InlineData("yes")]
    [InlineData("nv2")]
    [InlineData("khr,nv")]
    public void RejectsUnknownSettingsNamingTheVariable(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => CooperativeMatrixPlan.ParseSetting(text));
        Assert.Contains("WFVAE_COOPMAT=" + text, e.Message);
        Assert.Contains("auto, off, khr or nv", e.Message);
    }

    [Fact]
    public void PrefersKhrAndEachSettingTurnsItsPathOff()
    {
        var auto = CooperativeMatrixPlan.Create(Both, AllBuilt, CooperativeMatrixSetting.Auto);
        Assert.Equal(CooperativeMatrixPath.Khr, auto.Path);
        Assert.Equal("usable", auto.Khr);
        Assert.Equal("usable, not used (KHR preferred)", auto.Nv);

        var nv = CooperativeMatrixPlan.Create(Both, AllBuilt, CooperativeMatrixSetting.Nv);
        Assert.Equal(CooperativeMatrixPath.Nv, nv.Path);
        Assert.Equal("disabled by WFVAE_COOPMAT=nv", nv.Khr);

        var khr = CooperativeMatrixPlan.Create(Both, AllBuilt, CooperativeMatrixSetting.Khr);
        Assert.Equal(CooperativeMatrixPath.Khr, khr.Path);
        Assert.Equal("disabled by WFVAE_COOPMAT=khr", khr.Nv);

        var off = CooperativeMatrixPlan.Create(Both, AllBuilt, CooperativeMatrixSetting.Off);
        Assert.Equal(CooperativeMatrixPath.None, off.Path);
        Assert.Equal("disabled by WFVAE_COOPMAT=off", off.Khr);
        Assert.Equal("disabled by WFVAE_COOPMAT=off", off.Nv);
    }

    [Fact]
    public void FallsBackToNvWhenGlslcCouldNotBuildTheKhrKernel()
    {
        // The installed shaderc 2023.2 case: GL_KHR_cooperative_matrix rejected, NV built.
        var build = new CooperativeMatrixBuild("shaderc 2023.2-1 / glslang 11.13.0-1", false, true, false, false, true);
        var plan = CooperativeMatrixPlan.Create(Both, build, CooperativeMatrixSetting.Auto);
        Assert.Equal(CooperativeMatrixPath.Nv, plan.Path);
        Assert.Equal("glslc could not build it (shaderc 2023.2-1 / glslang 11.13.0-1 does not accept GL_KHR_cooperative_matrix)", plan.Khr);
        Assert.Equal("usable", plan.Nv);

        // Accepted, but the kernel itself failed to compile: also not used, with its own reason.
        var failed = CooperativeMatrixPlan.Create(Both, build with { KhrAccepted = true }, CooperativeMatrixSetting.Khr);
        Assert.Equal(CooperativeMatrixPath.None, failed.Path);
        Assert.StartsWith("glslc could not build it (the kernel failed to compile", failed.Khr);
    }

    [Fact]
    public void RequiresTheConvShapeTheFeatureAndThePrerequisites()
    {
        var int8Only = new CooperativeMatrixExtension(true, true, true, new[] { Int8 });
        var plan = CooperativeMatrixPlan.Create(Both with { Khr = int8Only, Nv = CooperativeMatrixExtension.Absent }, AllBuilt, CooperativeMatrixSetting.Auto);
        Assert.Equal(CooperativeMatrixPath.None, plan.Path);
        Assert.Equal("offered, no 16x16x16 f16*f16+f32 subgroup shape (has: 16x16x32 s8*s8+s32->s32)", plan.Khr);
        Assert.Equal("not offered by the device", plan.Nv);

        // A 16x16x16 shape at workgroup scope (2) or with an f16 accumulator is not the kernel's shape either.
        Assert.False((Conv16 with { Scope = 2 }).IsConvShape);
        Assert.False((Conv16 with { CType = 0, ResultType = 0 }).IsConvShape);
        Assert.True(Conv16.IsConvShape);

        Assert.Contains("without the cooperativeMatrix feature",
            CooperativeMatrixPlan.Create(Both with { Khr = Usable with { Feature = false } }, AllBuilt, CooperativeMatrixSetting.Khr).Khr);
        Assert.Equal("offered, not for compute shaders",
            CooperativeMatrixPlan.Create(Both with { Khr = Usable with { Compute = false } }, AllBuilt, CooperativeMatrixSetting.Khr).Khr);
        var noModel = CooperativeMatrixPlan.Create(Both with { MemoryModel = false }, AllBuilt, CooperativeMatrixSetting.Auto);
        Assert.Equal(CooperativeMatrixPath.None, noModel.Path);
        Assert.Equal("offered, but vulkanMemoryModel is missing", noModel.Nv);
        Assert.Contains("shaderFloat16", CooperativeMatrixPlan.Create(Both with { Float16 = false }, AllBuilt, CooperativeMatrixSetting.Auto).Khr);
    }

    [Fact]
    public void ReportsNv2WithoutUsingIt()
    {
        var old = new CooperativeMatrixBuild("shaderc 2023.2-1", false, true, false, false, true);
        Assert.Equal("offered, not used (no kernel for it; glslc (shaderc 2023.2-1) does not accept GL_NV_cooperative_matrix2)",
            CooperativeMatrixPlan.Create(Both with { Nv2Offered = true }, old, CooperativeMatrixSetting.Auto).Nv2);
        Assert.Equal("not offered by the device", CooperativeMatrixPlan.Create(Both, old, CooperativeMatrixSetting.Auto).Nv2);
    }

    [Fact]
    public void StateRecordsTheSelfCheckAndDisabling()
    {
        var plan = CooperativeMatrixPlan.Create(Both, AllBuilt, CooperativeMatrixSetting.Auto);
        var state = new CooperativeMatrixState(plan, plan.Path);
        Assert.False(state.Verified);
        state.MarkVerified("rel_err 1e-3");
        Assert.True(state.Verified);
        Assert.Contains("KHR cooperative matrix (self-check passed", state.ToString());
        state.Disable("self-check failed: boom");
        Assert.Equal(CooperativeMatrixPath.None, state.Path);
        Assert.False(state.Verified);
        Assert.StartsWith("scalar conv (self-check failed: boom)", state.ToString());
        Assert.Throws<InvalidOperationException>(() => state.MarkVerified("again"));
    }

    [Fact]
    public void ParsesBuildNotes()
    {
        var b = CooperativeMatrixBuild.Parse("glslc=shaderc 2023.2-1 / glslang 11.13.0-1\nglslc-path=/usr/bin/glslc\nGL_KHR_cooperative_matrix=false\n"
            + "GL_NV_cooperative_matrix=true\nGL_NV_cooperative_matrix2=false\nkernel-khr=false\nkernel-nv=true\n");
        Assert.Equal(new CooperativeMatrixBuild("shaderc 2023.2-1 / glslang 11.13.0-1", false, true, false, false, true) { GlslcPath = "/usr/bin/glslc" }, b);
        var empty = CooperativeMatrixBuild.Parse(null);
        Assert.False(empty.KhrBuilt || empty.NvBuilt || empty.KhrAccepted || empty.NvAccepted);
    }

    /// <summary>
    /// The embedded build notes agree with the embedded kernels and with what the build's glslc answers now: the same
    /// probe shaders as shaders/Shaders.targets, compiled again here, must give the recorded verdicts.
    /// </summary>
    [Fact]
    public void BuildNotesMatchTheEmbeddedKernelsAndTheGlslcVerdicts()
    {
        var b = WfVae.Operators.CooperativeConv.Build;
        Assert.DoesNotContain("not embedded", b.Glslc);
        Assert.Equal(b.KhrBuilt, WfVae.Operators.CooperativeConv.KernelFor(CooperativeMatrixPath.Khr).IsEmbedded);
        Assert.Equal(b.NvBuilt, WfVae.Operators.CooperativeConv.KernelFor(CooperativeMatrixPath.Nv).IsEmbedded);
        // The NV kernel compiles with every glslc that accepts the extension (a failure there fails the build).
        Assert.Equal(b.NvAccepted, b.NvBuilt);
        Assert.False(b.KhrBuilt && !b.KhrAccepted);

        Assert.NotNull(b.GlslcPath);
        Assert.Equal(b.KhrAccepted, GlslcAccepts(b.GlslcPath!, "GL_KHR_cooperative_matrix", "vulkan1.2"));
        Assert.Equal(b.NvAccepted, GlslcAccepts(b.GlslcPath!, "GL_NV_cooperative_matrix", "vulkan1.1"));
        var version = Run(b.GlslcPath!, "--version").Output;
        Assert.StartsWith(version.Split('\n')[0].Trim(), b.Glslc);
    }

    private static bool GlslcAccepts(string glslc, string extension, string env)
    {
        var dir = Directory.CreateTempSubdirectory("wfvae-coop-probe-");
        try
        {
            var src = Path.Combine(dir.FullName, "probe.comp");
            File.WriteAllText(src, "#version 450\n#extension GL_KHR_memory_scope_semantics : require\n"
                + "#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require\n"
                + $"#extension {extension} : require\nlayout(local_size_x = 32) in;\nvoid main() {{}}\n");
            return Run(glslc, $"--target-env={env} -o \"{Path.Combine(dir.FullName, "probe.spv")}\" \"{src}\"").Exit == 0;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static (int Exit, string Output) Run(string exe, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        // Outputs are a few lines: reading one stream after the other cannot fill a pipe.
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr);
    }
}
