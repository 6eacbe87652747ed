namespace WfVae.Cli;

/// <summary>
/// Which options each verb takes. An option a verb does not know is a usage error (exit 2) with the
/// nearest known name suggested: a misspelt option silently ignored would run with a default the
/// user meant to change (<c>--polcy drop</c> running with <c>pad</c>).
/// </summary>
internal static class Verbs
{
    /// <summary>Options that take no value.</summary>
    public static readonly IReadOnlySet<string> Flags = new HashSet<string> { "--quiet", "--verbose", "--quick", "--force", "--pad", "--follow" };

    private static readonly string[] Device = ["--device", "--precision", "--verbose"];
    private static readonly string[] Model = ["--model", "--config", .. Device];
    private static readonly string[] VideoInput = ["--raw", "--size", "--fps", "--vf", "--format", "--frames", "--timeout", "--follow", "--pad"];
    private static readonly string[] Streaming = ["--chunk", "--policy", "--stats", "--quiet"];
    private static readonly string[] VideoOutput = ["--codec", "--crf"];

    public static readonly IReadOnlyDictionary<string, string[]> OptionsOf = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["encode"] = ["--input", "--output", "--tensor", "--sample-seed", .. Model, .. VideoInput, .. Streaming],
        ["decode"] = ["--input", "--output", "--tensor", "--raw", "--size", "--fps", .. Model, .. Streaming, .. VideoOutput],
        ["recon"] = ["--input", "--output", .. Model, .. VideoInput, .. Streaming, .. VideoOutput],
        ["info"] = ["--input", "--height", "--width", "--chunk", .. Model, .. VideoInput],
        ["repair"] = ["--input", "--output", "--quiet", "--verbose"],
        ["convert"] = ["--input", "--output", "--config", "--force", "--quiet", "--verbose"],
        ["generate"] = ["--preset", "--config", "--output", "--dtype", "--seed", "--force", "--quiet", "--verbose"],
        ["verify"] = ["--case", .. Device],
        ["devices"] = ["--device", "--verbose"],
        ["bench"] = ["--quick", "--markdown", "--preset", "--model", "--frames", "--height", "--width", "--runs", "--json", "--size", .. Device],
    };

    /// <summary>Throws a <see cref="UsageException"/> for an option <paramref name="verb"/> does not take.</summary>
    public static void CheckOption(string verb, string option)
    {
        if (!OptionsOf.TryGetValue(verb, out var known) || known.Contains(option)) return;
        var nearest = known.MinBy(k => Distance(k, option));
        var hint = nearest != null && Distance(nearest, option) <= 2 ? $" (did you mean {nearest}?)" : "";
        throw new UsageException($"unknown option '{option}' for '{verb}'{hint}; 'wfvae help' lists the options");
    }

    /// <summary>Edit distance (insertions, deletions, substitutions).</summary>
    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
