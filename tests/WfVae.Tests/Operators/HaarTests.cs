using WfVae.Operators;
using WfVae.Runtime;
using WfVae.Tests.Reference;
using Xunit;
using Xunit.Abstractions;
using static WfVae.Tests.Operators.WaveTestTensors;

namespace WfVae.Tests.Operators;

/// <summary>
/// Haar wavelet transforms (shaders/haar.comp) against <see cref="CpuOps"/> (double sums, one rounding).
/// Tolerance: each output is a ±1 sum of 8 (3D) or 4 (2D) values, evaluated on the GPU as a float32
/// butterfly of 3 (2) rounded add levels plus one rounded scale; every partial sum is bounded by
/// 8·max|x|, so |error| ≤ 4·2⁻²⁴·8κ·max|x| ≈ 7e-7·max|x| while rms(expected) ≈ 0.58·max|x| for uniform
/// inputs: rel_err (max|a − e| / rms(e)) ≤ 1.2e-6. We allow 2e-6; a wrong sign, sub-band order or index is O(1).
/// fp16 (<see cref="Fp16"/>): inputs rounded to halves on the host, the fp32 butterfly's result rounded once to a half:
/// 2e-6 + 2⁻¹¹·max|e|/rms(e) (≈ 1.5e-3 for these sums of uniform values).
/// </summary>
[Collection(Gpu.Ops)]
public sealed class HaarTests(GpuFixture gpu, ITestOutputHelper output)
{
    private const double Tol = 2e-6;
    private VulkanDevice Dev => gpu.Device;

    private void Check(string what, CpuTensor actual, CpuTensor expected, double tol = Tol) =>
        ReferenceAssert.Close(output, what, actual, expected, tol);

    /// <summary>Against the reference with the bound of an output stored in <paramref name="p"/>.</summary>
    private void Check(string what, CpuTensor actual, CpuTensor expected, Precision p) =>
        Check($"{what} {p}", actual, expected, Fp16.Tolerance(p, expected, Tol));

    /// <summary>
    /// The stream object's use: past = a copy of frame 0 at start, then the pending unpaired frame; every chunk
    /// is a separate tensor. The concatenated outputs equal the whole-clip output bit for bit.
    /// </summary>
    [Theory]
    [InlineData(new[] { 1, 2, 3, 1, 2 })]
    [InlineData(new[] { 2, 4, 3 })]
    [InlineData(new[] { 1, 1, 1, 1, 1, 1, 1, 1, 1 })]
    public void Forward3D_StreamedInChunks_IsBitwiseTheWholeClip(int[] chunks)
    {
        int c = 3, t = chunks.Sum(), h = 9, w = 13;
        var x = CpuTensor.Random(c, t, h, w, seed: 21);
        using var whole = Up(Dev, x);
        using var wy = Dev.CreateTensor(8 * c, (t - 1) / 2 + 1, h / 2, w / 2);
        var parts = new List<CpuTensor>();
        var owned = new List<GpuTensor>();
        try
        {
            using var rec = Dev.BeginCommands();
            Haar.Forward3D(rec, whole.Frames(0, 1), whole, wy);
            rec.Submit();

            GpuTensor? past = null;
            int start = 0;
            foreach (int n in chunks)
            {
                var chunk = Up(Dev, x.SliceFrames(start, n));
                owned.Add(chunk);
                if (start == 0)
                {
                    past = Dev.CreateTensor(c, 1, h, w);   // the stream object's copy of frame 0
                    owned.Add(past);
                    rec.Copy(chunk.Frames(0, 1), past);
                }
                int virt = (past?.T ?? 0) + n, outs = virt / 2;
                if (outs > 0)
                {
                    var y = Dev.CreateTensor(8 * c, outs, h / 2, w / 2);
                    owned.Add(y);
                    Haar.Forward3D(rec, past, chunk, y);
                    rec.Submit();
                    parts.Add(Down(Dev, y));
                }
                // The unpaired trailing virtual frame (if any) is the next past: here always chunk's last frame
                // (or the old past when the chunk is empty, which these chunkings never have).
                past = virt % 2 == 1 ? chunk.Frames(n - 1, 1) : null;
                start += n;
            }
            rec.Submit();
        }
        finally
        {
            foreach (var g in owned) g.Dispose();
        }
        var streamed = CpuTensor.ConcatFrames(parts.ToArray());
        Assert.True(BitwiseEqual(streamed, Down(Dev, wy)), "streamed Haar3D differs from whole clip");
        gpu.AssertClean();
    }

