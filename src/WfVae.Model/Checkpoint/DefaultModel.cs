namespace WfVae.Model.Checkpoint;

/// <summary>
/// The model shipped with the engine. Builds and publishes copy demo/assets/default-model beside every
/// program and the plugin (demo/assets/DefaultModel.targets) as a folder named <see cref="FolderName"/>; a run
/// from a checkout also finds demo/assets/default-model above the binaries or the current directory.
/// </summary>
public static class DefaultModel
{
    public const string FolderName = "default-model";

    /// <summary>A model folder holding this file has random weights (the first shipped model did).</summary>
    public const string UntrainedMarker = "UNTRAINED.txt";

    /// <summary>The model card; a line "Status: untrained" in it marks random weights too.</summary>
    public const string CardName = "MODEL_CARD.md";

    private static readonly string[] RepoPath = ["demo", "assets", FolderName];

    /// <summary>The default model's folder, or a <see cref="DefaultModelMissingException"/> naming every place looked at.</summary>
    public static string Locate() => Locate(Candidates());

    /// <summary>
    /// <see cref="Locate()"/> for a library loaded by another program (the C ABI plugin): only <paramref name="libraryFolder"/>'s
    /// default-model/, since the process's folder and the current directory are the host's (a host started inside an old
    /// checkout would otherwise load that checkout's weights). Null (the system could not tell the library's folder): an error.
    /// </summary>
    public static string LocateBeside(string? libraryFolder) => libraryFolder != null
        ? Locate([Path.Combine(libraryFolder, FolderName)])
        : throw new DefaultModelMissingException("no model given, and the folder of this library (where the default model is installed) cannot be determined on this system; pass a model path");

    /// <summary>The first of <paramref name="folders"/> that holds a model, else the error naming them all.</summary>
    public static string Locate(IEnumerable<string> folders)
    {
        var tried = new List<string>();
        foreach (var folder in folders)
        {
            tried.Add(folder);
            if (IsModelFolder(folder)) return folder;
        }
        throw new DefaultModelMissingException(
            $"no model given and the shipped default model is not installed (looked in {string.Join(", ", tried.Distinct())}); " +
            "pass a model: --model <folder with config.json and diffusion_pytorch_model.safetensors>");
    }

    /// <summary>True when the model (folder or weights file) is marked untrained by its marker file or its card.</summary>
    public static bool IsUntrained(string modelPath)
    {
        string? folder = Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath));
        if (folder == null) return false;
        if (File.Exists(Path.Combine(folder, UntrainedMarker))) return true;
        string card = Path.Combine(folder, CardName);
        return File.Exists(card) && new FileInfo(card).Length < 1 << 20 &&
               File.ReadLines(card).Any(l => l.Trim().StartsWith("Status: untrained", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The one-line warning every tool prints when it uses untrained weights.</summary>
    public static string UntrainedWarning(string modelPath) =>
        $"warning: the model {modelPath} is untrained (random weights): its reconstructions are noise";

    private static IEnumerable<string> Candidates()
    {
        var starts = new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(DefaultModel).Assembly.Location) }
            .Where(s => !string.IsNullOrEmpty(s)).Select(s => s!).ToList();
        foreach (var start in starts) yield return Path.GetFullPath(Path.Combine(start, FolderName));
        foreach (var start in starts.Append(Environment.CurrentDirectory))
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
                yield return Path.Combine([dir.FullName, .. RepoPath]);
    }

    private static bool IsModelFolder(string folder) =>
        File.Exists(Path.Combine(folder, "config.json")) &&
        File.Exists(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
}

/// <summary>No model was given and the shipped default is not where an install puts it.</summary>
public sealed class DefaultModelMissingException(string message) : FileNotFoundException(message);
