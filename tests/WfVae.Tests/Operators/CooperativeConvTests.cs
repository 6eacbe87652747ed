using WfVae.Operators;
using WfVae.Runtime;
using Xunit;

namespace WfVae.Tests.Operators;

/// <summary>
/// The cooperative-matrix conv's safety net, on lavapipe: the kernel itself cannot run here (no device offers the
/// extension), so the self-check is driven with injected "cooperative" results — the scalar kernel's own output
/// rounded to fp16 (what a correct kernel produces), and typical kernel bugs — to show that it passes the first and
/// catches the others, and that a failure disables the path with one warning line.
/// </summary>
[Collection(Gpu.Ops)]
public sealed class CooperativeConvTests(GpuFixture gpu)
{
    /// <summary>What a correct cooperative kernel returns: the float32 result with every value rounded to fp16.</summary>
    private static float[] RoundedScalar(VulkanDevice d, SelfCheckCase c) =>
        Array.ConvertAll(CooperativeConv.RunCase(d, c, float16: false), v => (float)(Half)v);

    [Fact]
    public void SelfCheckPassesACorrectFp16Result()
    {
        var v = CooperativeConv.SelfCheck(gpu.Device, RoundedScalar);
        Assert.True(v.Passed, v.Detail);
        // Two cases; fp16 output rounding alone gives a rel_err of a few 1e-4..1e-3, well inside the tolerance.
        Assert.Equal(2, v.Detail.Split("; ").Length);
        Assert.InRange(v.RelErr, 1e-5, CooperativeConv.Tolerance / 3);
        gpu.AssertClean();
    }

    [Fact]
    public void SelfCheckCatchesShiftedOutputs()
    {
        // A tile indexing bug: every output of the slice one position late.
        var v = CooperativeConv.SelfCheck(gpu.Device, (d, c) =>
        {
            var y = RoundedScalar(d, c);
            int plane = c.Ho * c.Wo, channels = c.Cout + 2 * SelfCheckCase.SentinelChannels;
            var shifted = (float[])y.Clone();
            for (int t = 0; t < c.Tout; t++)
                for (int m = 0; m < c.Cout; m++)
                {
                    int b = (t * channels + SelfCheckCase.SentinelChannels + m) * plane;
                    for (int i = 1; i < plane; i++) shifted[b + i] = y[b + i - 1];
                }
            return shifted;
        });
        Assert.False(v.Passed);
        Assert.StartsWith(SelfCheckCase.All[0].Name + ": rel_err", v.Detail);
        gpu.AssertClean();
    }

    [Fact]
    public void SelfCheckCatchesAStrayWriteIntoNeighbouringChannels()
    {
        var v = CooperativeConv.SelfCheck(gpu.Device, (d, c) =>
        {
            var y = RoundedScalar(d, c);
            y[^1] = 0; // last element of the last sentinel channel
            return y;
        });
        Assert.False(v.Passed);
        gpu.AssertClean();
    }

    [Fact]
    public void SelfCheckCatchesAMissingKBlock()
    {
        // Case 0 has Cin = 19: a kernel that drops the partial 3-channel block of every tap. Emulated by running the
        // scalar kernel with those input channels zeroed (the weights stay), which differs by O(sqrt(3/19)) of rms.
        var v = CooperativeConv.SelfCheck(gpu.Device, (d, c) =>
        {
            if (c.Cin != 19) return RoundedScalar(d, c);
            int plane = c.H * c.W;
            var x = c.X;
            var past = c.Past;
            foreach (var (data, frames) in new[] { (x, c.T), (past, c.PastT) })
                for (int t = 0; t < frames; t++)
                    Array.Clear(data, (t * c.Cin + 16) * plane, 3 * plane);
            using var w = ConvWeights.Upload(d, c.Weight, c.Bias, c.Cout, c.Cin, c.Kt, c.K, c.K);
            using var gp = d.Upload(past, c.Cin, c.PastT, c.H, c.W);
            using var gx = d.Upload(x, c.Cin, c.T, c.H, c.W);
            using var big = d.Upload(c.Sentinels, c.Cout + 2 * SelfCheckCase.SentinelChannels, c.Tout, c.Ho, c.Wo);
            using var res = d.Upload(c.Residual, c.Cout, c.Tout, c.Ho, c.Wo);
            using (var rec = d.BeginCommands())
            {
                Conv.Forward(rec, gp, gx, w, big.Channels(SelfCheckCase.SentinelChannels, c.Cout), c.StrideT, c.StrideHW, c.Padding, res);
                rec.Submit();
            }
            return d.Download(big);
        });
        Assert.False(v.Passed, v.Detail);
        gpu.AssertClean();
    }

