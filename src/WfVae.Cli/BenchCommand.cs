using WfVae.Cli.Benchmarks;
using WfVae.Runtime;

namespace WfVae.Cli;

/// <summary>wfvae bench &lt;what&gt;: benchmarks that print Markdown tables for docs/ (progress on stderr).</summary>
internal static class BenchCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length < 2 || args[1].StartsWith("--"))
            throw new UsageException("bench needs a benchmark name: stream");
        var o = Options.Parse(args.Skip(2));
        using var device = VulkanDevice.Create(new DeviceOptions { Selector = o.Device });
        string table = args[1] switch
        {
            "stream" => StreamBenchmark.Run(device, stderr, o.Has("--quick")),
            _ => throw new UsageException($"unknown benchmark '{args[1]}' (available: stream)"),
        };
        if (o.Get("--output") is { } path) File.WriteAllText(path, table);
        stdout.Write(table);
        return 0;
    }
}
