using System.Runtime.InteropServices;

namespace WfVae.Plugin;

/// <summary>
/// The folder of the shared library this code was linked into, found with dladdr on one of its own functions. A
/// plugin is loaded by some host from wherever the host looks, so the process's folder (AppContext.BaseDirectory)
/// says nothing about where the plugin, and the default model installed beside it, lie.
/// </summary>
internal static unsafe class LibraryFolder
{
    /// <summary>The folder of the library holding <paramref name="function"/>; null where dladdr is unavailable.</summary>
    public static string? Of(void* function)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return null;
        try
        {
            DlInfo info;
            if (OperatingSystem.IsLinux() ? DladdrLinux(function, &info) == 0 : DladdrMac(function, &info) == 0) return null;
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
