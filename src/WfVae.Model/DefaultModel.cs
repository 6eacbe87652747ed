namespace WfVae.Model;

/// <summary>
/// The checkpoint shipped in demo/assets/default-model: what the demo and `wfvae bench stream --sessions` run when no
/// --model is given.
/// </summary>
public static class DefaultModel
{
    private static readonly string[] AssetPath = ["assets", "default-model"];
    private static readonly string[] RepoAssetPath = ["demo", "assets", "default-model"];

    /// <summary>
    /// The shipped default checkpoint: next to the executable (the build copies it there), else in the
    /// repository's demo/assets/default-model above the executable or the current directory.
    /// </summary>
    public static string Locate()
    {
        var tried = new List<string>();
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(DefaultModel).Assembly.Location) })
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

    private static bool IsModelFolder(string folder) =>
        File.Exists(Path.Combine(folder, "config.json")) && File.Exists(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
}