    [Fact]
    public void APipelineFailureIsAFailedCheckNotACrash()
    {
        var v = CooperativeConv.SelfCheck(gpu.Device, (d, c) => throw new VulkanException("vkCreateComputePipelines(conv_coop_nv) failed: ErrorUnknown", Silk.NET.Vulkan.Result.ErrorUnknown));
        Assert.False(v.Passed);
        Assert.Contains("VulkanException", v.Detail);
        Assert.Contains("vkCreateComputePipelines", v.Detail);
        gpu.AssertClean();
    }

    [Fact]
    public void JudgeUsesRelativeErrorAndRejectsNonFiniteValues()
    {
        float[] e = { 1, -2, 3, -4 };
        double rms = Math.Sqrt((1 + 4 + 9 + 16) / 4.0);
        Assert.True(CooperativeConv.Judge(e, e).Passed);
        var near = CooperativeConv.Judge(e, new[] { 1f, -2f, 3f, -4f + (float)(0.009 * rms) });
        Assert.True(near.Passed, near.Detail);
        Assert.False(CooperativeConv.Judge(e, new[] { 1f, -2f, 3f, -4f + (float)(0.011 * rms) }).Passed);
        Assert.False(CooperativeConv.Judge(e, new[] { 1f, float.NaN, 3f, -4f }).Passed);
        Assert.False(CooperativeConv.Judge(e, new[] { 1f, -2f, float.PositiveInfinity, -4f }).Passed);
        Assert.False(CooperativeConv.Judge(e, new[] { 1f, -2f, 3f }).Passed);
    }

    [Fact]
    public void AFailedCheckDisablesThePathWithOneWarningLine()
    {
        var offer = new CooperativeMatrixExtension(true, true, true, new[] { new CooperativeMatrixShape(16, 16, 16, 0, 0, 1, 1, 3) });
        var plan = CooperativeMatrixPlan.Create(new CooperativeMatrixOffer(CooperativeMatrixExtension.Absent, offer, false, true, true),
            new CooperativeMatrixBuild("test", false, true, false, false, true), CooperativeMatrixSetting.Auto);
        Assert.Equal(CooperativeMatrixPath.Nv, plan.Path);

        var state = new CooperativeMatrixState(plan, plan.Path);
        var lines = new List<string>();
        CooperativeConv.Apply(state, new SelfCheckVerdict(false, 0.5, "rel_err 5.00E-001 > 1E-002"), lines.Add);
        Assert.Equal(CooperativeMatrixPath.None, state.Path);
        Assert.Single(lines);
        Assert.Contains("NV cooperative-matrix conv failed its self-check", lines[0]);
        Assert.Contains("WFVAE_COOPMAT=off", lines[0]);
        Assert.Contains("self-check failed: rel_err", state.ToString());

        var ok = new CooperativeMatrixState(plan, plan.Path);
        var quiet = new List<string>();
        CooperativeConv.Apply(ok, new SelfCheckVerdict(true, 1e-3, "fine"), quiet.Add);
        Assert.True(ok.Verified);
        Assert.Equal(CooperativeMatrixPath.Nv, ok.Path);
        Assert.Empty(quiet);
    }

    [Fact]
    public void TheDefaultPlumbingPassesWithTheScalarFp16KernelStandingIn()
    {
        // Without a cooperative path (lavapipe), fp16 convs run the scalar conv_f16 kernel: the self-check's default
        // runner then compares a real fp16-storage kernel with the float32 one, which must pass with the stated
        // tolerance (same inputs; only the fp16 output rounding differs).
        var d = gpu.Device;
        if (d.CooperativeMatrix.Path != CooperativeMatrixPath.None || !d.Float16Enabled) return;
        Assert.False(CooperativeConv.Active(d));
        var v = CooperativeConv.SelfCheck(d);
        Assert.True(v.Passed, v.Detail);
        Assert.InRange(v.RelErr, 1e-5, CooperativeConv.Tolerance / 3);
        Assert.Equal(CooperativeMatrixPath.None, d.CooperativeMatrix.Path);
        gpu.AssertClean();
    }
}
