namespace WfVae.Demo;

/// <summary>Finds the default checkpoint and tells untrained weights apart from real ones.</summary>
public static class ModelLocation
{
    /// <summary>A model folder holding this file has random (untrained) weights; the report says so.</summary>
    public const string UntrainedMarker = "UNTRAINED.txt";

    private static readonly string[] AssetPath = ["assets", "default-model"];
    private static readonly string[] RepoAssetPath = ["demo", "assets", "default-model"];

    /// <summary>
    /// The shipped default checkpoint: next to the executable (the build copies it there), else in the
    /// repository's demo/assets/default-model above the executable or the current directory.
    /// </summary>
    public static string DefaultModel()
    {
        var tried = new List<string>();
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(ModelLocation).Assembly.Location) })
        {
            if (string.IsNullOrEmpty(start)) continue;
            string candidate = Path.Combine([start, .. AssetPath]);
            tried.Add(candidate);
            if (IsModelFolder(candidate)) return candidate;
        }
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine([dir.FullName, .. RepoAssetPath]);
                if (IsModelFolder(candidate)) return candidate;
            }
        }
        throw new FileNotFoundException(
            $"the default model was not found (looked in {string.Join(", ", tried)} and in demo/assets/default-model above them); pass --model <folder>");
    }

    /// <summary>The untrained marker's path when <paramref name="modelPath"/> (folder or file) has one, else null.</summary>
    public static string? UntrainedMarkerOf(string modelPath)
    {
        string? folder = Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath));
        if (folder == null) return null;
        string marker = Path.Combine(folder, UntrainedMarker);
        return File.Exists(marker) ? marker : null;
    }

    private static bool IsModelFolder(string folder) =>
        File.Exists(Path.Combine(folder, "config.json")) && File.Exists(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
}
