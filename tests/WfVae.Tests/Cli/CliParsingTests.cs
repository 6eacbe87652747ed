using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Cli;

/// <summary>What System.CommandLine adds to the documented command line: per-command help, completions, response files, --name=value.</summary>
public sealed class CliParsingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-parsing-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EachCommandHasHelpListingItsOptions()
    {
        var (code, output, _) = Run("encode", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--policy", output);
        Assert.Contains("--pad", output);
        Assert.DoesNotContain("--codec", output); // a decode/recon option, not encode's
        // Help lines that depend on the verb: bench's --frames is the clip length; devices takes no bare argument.
        Assert.Contains("frames of the clip", Run("bench", "--help").Out);
        Assert.DoesNotContain("read at most", Run("bench", "--help").Out);
        var devices = Run("devices", "--help").Out;
        Assert.Contains("takes no bare argument", devices);
        Assert.DoesNotContain("stand for --input", devices);
        var full = Run("help");
        Assert.Equal(0, full.Code);
        Assert.Contains("exit codes:", full.Out);
    }

    [Fact]
    public void TabCompletionOffersVerbsOptionsAndValues()
    {
        Assert.Contains("encode", Run("[suggest:9]", "wfvae enc").Out.Split('\n', StringSplitOptions.TrimEntries));
        var values = Run("[suggest:22]", "wfvae encode --policy ").Out.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Contains("pad", values);
        Assert.Contains("drop", values);
        Assert.Contains("--precision", Run("[suggest:17]", "wfvae info --prec").Out);
    }

    [Fact]
    public void ResponseFilesAndEqualsSignsGiveArguments()
    {
        var rsp = Path.Combine(_dir, "args.rsp");
        File.WriteAllLines(rsp, ["generate", "--preset", "nope", "--output", Path.Combine(_dir, "out")]);
        var fromFile = Run("@" + rsp);
        Assert.Equal(2, fromFile.Code);
        Assert.Contains("unknown preset 'nope'", fromFile.Err);
        var missing = Run("@" + Path.Combine(_dir, "nope.rsp"));
        Assert.Equal(2, missing.Code);
        Assert.Contains("response file '" + Path.Combine(_dir, "nope.rsp") + "' is not a readable file", missing.Err);
        var equals = Run("generate", "--preset=nope", "--output=" + Path.Combine(_dir, "out"));
        Assert.Equal(2, equals.Code);
        Assert.Contains("unknown preset 'nope'", equals.Err);
    }

    [Fact]
    public void MissingRepeatedAndStrayArgumentsAreUsageErrors()
    {
        var missing = Run("info", "--model");
        Assert.Equal(2, missing.Code);
        Assert.Contains("--model needs a value", missing.Err);
        Assert.Equal(2, Run("info", "--model", "a", "--model", "b").Code);
        var stray = Run("repair", "a.wfl", "b.wfl", "c.wfl");
        Assert.Equal(2, stray.Code);
        Assert.Contains("unexpected argument 'c.wfl'", stray.Err);
        Assert.Single(stray.Err.Trim().Split('\n'));
        // A verb without --input must not swallow a bare argument (wfvae warmup <model> meant --model).
        var swallowed = Run("warmup", "some-model");
        Assert.Equal(2, swallowed.Code);
        Assert.Contains("unexpected argument 'some-model' ('warmup' takes no --input", swallowed.Err);
    }
}
