using WfVae.Fuzz;
using Xunit;

namespace WfVae.Tests.Fuzz;

/// <summary>
/// The CI smoke of the fuzz targets (tests/WfVae.Fuzz; the long coverage-guided runs are `build.ps1 fuzz`):
/// every committed corpus file and every regression input (a crash once found, kept so it stays fixed),
/// then a fixed number of seeded mutations of each, through the same target code. Only the errors a user
/// is shown as bad input may come out.
/// </summary>
public sealed class FuzzSmokeTests
{
    private const int MutationsPerSeed = 1000;
    private static readonly string Root = Path.Combine(TestPaths.RepoRoot, "tests", "fuzz");

    public static TheoryData<string> Targets => new(FuzzTargets.All.Keys);

    private static string[] Files(string folder, string target)
    {
        var dir = Path.Combine(Root, folder, target);
        return Directory.Exists(dir) ? Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToArray() : [];
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void CorpusRegressionsAndMutationsOnlyRaiseBadInputErrors(string target)
    {
        var corpus = Files("corpus", target);
        Assert.NotEmpty(corpus);
        var seeds = corpus.Concat(Files("regressions", target)).Select(File.ReadAllBytes).ToList();
        foreach (var (seed, i) in seeds.Select((s, i) => (s, i))) RunOrSave(target, seed, $"seed{i}");

        var rng = new Random(StableHash(target));
        for (int s = 0; s < seeds.Count; s++)
            for (int m = 0; m < MutationsPerSeed; m++)
                RunOrSave(target, Mutations.Mutate(seeds[s], rng), $"seed{s}-mutation{m}");
    }

    private static void RunOrSave(string target, byte[] input, string name)
    {
        try { FuzzTargets.Run(target, input); }
        catch (Exception e)
        {
            var folder = Path.Combine(TestPaths.RepoRoot, "artifacts", "fuzz", "smoke-failures", target);
            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, name + ".bin");
            File.WriteAllBytes(path, input);
            Assert.Fail($"{target}: {e.GetType().Name}: {e.Message} (input saved to {path}; add it to tests/fuzz/regressions/{target}/ once fixed)");
        }
    }

    private static int StableHash(string s) => s.Aggregate(17, (h, c) => unchecked(h * 31 + c));
}

/// <summary>Byte-level mutations like a fuzzer's havoc stage: flips, overwrites with boundary values, inserts, deletes, cuts.</summary>
internal static class Mutations
{
    private static readonly uint[] Boundaries = [0, 1, 7, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF];

    public static byte[] Mutate(byte[] seed, Random rng)
    {
        var data = new List<byte>(seed);
        int steps = 1 + rng.Next(4);
        for (int i = 0; i < steps; i++)
        {
            int at = data.Count == 0 ? 0 : rng.Next(data.Count);
            switch (rng.Next(6))
            {
                case 0 when data.Count > 0: data[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1 when data.Count > 0: data[at] = (byte)rng.Next(256); break;
                case 2 when data.Count >= 4:
                    var v = BitConverter.GetBytes(Boundaries[rng.Next(Boundaries.Length)] + (uint)rng.Next(-1, 2));
                    for (int k = 0; k < 4 && at + k < data.Count; k++) data[at + k] = v[k];
                    break;
                case 3: data.InsertRange(at, Enumerable.Range(0, 1 + rng.Next(16)).Select(_ => (byte)rng.Next(256))); break;
                case 4 when data.Count > 0: data.RemoveRange(at, Math.Min(data.Count - at, 1 + rng.Next(16))); break;
                case 5 when data.Count > 0: data.RemoveRange(at, data.Count - at); break;
            }
        }
        return data.ToArray();
    }
}
