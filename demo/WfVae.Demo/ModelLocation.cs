namespace WfVae.Demo;

/// <summary>Tells untrained weights apart from real ones (the default checkpoint is found by <see cref="WfVae.Model.DefaultModel"/>).</summary>
public static class ModelLocation
{
    /// <summary>A model folder holding this file has random (untrained) weights; the report says so.</summary>
    public const string UntrainedMarker = "UNTRAINED.txt";

    /// <summary>The untrained marker's path when <paramref name="modelPath"/> (folder or file) has one, else null.</summary>
    public static string? UntrainedMarkerOf(string modelPath)
    {
        string? folder = Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath));
        if (folder == null) return null;
        string marker = Path.Combine(folder, UntrainedMarker);
        return File.Exists(marker) ? marker : null;
    }
}
