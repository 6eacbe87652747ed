namespace WfVae.Frei0r;

/// <summary>
/// Where this library lies (<see cref="WfVae.Plugin.LibraryFolder"/>: hosts load plugins from FREI0R_PATH,
/// ~/.frei0r-1/lib or a system folder, and the process's own folder says nothing about that).
/// The shipped default model is published beside the library as wfvae-default-model/.
/// </summary>
internal static unsafe class PluginFiles
{
    public const string DefaultModelFolder = "wfvae-default-model";

    /// <summary>The default model's folder; throws naming where it was looked for when it is not there.</summary>
    public static string DefaultModel()
    {
        string? dir = LibraryFolder();
        if (dir == null) throw new FileNotFoundException("the shipped default model cannot be located (the plugin's own folder is unknown on this system); give the model path");
        string folder = Path.Combine(dir, DefaultModelFolder);
        if (!File.Exists(Path.Combine(folder, "config.json")))
            throw new FileNotFoundException($"the shipped default model is not in {folder} (it is published there with the plugin); give the model path");
        return folder;
    }

    private static string? LibraryFolder()
    {
        delegate* unmanaged<int> self = &Frei0rExports.Init;
        return WfVae.Plugin.LibraryFolder.Of(self);
    }
}
