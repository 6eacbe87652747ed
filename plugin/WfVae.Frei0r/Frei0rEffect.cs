namespace WfVae.Frei0r;

/// <summary>
/// One frei0r instance. The rules every effect gets from here:
/// <list type="bullet">
/// <item>calls on one instance are serialised (hosts such as MLT call from several threads);</item>
/// <item>no exception leaves: the first failure is reported as one line and the instance turns into a
/// pass-through for good (filters copy their input, sources give black frames), so the host keeps running
/// and never shows garbage;</item>
/// <item>frames are RGBA8888, Width x Height, rows packed (frei0r's layout).</item>
/// </list>
/// </summary>
internal abstract unsafe class Frei0rEffect
{
    private readonly Lock _gate = new();
    private bool _failed, _destroyed;

    public int Width { get; }
    public int Height { get; }
    public int FrameBytes => 4 * Width * Height;
    protected Frei0rParameterValues Parameters { get; }

    protected Frei0rEffect(int width, int height)
    {
        (Width, Height) = (width, height);
        Parameters = new Frei0rParameterValues(PluginDefinition.Description.Parameters);
    }

    /// <summary>Produces the output frame. <paramref name="input"/> is empty for sources.</summary>
    protected abstract void Render(double time, ReadOnlySpan<byte> input, Span<byte> output);

    /// <summary>Ends the instance's work (a filter ends its stream here). Runs once, also after a failure.</summary>
    protected abstract void Finish(bool failed);

    public void Update(double time, byte* input, byte* output)
    {
        lock (_gate)
        {
            var outSpan = new Span<byte>(output, FrameBytes);
            var inSpan = input == null ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(input, FrameBytes);
            if (!_failed && !_destroyed)
            {
                try
                {
                    Render(time, inSpan, outSpan);
                    return;
                }
                catch (Exception e)
                {
                    Fail(e);
                }
            }
            PassThrough(inSpan, outSpan);
        }
    }

    /// <summary>What a failed instance shows: its input unchanged, or opaque black when there is none.</summary>
    public static void PassThrough(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.Length == output.Length) { input.CopyTo(output); return; }
        output.Clear();
        for (int i = 3; i < output.Length; i += 4) output[i] = 255;
    }

    public void SetParameter(int index, void* value)
    {
        lock (_gate) Parameters.Set(index, value);
    }

    public void GetParameter(int index, void* value)
    {
        lock (_gate) Parameters.Get(index, value);
    }

    public void Destroy()
    {
        lock (_gate)
        {
            if (_destroyed) return;
            _destroyed = true;
            try { Finish(_failed); }
            catch (Exception e) { HostLog.Line(HostLog.Describe(e)); }
            finally { Parameters.Dispose(); }
        }
    }

    /// <summary>Reports a failure once; later frames pass through.</summary>
    protected void Fail(Exception e)
    {
        string then = PluginDefinition.Description.PluginType == F0r.PluginTypeSource ? "showing black frames" : "passing frames through unchanged";
        if (!_failed) HostLog.Line($"{HostLog.Describe(e).TrimEnd('.')}; {then} from now on");
        _failed = true;
    }
}
