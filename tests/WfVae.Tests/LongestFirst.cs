using Xunit;
using Xunit.Abstractions;

[assembly: TestCollectionOrderer("WfVae.Tests.LongestFirst", "WfVae.Tests")]

namespace WfVae.Tests;

/// <summary>
/// Starts the longest collections first. The parallel run's wall time is at least its longest collection's, and in
/// the default order the frei0r host tests (the longest) started a third of the way in and ran alone at the end.
/// The order only schedules: every collection still runs, and a collection missing here runs after these.
/// </summary>
public sealed class LongestFirst : ITestCollectionOrderer
{
    // By summed test time in a parallel run on the 2-core development machine, longest first (2026-12-07:
    // 106, 78, 70, 67, 65, 61, 36, 33, 32, 30, 29, 28 s; docs/architecture.md, "Tests in parallel").
    private static readonly string[] Longest =
    [
        "Frei0rHostTests", Gpu.Ops, Gpu.Golden, Gpu.Stream, "WarmupTests", "VideoCliTests", "StreamCliTests",
        "ProcessCliTests", "ReferenceModelTests", Gpu.Apps, "GpuKitTests", "PeerBenchTests",
    ];

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderBy(Rank); // stable: the rest keep the runner's order

    /// <summary>A named collection's name, or the class of an implicit one ("Test collection for N.S.Class").</summary>
    private static int Rank(ITestCollection collection)
    {
        string name = collection.DisplayName;
        int i = Array.FindIndex(Longest, n => name == n || name.EndsWith("." + n, StringComparison.Ordinal));
        return i < 0 ? int.MaxValue : i;
    }
}
