namespace WfVae.Demo;

/// <summary>
/// The demo's default input: real footage shipped with it (demo/assets/clip, copied beside the program as
/// demo-clip/), 17 frames that the shipped default model never saw in training.
/// </summary>
public static class DemoClip
{
    public const string FileName = "cup.mkv";

    /// <summary>Source and licence, for the report.</summary>
    public const string Credit = "cup.mp4 from OpenCV's documentation (Apache-2.0 AND BSD-3-Clause), frames 40-56";

    public static string Locate()
    {
        var candidates = new List<string> { Path.Combine(AppContext.BaseDirectory, "demo-clip", FileName) };
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir != null; dir = dir.Parent)
            candidates.Add(Path.Combine(dir.FullName, "demo", "assets", "clip", FileName));
        return candidates.FirstOrDefault(File.Exists) ?? throw new FileNotFoundException(
            $"the demo's clip is not installed (looked in {candidates[0]} and demo/assets/clip above the current directory); " +
            "pass --input <video> or --synthetic");
    }
}
