using System.Collections.Concurrent;
using Xunit;
using Xunit.Abstractions;

namespace WfVae.Tests.Reference;

/// <summary>The full CPU reference model against the official outputs of every golden case.</summary>
public sealed class ReferenceModelTests
{
    private readonly ITestOutputHelper _out;
    public ReferenceModelTests(ITestOutputHelper output) => _out = output;

    public static TheoryData<string> Cases => ReferenceTolerance.CaseData();

    // The reference's encode and decode of each case, run once: Tiny_ProducesEveryGoldenTap reads the same runs as
    // the tiny case's Encode_ and Decode_MatchesGolden (the full model in double precision takes seconds per case).
    private static readonly ConcurrentDictionary<string, Lazy<(CpuTensor Mean, CpuTensor Logvar, Dictionary<string, CpuTensor> Taps)>> Encoded = new();
    private static readonly ConcurrentDictionary<string, Lazy<(CpuTensor Decoded, Dictionary<string, CpuTensor> Taps)>> Decoded = new();

    private static (CpuTensor Mean, CpuTensor Logvar, Dictionary<string, CpuTensor> Taps) Encode(GoldenCase g) =>
        Encoded.GetOrAdd(g.Name, _ => new(() => new CpuReferenceModel(g.Config, g.Weight).Encode(g.Tensor("video")))).Value;

    // The golden decoder taps belong to decode(mean) of the stored float32 mean.
    private static (CpuTensor Decoded, Dictionary<string, CpuTensor> Taps) Decode(GoldenCase g) =>
        Decoded.GetOrAdd(g.Name, _ => new(() => new CpuReferenceModel(g.Config, g.Weight).Decode(g.Tensor("mean")))).Value;

    private List<string> CompareTaps(GoldenCase g, Dictionary<string, CpuTensor> taps, string prefix)
    {
        var failures = new List<string>();
        foreach (var name in g.TensorNames.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(n => n))
        {
            if (!taps.TryGetValue(name, out var actual)) { failures.Add($"{name}: not produced by the reference"); continue; }
            var expected = g.Tensor(name);
            if (!actual.SameShape(expected)) { failures.Add($"{name}: shape {actual} vs {expected}"); continue; }
            double e = CpuTensor.RelErr(actual, expected);
            _out.WriteLine($"  {name,-36} rel_err {e:E2}");
            if (!(e <= ReferenceTolerance.Tap)) failures.Add($"{name}: rel_err {e:E3}");
        }
        return failures;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encode_MatchesGolden(string name)
    {
        var g = ReferenceTolerance.Golden(name);
        var (mean, logvar, taps) = Encode(g);
        var failures = CompareTaps(g, taps, "enc.");
        double em = CpuTensor.RelErr(mean, g.Tensor("mean")), el = CpuTensor.RelErr(logvar, g.Tensor("logvar"));
        _out.WriteLine($"{name}: mean rel_err {em:E2}, logvar rel_err {el:E2}");
        Assert.True(em <= ReferenceTolerance.Latent, $"{name}: mean rel_err {em:E3}");
        Assert.True(el <= ReferenceTolerance.Latent, $"{name}: logvar rel_err {el:E3}");
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decode_MatchesGolden(string name)
    {
        var g = ReferenceTolerance.Golden(name);
        var (decoded, taps) = Decode(g);
        var failures = CompareTaps(g, taps, "dec.");
        double ed = CpuTensor.RelErr(decoded, g.Tensor("decoded"));
        _out.WriteLine($"{name}: decoded rel_err {ed:E2}");
        Assert.True(ed <= ReferenceTolerance.Decoded, $"{name}: decoded rel_err {ed:E3}");
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }

    [Fact]
    public void Tiny_ProducesEveryGoldenTap()
    {
        var g = ReferenceTolerance.Golden("tiny");
        var enc = Encode(g).Taps;
        var dec = Decode(g).Taps;
        var missing = g.TensorNames.Where(n => !n.StartsWith("tiled.") && n != "video" && !enc.ContainsKey(n) && !dec.ContainsKey(n)).ToList();
        Assert.Empty(missing);
    }
}