    [Fact]
    public void Inverse3D_WithoutDrop_EmitsBothTapsOfEveryFrame()
    {
        int c = 3, t = 3;
        var y = CpuTensor.Random(8 * c, t, 5, 7, seed: 31);
        using var gy = Up(Dev, y);
        using var gx = Dev.CreateTensor(c, 2 * t, 10, 14);
        using (var rec = Dev.BeginCommands())
        {
            Haar.Inverse3D(rec, gy, gx, dropFirst: false);
            rec.Submit();
        }
        // The reference drops R[0]; with coefficient frame 0 duplicated in front, its output frames 1 … 2t are
        // exactly both taps of every original coefficient frame.
        var padded = CpuTensor.ConcatFrames(y.SliceFrames(0, 1), y);
        Check("InvHaar3D no drop", Down(Dev, gx), CpuOps.InverseHaar3D(padded).SliceFrames(1, 2 * t));
        gpu.AssertClean();
    }

    [Fact]
    public void Inverse3D_StreamedFrameByFrame_IsBitwiseTheWholeClip()
    {
        int c = 3, t = 4, h = 5, w = 7;
        var y = CpuTensor.Random(8 * c, t, h, w, seed: 51);
        var l = CpuTensor.Random(c, t, h, w, seed: 52);
        using var gy = Up(Dev, y);
        using var gl = Up(Dev, l);
        using var whole = Dev.CreateTensor(c, 2 * t - 1, 2 * h, 2 * w);
        using var streamed = Dev.CreateTensor(c, 2 * t - 1, 2 * h, 2 * w);
        using (var rec = Dev.BeginCommands())
        {
            Haar.Inverse3D(rec, gy, whole, dropFirst: true, addToLowBand: gl);
            Haar.Inverse3D(rec, gy.Frames(0, 1), streamed.Frames(0, 1), dropFirst: true, addToLowBand: gl.Frames(0, 1));
            Haar.Inverse3D(rec, gy.Frames(1, 2), streamed.Frames(1, 4), dropFirst: false, addToLowBand: gl.Frames(1, 2));
            Haar.Inverse3D(rec, gy.Frames(3, 1), streamed.Frames(5, 2), dropFirst: false, addToLowBand: gl.Frames(3, 1));
            rec.Submit();
        }
        Assert.True(BitwiseEqual(Down(Dev, streamed), Down(Dev, whole)), "streamed InvHaar3D differs from whole clip");
        gpu.AssertClean();
    }

    [Fact]
    public void Forward3D_ThenInverse3D_ScalesByEightKappaSquared()
    {
        // docs/model.md#wavelets: the 3D round trip multiplies by 8κ² = 1.000264 (κ = 0.3536f, not 1/√8).
        var x = CpuTensor.Random(3, 5, 8, 10, seed: 61);
        using var gx = Up(Dev, x);
        using var gy = Dev.CreateTensor(24, 3, 4, 5);
        using var gr = Dev.CreateTensor(3, 5, 8, 10);
        using (var rec = Dev.BeginCommands())
        {
            Haar.Forward3D(rec, gx.Frames(0, 1), gx, gy);
            Haar.Inverse3D(rec, gy, gr, dropFirst: true);
            rec.Submit();
        }
        double gain = 8.0 * Haar.Kappa * Haar.Kappa;
        Assert.InRange(gain, 1.00026, 1.00027);
        var expected = new CpuTensor(x.C, x.T, x.H, x.W, x.Data.Select(v => (float)(v * gain)).ToArray());
        Check("Haar3D round trip", Down(Dev, gr), expected, 4e-6); // two transforms: twice the single bound
        gpu.AssertClean();
    }

    [Fact]
    public void Forward2D_ThenInverse2D_IsTheIdentity()
    {
        var x = CpuTensor.Random(3, 2, 6, 10, seed: 71);
        using var gx = Up(Dev, x);
        using var gy = Dev.CreateTensor(12, 2, 3, 5);
        using var gr = Dev.CreateTensor(3, 2, 6, 10);
        using (var rec = Dev.BeginCommands())
        {
            Haar.Forward2D(rec, gx, gy);
            Haar.Inverse2D(rec, gy, gr);
            rec.Submit();
        }
        Check("Haar2D round trip", Down(Dev, gr), x, 4e-6);
        gpu.AssertClean();
    }

    [Fact]
    public void WrongShapesAreRejected()
    {
        using var x = Dev.CreateTensor(3, 5, 9, 13);
        using var bad = Dev.CreateTensor(24, 2, 4, 6);   // needs 3 frames
        using var rec = Dev.BeginCommands();
        Assert.Throws<ArgumentException>(() => Haar.Forward3D(rec, x.Frames(0, 1), x, bad));
        Assert.Throws<ArgumentException>(() => Haar.Inverse3D(rec, bad, x, dropFirst: true));
        Assert.Throws<ArgumentException>(() => Haar.Forward2D(rec, x, bad));
    }
}
