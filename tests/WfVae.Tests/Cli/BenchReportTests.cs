using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Cli;

/// <summary>
/// bench's --json and --markdown reports: started before the bench (a report that cannot be written fails before
/// minutes of measuring), a Markdown section replaced in place with the rest of the file kept, and a report option
/// a benchmark does not write refused.
/// </summary>
public sealed class BenchReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-bench-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static string[] TinyBench(params string[] more) =>
        ["bench", "--model", Path.Combine(TestPaths.Golden("tiny"), "model.safetensors"), "--frames", "1", "--height", "8", "--width", "8", "--runs", "1", .. more];

    [Fact]
    public void AReportThatCannotBeWrittenFailsBeforeTheBench()
    {
        foreach (var option in new[] { "--json", "--markdown" })
        {
            var r = Run(TinyBench(option, P("missing/report")));
            Assert.True(r.Code == 1, $"exit {r.Code}: {r.Err}");
            Assert.Contains($"the folder '{P("missing")}' does not exist", r.Err);
            Assert.Equal("", r.Out); // no table: the bench did not run
        }
        var both = Run(TinyBench("--json", P("fine.json"), "--markdown", P("missing/report.md")));
        Assert.Equal(1, both.Code);
        Assert.Empty(Directory.GetFiles(_dir, "*.partial")); // the --json output started first is not left behind
        Assert.False(File.Exists(P("fine.json")));
    }

    [Fact]
    public void TheMarkdownSectionIsReplacedAndTheRestOfTheFileKept()
    {
        var md = P("perf.md");
        File.WriteAllText(md, "# Performance\n\n## Other\n\nkeep this\n");
        for (int i = 0; i < 2; i++)
        {
            var r = Run(TinyBench("--markdown", md, "--json", P("bench.json")));
            Assert.True(r.Code == 0, r.Err);
        }
        var text = File.ReadAllText(md);
        Assert.StartsWith("# Performance\n\n## Other\n\nkeep this\n\n## model.safetensors, 1x8x8, ", text);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, "## model.safetensors, 1x8x8"));
        Assert.Contains("\"frames\": 1", File.ReadAllText(P("bench.json")));
        Assert.Empty(Directory.GetFiles(_dir, "*.partial"));
    }

    [Fact]
    public void AReportOptionABenchmarkDoesNotWriteIsAUsageError()
    {
        var r = Run("bench", "ops", "--quick", "--json", P("ops.json"));
        Assert.True(r.Code == 2, $"exit {r.Code}: {r.Err}");
        Assert.Contains("--json has no effect on 'bench ops'", r.Err);
        Assert.False(File.Exists(P("ops.json")));
    }
}
