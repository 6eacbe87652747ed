using System.Runtime.InteropServices;

namespace WfVae.Frei0r;

/// <summary>
/// The frei0r 1.2 entry points (frei0r.h). Each library supplies its effect through <see cref="PluginDefinition"/>.
/// What hosts may rely on, whatever they pass:
/// <list type="bullet">
/// <item>no exception crosses into the host; a misuse (NULL pointer, unknown or destroyed instance, bad index,
/// bad size) is one line on stderr and the call does nothing else;</item>
/// <item>instances are ids in a table, not pointers: a stale or made-up instance is refused, not dereferenced;
/// an update on a destroyed instance still copies its input (the size is remembered);</item>
/// <item>f0r_get_plugin_info and f0r_get_param_info work before f0r_init (MLT scans that way), and f0r_deinit
/// releases nothing an instance needs (MLT calls it before destroying its instances).</item>
/// </list>
/// </summary>
public static unsafe class Frei0rExports
{
    private static readonly WfVae.Plugin.HandleTable<Frei0rEffect> Instances = new();
    private static readonly Dictionary<nint, (int Width, int Height)> Destroyed = new();
    private static readonly NativeDescription Native = new(PluginDefinition.Description);

    [UnmanagedCallersOnly(EntryPoint = "f0r_init")]
    public static int Init() => 1;

    [UnmanagedCallersOnly(EntryPoint = "f0r_deinit")]
    public static void Deinit()
    {
        // Instances stay valid: MLT destroys its instances after calling this, GStreamer never calls it.
    }

    [UnmanagedCallersOnly(EntryPoint = "f0r_get_plugin_info")]
    public static void GetPluginInfo(F0rPluginInfo* info)
    {
        try
        {
            if (info == null) { HostLog.Line("f0r_get_plugin_info: info is NULL"); return; }
            *info = Native.Info;
        }
        catch (Exception e) { HostLog.Line($"f0r_get_plugin_info: {HostLog.Describe(e)}"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "f0r_get_param_info")]
    public static void GetParamInfo(F0rParamInfo* info, int index)
    {
        try
        {
            if (info == null) { HostLog.Line("f0r_get_param_info: info is NULL"); return; }
            if (index < 0 || index >= Native.Parameters.Length) { HostLog.Line($"f0r_get_param_info: parameter index {index} is out of range (this plugin has {Native.Parameters.Length})"); return; }
            *info = Native.Parameters[index];
        }
        catch (Exception e) { HostLog.Line($"f0r_get_param_info: {HostLog.Describe(e)}"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "f0r_construct")]
    public static nint Construct(uint width, uint height)
    {
        try
        {
            if (width == 0 || height == 0 || width % 8 != 0 || height % 8 != 0)
                throw new ArgumentException($"frame size {width}x{height} is not supported: width and height must be positive multiples of 8 (frei0r's rule, and the model's 8x spatial compression); scale or pad the video first");
            if ((long)width * height * 4 > int.MaxValue) throw new ArgumentException($"frame size {width}x{height} is too large");
            return Instances.Add(PluginDefinition.Create((int)width, (int)height));
        }
        catch (Exception e)
        {
            HostLog.Line($"f0r_construct: {HostLog.Describe(e)}");
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "f0r_destruct")]
    public static void Destruct(nint instance)
    {
        try
        {
            if (!Instances.TryRemove(instance, out var effect)) { HostLog.Line($"f0r_destruct: {Unknown(instance)}"); return; }
            lock (Destroyed) Destroyed[instance] = (effect.Width, effect.Height);
            effect.Destroy();
        }
        catch (Exception e) { HostLog.Line($"f0r_destruct: {HostLog.Describe(e)}"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "f0r_set_param_value")]
    public static void SetParamValue(nint instance, void* param, int index)
    {
        try
        {
            if (!Instances.TryGet(instance, out var effect)) { HostLog.Line($"f0r_set_param_value: {Unknown(instance)}"); return; }
            effect.SetParameter(index, param);
        }
        catch (Exception e) { HostLog.Line($"f0r_set_param_value: {HostLog.Describe(e)}"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "f0r_get_param_value")]
    public static void GetParamValue(nint instance, void* param, int index)
    {
        try
        {
            if (!Instances.TryGet(instance, out var effect)) { HostLog.Line($"f0r_get_param_value: {Unknown(instance)}"); return; }
            effect.GetParameter(index, param);
        }
        catch (Exception e) { HostLog.Line($"f0r_get_param_value: {HostLog.Describe(e)}"); }
    }

    [UnmanagedCallersOnly(EntryPoint = "f0r_update")]
    public static void Update(nint instance, double time, uint* inframe, uint* outframe) => UpdateFrame(instance, time, inframe, outframe);

    /// <summary>Optional for filters and sources; the same as f0r_update with the first input.</summary>
    [UnmanagedCallersOnly(EntryPoint = "f0r_update2")]
    public static void Update2(nint instance, double time, uint* inframe1, uint* inframe2, uint* inframe3, uint* outframe) =>
        UpdateFrame(instance, time, inframe1, outframe);

    private static void UpdateFrame(nint instance, double time, uint* inframe, uint* outframe)
    {
        try
        {
            if (outframe == null) { HostLog.Line("f0r_update: outframe is NULL"); return; }
            if (Instances.TryGet(instance, out var effect))
            {
                bool filter = PluginDefinition.Description.PluginType == F0r.PluginTypeFilter;
                if (filter && inframe == null) { HostLog.Line("f0r_update: inframe is NULL (this plugin is a filter)"); return; }
                effect.Update(time, (byte*)inframe, (byte*)outframe);
                return;
            }
            HostLog.Line($"f0r_update: {Unknown(instance)}");
            (int Width, int Height) size;
            lock (Destroyed) if (!Destroyed.TryGetValue(instance, out size)) return;
            int bytes = 4 * size.Width * size.Height;
            Frei0rEffect.PassThrough(inframe == null ? default : new ReadOnlySpan<byte>(inframe, bytes), new Span<byte>(outframe, bytes));
        }
        catch (Exception e) { HostLog.Line($"f0r_update: {HostLog.Describe(e)}"); }
    }

    private static string Unknown(nint instance)
    {
        if (instance == 0) return "the instance is NULL";
        bool destroyed;
        lock (Destroyed) destroyed = Destroyed.ContainsKey(instance);
        return destroyed ? $"instance 0x{instance:x} was destroyed" : $"0x{instance:x} is not an instance of this plugin";
    }

    /// <summary>The description as the native structs hand it out; built once, never freed.</summary>
    private sealed class NativeDescription
    {
        public F0rPluginInfo Info;
        public readonly F0rParamInfo[] Parameters;

        public NativeDescription(Frei0rDescription d)
        {
            Info = new F0rPluginInfo
            {
                Name = NativeText.Static(d.Name),
                Author = NativeText.Static(Frei0rDescription.Author),
                PluginType = d.PluginType,
                ColorModel = F0r.ColorModelRgba8888,
                Frei0rVersion = F0r.ApiVersion,
                MajorVersion = Frei0rDescription.MajorVersion,
                MinorVersion = Frei0rDescription.MinorVersion,
                NumParams = d.Parameters.Count,
                Explanation = NativeText.Static(d.Explanation),
            };
            Parameters = d.Parameters.Select(p => new F0rParamInfo
            {
                Name = NativeText.Static(p.Name),
                Type = p.Type,
                Explanation = NativeText.Static(p.Explanation),
            }).ToArray();
        }
    }
}
