using System.Diagnostics;

namespace WfVae.Cli;

/// <summary>
/// One updating progress line on stderr ("frames, fps, elapsed, ETA"), only when stderr is a terminal
/// and --quiet is not given: redirected stderr (logs, tests, a pipeline's 2&gt;file) gets no carriage-return noise.
/// </summary>
internal sealed class Progress
{
    private readonly TextWriter? _out;
    private readonly string _what;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long? _total;
    private TimeSpan _last = TimeSpan.MinValue;
    private int _width;

    public Progress(Options o, TextWriter stderr, string what, long? total)
    {
        bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        _out = terminal && !o.Has("--quiet") ? stderr : null;
        (_what, _total) = (what, total);
    }

    /// <summary>The total once it becomes known (e.g. at the end of a live input).</summary>
    public long? Total { set => _total = value; }

    /// <summary>Redraws the line at most 4 times a second.</summary>
    public void Update(long frames)
    {
        if (_out == null) return;
        var now = _clock.Elapsed;
        if (now - _last < TimeSpan.FromMilliseconds(250)) return;
        _last = now;
        Draw(frames, now);
    }

    /// <summary>Draws the final figures and ends the line.</summary>
    public void Done(long frames)
    {
        if (_out == null) return;
        Draw(frames, _clock.Elapsed);
        _out.WriteLine();
    }

    private void Draw(long frames, TimeSpan elapsed)
    {
        double fps = elapsed.TotalSeconds > 0 ? frames / elapsed.TotalSeconds : 0;
        var text = $"{_what}: {frames}{(_total is { } t ? $"/{t}" : "")} frames, {fps:F1} fps, elapsed {Format(elapsed)}";
        if (_total is { } total && fps > 0 && frames < total) text += $", ETA {Format(TimeSpan.FromSeconds((total - frames) / fps))}";
        // Spaces wipe the tail of a longer previous line.
        _out!.Write("\r" + text.PadRight(_width));
        _width = text.Length;
        _out.Flush();
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");
}
