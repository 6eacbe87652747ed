using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Reference;

/// <summary>The comparisons operator tests make: against the CPU reference, and bit for bit between two runs.</summary>
public static class ReferenceAssert
{
    /// <summary>Same length and the same bits in every element (kernels, tilings or chunkings that must agree exactly).</summary>
    public static void Bits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i}: expected {expected[i]:R} (0x{BitConverter.SingleToInt32Bits(expected[i]):x8}), got {actual[i]:R} (0x{BitConverter.SingleToInt32Bits(actual[i]):x8})");
    }

    /// <summary>Same shape, and rel_err (max|a − e| / rms(e)) within <paramref name="tol"/>; logs the error.</summary>
    public static void Close(ITestOutputHelper output, string what, CpuTensor actual, CpuTensor expected, double tol)
    {
        Assert.True(actual.SameShape(expected), $"{what}: shape {actual} vs expected {expected}");
        double e = CpuTensor.RelErr(actual, expected);
        output.WriteLine($"{what}: rel_err {e:E2}");
        Assert.True(e <= tol, $"{what}: rel_err {e:E3} > {tol:E1}");
    }
}
