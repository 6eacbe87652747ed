namespace WfVae.Frei0r;

/// <summary>One parameter as f0r_get_param_info describes it. Hosts derive option names from <see cref="Name"/>
/// (GStreamer: lower case, '-' for other characters; MLT: the name or the index; ffmpeg: the position).</summary>
internal sealed record Frei0rParameter(string Name, int Type, string Explanation);

/// <summary>What f0r_get_plugin_info reports, and the parameters in their (positional) order.</summary>
internal sealed record Frei0rDescription(string Name, int PluginType, string Explanation, IReadOnlyList<Frei0rParameter> Parameters)
{
    public const string Author = "WfVae.Vulkan";
    public const int MajorVersion = 1, MinorVersion = 0;
}

/// <summary>
/// An instance's parameter values. frei0r requires every parameter to have a value from construction on:
/// strings start empty, bools and doubles at 0. String values are kept twice: managed for the effect, and as
/// a native copy that f0r_get_param_value hands out (valid until the next set of that parameter or the
/// instance's destruction, as the API specifies).
/// </summary>
internal sealed unsafe class Frei0rParameterValues : IDisposable
{
    private readonly IReadOnlyList<Frei0rParameter> _parameters;
    private readonly string[] _strings;
    private readonly double[] _numbers;
    private readonly byte*[] _native;
    private static readonly byte* Empty = NativeText.Static("");

    public Frei0rParameterValues(IReadOnlyList<Frei0rParameter> parameters)
    {
        _parameters = parameters;
        _strings = Enumerable.Repeat("", parameters.Count).ToArray();
        _numbers = new double[parameters.Count];
        _native = new byte*[parameters.Count];
    }

    public string String(int index) => _strings[index];

    /// <summary>frei0r bools are doubles: [0, 0.5) false, [0.5, 1] true.</summary>
    public bool Bool(int index) => _numbers[index] >= 0.5;

    /// <summary>Copies a value the host passes (a double*, or a char** for strings).</summary>
    public void Set(int index, void* value)
    {
        var p = Describe(index);
        if (value == null) throw new ArgumentException($"the value of parameter {index} ({p.Name}) is NULL");
        if (p.Type != F0r.ParamString)
        {
            double v = *(double*)value;
            if (!double.IsFinite(v)) throw new ArgumentException($"parameter {index} ({p.Name}) is not a finite number");
            _numbers[index] = v;
            return;
        }
        string s = NativeText.Read(*(byte**)value);
        if (s == _strings[index]) return; // MLT sets every parameter on every frame: keep the copy handed out
        _strings[index] = s;
        NativeText.Free(_native[index]);
        _native[index] = null;
    }

    /// <summary>Writes the value where the host asks (a double*, or a char** that receives the instance's copy).</summary>
    public void Get(int index, void* value)
    {
        var p = Describe(index);
        if (value == null) throw new ArgumentException($"the destination of parameter {index} ({p.Name}) is NULL");
        if (p.Type != F0r.ParamString)
        {
            *(double*)value = _numbers[index];
            return;
        }
        if (_strings[index].Length == 0) { *(byte**)value = Empty; return; }
        if (_native[index] == null) _native[index] = NativeText.Allocate(_strings[index]);
        *(byte**)value = _native[index];
    }

    private Frei0rParameter Describe(int index) =>
        index >= 0 && index < _parameters.Count ? _parameters[index]
            : throw new ArgumentException($"parameter index {index} is out of range (this plugin has {_parameters.Count})");

    public void Dispose()
    {
        for (int i = 0; i < _native.Length; i++)
        {
            NativeText.Free(_native[i]);
            _native[i] = null;
        }
    }
}
