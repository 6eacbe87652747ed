namespace WfVae.Plugin;

/// <summary>
/// Frames produced by the engine and not yet pulled by the caller: whole frames of a fixed size, first in
/// first out. One growable array; consumed frames are compacted away when the next append needs room.
/// </summary>
internal sealed class OutputQueue
{
    private readonly int _frameSize;
    private float[] _data = Array.Empty<float>();
    private int _startFrame, _frames;

    public OutputQueue(int frameSize) => _frameSize = frameSize;

    /// <summary>Frames waiting to be pulled.</summary>
    public int Count => _frames;

    public void Append(ReadOnlySpan<float> frames, int count)
    {
        if (count == 0) return;
        long needed = (long)(_startFrame + _frames + count) * _frameSize;
        if (needed > _data.Length)
        {
            long live = (long)(_frames + count) * _frameSize;
            var grown = live > _data.Length ? new float[Math.Max(live, 2L * _data.Length)] : _data;
            _data.AsSpan(_startFrame * _frameSize, _frames * _frameSize).CopyTo(grown);
            _data = grown;
            _startFrame = 0;
        }
        frames[..(count * _frameSize)].CopyTo(_data.AsSpan((_startFrame + _frames) * _frameSize));
        _frames += count;
    }

    /// <summary>Copies up to <paramref name="maxFrames"/> frames into <paramref name="destination"/> and drops them; returns how many.</summary>
    public int Take(Span<float> destination, int maxFrames)
    {
        int n = Math.Min(maxFrames, _frames);
        _data.AsSpan(_startFrame * _frameSize, n * _frameSize).CopyTo(destination);
        return Drop(n);
    }

    /// <summary>Drops up to <paramref name="maxFrames"/> frames without copying them; returns how many.</summary>
    public int Drop(int maxFrames)
    {
        int n = Math.Min(maxFrames, _frames);
        _startFrame += n;
        _frames -= n;
        if (_frames == 0) _startFrame = 0;
        return n;
    }
}
