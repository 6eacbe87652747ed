using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Reference;

/// <summary>The one comparison every operator test makes against the CPU reference.</summary>
public static class ReferenceAssert
{
    /// <summary>Same shape, and rel_err (max|a − e| / rms(e)) within <paramref name="tol"/>; logs the error.</summary>
    public static void Close(ITestOutputHelper output, string what, CpuTensor actual, CpuTensor expected, double tol)
    {
        Assert.True(actual.SameShape(expected), $"{what}: shape {actual} vs expected {expected}");
        double e = CpuTensor.RelErr(actual, expected);
        output.WriteLine($"{what}: rel_err {e:E2}");
        Assert.True(e <= tol, $"{what}: rel_err {e:E3} > {tol:E1}");
    }
}
