using System.Runtime.InteropServices;

namespace WfVae.Plugin;

/// <summary>
/// The folder of the shared library this code was linked into, found with dladdr on one of its own functions. A
/// plugin is loaded by some host from wherever the host looks, so the process's folder (AppContext.BaseDirectory)
/// says nothing about where the plugin, and the default model installed beside it, lie.
/// </summary>
internal static unsafe class LibraryFolder
{
    /// <summary>The folder of the library holding <paramref name="function"/>; null where the system cannot tell.</summary>
    public static string? Of(void* function)
    {
        if (OperatingSystem.IsWindows()) return OfWindows(function);
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

    /// <summary>The module whose code holds the address (its reference count untouched), then that module's file.</summary>
    private static string? OfWindows(void* function)
    {
        const uint fromAddress = 0x4, unchangedRefCount = 0x2; // GET_MODULE_HANDLE_EX_FLAG_*
        if (!GetModuleHandleExW(fromAddress | unchangedRefCount, function, out var module)) return null;
        var path = new char[32768]; // the longest extended-length path
        uint n;
        fixed (char* p = path) n = GetModuleFileNameW(module, p, (uint)path.Length);
        return n == 0 || n >= path.Length ? null : Path.GetDirectoryName(new string(path, 0, (int)n));
    }

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool GetModuleHandleExW(uint flags, void* address, out nint module);

    [DllImport("kernel32.dll", SetLastError = true)]
    private static extern uint GetModuleFileNameW(nint module, char* fileName, uint size);

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
