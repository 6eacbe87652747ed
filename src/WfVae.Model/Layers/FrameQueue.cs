using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// A FIFO of frames on the device: the decoder's level-3 outflow branch runs one latent ahead of the
/// backbone (spec §6.3), so its frames wait here until the backbone reaches them.
/// </summary>
public sealed class FrameQueue : IDisposable
{
    private GpuTensor? _buffer, _spare;
    private int _count;

    public int Count => _count;

    public void Enqueue(StreamContext ctx, GpuTensor frames)
    {
        if (frames.T == 0) return;
        EnsureCapacity(ctx, frames, _count + frames.T);
        ctx.Rec.Copy(frames, _buffer!.Frames(_count, frames.T), "queue.in");
        _count += frames.T;
    }

    /// <summary>The oldest <paramref name="n"/> frames, in a rented tensor.</summary>
    public GpuTensor Dequeue(StreamContext ctx, int n, int c, int h, int w)
    {
        if (n > _count) throw new InvalidOperationException($"frame queue holds {_count} frames, {n} requested");
        var result = ctx.Rent(c, n, h, w);
        if (n == 0) return result;
        ctx.Rec.Copy(_buffer!.Frames(0, n), result, "queue.out");
        int rest = _count - n;
        if (rest > 0)
        {
            ctx.Rec.Copy(_buffer.Frames(n, rest), _spare!.Frames(0, rest), "queue.compact");
            (_buffer, _spare) = (_spare, _buffer);
        }
        _count = rest;
        return result;
    }

    private void EnsureCapacity(StreamContext ctx, GpuTensor like, int frames)
    {
        if (_buffer != null && _buffer.T >= frames) return;
        int capacity = Math.Max(frames, 2 * (_buffer?.T ?? 1));
        var bigger = ctx.Device.CreateTensor(like.C, capacity, like.H, like.W, like.Precision);
        var spare = ctx.Device.CreateTensor(like.C, capacity, like.H, like.W, like.Precision);
        if (_buffer != null && _count > 0) ctx.Rec.Copy(_buffer.Frames(0, _count), bigger.Frames(0, _count), "queue.grow");
        // The old buffers may still be read by recorded commands: release them after the batch.
        ctx.DisposeAfterSubmit(_buffer);
        ctx.DisposeAfterSubmit(_spare);
        _buffer = bigger;
        _spare = spare;
    }

    public void Reset() => _count = 0;

    public void Dispose()
    {
        _buffer?.Dispose();
        _spare?.Dispose();
        _buffer = _spare = null;
        _count = 0;
    }
}
