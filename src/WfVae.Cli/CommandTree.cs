using System.CommandLine;
using System.CommandLine.Parsing;

namespace WfVae.Cli;

/// <summary>
/// The `wfvae` command line as a System.CommandLine tree, built from <see cref="Verbs"/>: one command per
/// verb with its options, a bare-argument list, per-command help (`wfvae encode --help`), response files
/// (`wfvae @args.rsp`), `--name=value`, and completions through the `[suggest]` directive. Values are kept
/// as strings: each command checks its own and says what it expected (exit 2), as docs/cli.md documents.
/// </summary>
internal static class CommandTree
{
    public static RootCommand Build(Func<string, Options, int> dispatch)
    {
        var root = new RootCommand("wfvae: the WF-VAE video VAE on Vulkan ('wfvae help' prints the full reference, docs/cli.md has every detail)");
        foreach (var (verb, names) in Verbs.OptionsOf)
        {
            var command = new Command(verb, Verbs.Summaries[verb]);
            var options = names.Distinct().Select(name => NewOption(verb, name)).ToList();
            foreach (var option in options) command.Add(option);
            var bare = new Argument<string[]>(verb == "bench" ? "benchmark" : "input-and-output")
            {
                Arity = new ArgumentArity(0, 2),
                Description = BareDescription(verb, names),
            };
            command.Add(bare);
            command.SetAction(parse => dispatch(verb, Options.From(verb, Values(parse, options), parse.GetValue(bare) ?? [])));
            root.Add(command);
        }
        return root;
    }

    // Bare arguments fill --input, then --output; a verb without them refuses any (Options.From).
    private static string BareDescription(string verb, string[] names) =>
        verb == "bench" ? "ops, stream or soak"
        : !names.Contains("--input") ? "none: this command takes no bare argument"
        : names.Contains("--output") ? "stand for --input and --output when those are not given"
        : "stands for --input when it is not given";

    private static Option NewOption(string verb, string name)
    {
        Option option = Verbs.Flags.Contains(name)
            ? new Option<bool>(name) { Arity = ArgumentArity.Zero }
            : new Option<string>(name) { HelpName = name[2..] };
        option.Description = Verbs.HelpOf(verb, name);
        if (Verbs.Completions.TryGetValue(name, out var values)) option.CompletionSources.Add(values);
        return option;
    }

    /// <summary>The options given, by name: a flag maps to null, any other option to its value.</summary>
    private static Dictionary<string, string?> Values(ParseResult parse, IEnumerable<Option> options)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var option in options)
        {
            if (parse.GetResult(option) is not { Implicit: false } result) continue;
            values[option.Name] = option is Option<bool> ? null : result.Tokens.LastOrDefault()?.Value;
        }
        return values;
    }

    /// <summary>
    /// The first parse error as this tool words it (one line, exit 2): unknown options with the nearest
    /// known name, options without their value, stray arguments; null when the command line parsed.
    /// </summary>
    public static UsageException? UsageError(ParseResult parse)
    {
        var verb = parse.CommandResult.Command.Name;
        // An unknown "--name" is no option to the parser, just an argument (it may even fill a bare-argument
        // slot); it is one unless it follows an option that takes a value.
        var tokens = parse.Tokens;
        for (int i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            bool isValue = i > 0 && tokens[i - 1].Type == TokenType.Option && !Verbs.Flags.Contains(tokens[i - 1].Value);
            if (t.Type == TokenType.Argument && t.Value.StartsWith("--", StringComparison.Ordinal) && !isValue)
            {
                if (Verbs.OptionsOf.ContainsKey(verb)) Verbs.CheckOption(verb, t.Value.Split('=', ':')[0]);
                return new UsageException($"unknown option '{t.Value}'; 'wfvae help' lists the options");
            }
        }
        if (parse.Errors.Count == 0) return null;
        foreach (var error in parse.Errors)
        {
            if (error.SymbolResult is OptionResult { Option: Option<string> option, Tokens.Count: 0 })
                return new UsageException($"{option.Name} needs a value");
        }
        if (parse.UnmatchedTokens.Count > 0)
            return new UsageException($"unexpected argument '{parse.UnmatchedTokens[0]}' (--input and --output are already given)");
        return new UsageException(parse.Errors[0].Message);
    }
}
