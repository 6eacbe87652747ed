namespace WfVae.Tests;

/// <summary>
/// Locates repository files from the test assembly. The fixtures are not copied to the output folder
/// (they are tens of megabytes); the root is found by walking up to the solution file instead.
/// </summary>
public static class TestPaths
{
    public const string SolutionFileName = "WfVae.Vulkan.sln";

    public static readonly string RepoRoot = FindRepoRoot();

    /// <summary>Folder of a golden case (config.json, model.safetensors, io.safetensors, case.json).</summary>
    public static string Golden(string caseName) => Path.Combine(RepoRoot, "tests", "fixtures", "golden", caseName);

    /// <summary>The official WF-VAE-L-16Chn state_dict key list.</summary>
    public static string GoldenKeyList => Path.Combine(RepoRoot, "tests", "fixtures", "golden", "wfvae-l-16chn.keys.txt");

    public static IReadOnlyList<string> GoldenCases { get; } = ["tiny", "small16", "image", "nearest", "groupnorm", "long"];

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFileName)))
                return dir.FullName;
        }
        throw new InvalidOperationException(
            $"No folder above '{AppContext.BaseDirectory}' contains {SolutionFileName}; cannot find the repository root.");
    }
}
