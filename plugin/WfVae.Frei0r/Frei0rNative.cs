using System.Runtime.InteropServices;
using System.Text;

namespace WfVae.Frei0r;

/// <summary>f0r_plugin_info_t (frei0r.h 1.2): filled by f0r_get_plugin_info; strings are UTF-8 and must outlive the call.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct F0rPluginInfo
{
    public byte* Name;
    public byte* Author;
    public int PluginType;
    public int ColorModel;
    public int Frei0rVersion;
    public int MajorVersion;
    public int MinorVersion;
    public int NumParams;
    public byte* Explanation;
}

/// <summary>f0r_param_info_t (frei0r.h 1.2).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct F0rParamInfo
{
    public byte* Name;
    public int Type;
    public byte* Explanation;
}

/// <summary>The frei0r.h constants this project uses (values fixed by the 1.2 API).</summary>
internal static class F0r
{
    public const int PluginTypeFilter = 0, PluginTypeSource = 1;
    public const int ColorModelRgba8888 = 1;
    public const int ParamBool = 0, ParamDouble = 1, ParamString = 4;
    public const int ApiVersion = 1;
}

/// <summary>
/// UTF-8, NUL-terminated copies of strings in native memory. Those made by <see cref="Static"/> live as long as
/// the library (it is never unloaded: linked with -z nodelete), which is what the info structs need.
/// </summary>
internal static unsafe class NativeText
{
    public static byte* Static(string text) => Allocate(text);

    public static byte* Allocate(string text)
    {
        int n = Encoding.UTF8.GetByteCount(text);
        var p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        Encoding.UTF8.GetBytes(text, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    public static void Free(byte* p)
    {
        if (p != null) NativeMemory.Free(p);
    }

    /// <summary>Longest string parameter accepted: a host that passes an unterminated buffer gets an error, not a read past it forever.</summary>
    public const int MaxParameterBytes = 1 << 16;

    /// <summary>Reads a host's NUL-terminated UTF-8 string (at most <see cref="MaxParameterBytes"/> bytes).</summary>
    public static string Read(byte* s)
    {
        if (s == null) return "";
        int n = 0;
        while (s[n] != 0)
            if (++n > MaxParameterBytes) throw new ArgumentException($"a string parameter is longer than {MaxParameterBytes} bytes (or not NUL-terminated)");
        return Encoding.UTF8.GetString(s, n);
    }
}
