using System.Runtime.InteropServices;

namespace WfVae.Frei0r;

/// <summary>
/// Where this library lies, found with dladdr on one of its own functions (hosts load plugins from
/// FREI0R_PATH, ~/.frei0r-1/lib or a system folder, and the process's own folder says nothing about that).
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
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return null;
        try
        {
            DlInfo info;
            delegate* unmanaged<int> self = &Frei0rExports.Init;
            if (OperatingSystem.IsLinux() ? DladdrLinux(self, &info) == 0 : DladdrMac(self, &info) == 0) return null;
            string? file = Marshal.PtrToStringUTF8(info.FileName);
            return file == null ? null : Path.GetDirectoryName(Path.GetFullPath(file));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct DlInfo
    {
        public nint FileName, FileBase, SymbolName, SymbolAddress;
    }

    [DllImport("libc.so.6", EntryPoint = "dladdr")]
    private static extern int DladdrLinux(void* address, DlInfo* info);

    [DllImport("libSystem.B.dylib", EntryPoint = "dladdr")]
    private static extern int DladdrMac(void* address, DlInfo* info);
}
