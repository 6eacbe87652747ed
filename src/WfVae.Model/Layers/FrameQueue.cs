using WfVae.Runtime;

namespace WfVae.Model.Layers;

/// <summary>
/// A FIFO of frames on the device: the decoder's connect_l2 outflow branch runs one latent ahead of the
/// backbone (docs/model.md, "Causal streaming"), so its frames wait here until the backbone reaches them.
/// The queued frames belong to the stream (<see cref="StreamState"/>).
/// </summary>
public sealed class FrameQueue
{
    private readonly int _slot;

    private sealed class Stream
    {
        public GpuTensor? Buffer, Spare;
        public int Count;
    }

    public FrameQueue(WeightSource source) => _slot = source.State.Next();

    /// <summary>Frames waiting in this stream's queue.</summary>
    public int Count(StreamState state) => state.Slot<Stream>(_slot).Count;

    public void Enqueue(StreamContext ctx, GpuTensor frames)
    {
        if (frames.T == 0) return;
        var s = ctx.State.Slot<Stream>(_slot);
        EnsureCapacity(ctx, s, frames, s.Count + frames.T);
        ctx.Rec.Copy(frames, s.Buffer!.Frames(s.Count, frames.T), "queue.in");
        s.Count += frames.T;
    }

    /// <summary>The oldest <paramref name="n"/> frames, in a rented tensor.</summary>
    public GpuTensor Dequeue(StreamContext ctx, int n, int c, int h, int w)
    {
        var s = ctx.State.Slot<Stream>(_slot);
        if (n > s.Count) throw new InvalidOperationException($"frame queue holds {s.Count} frames, {n} requested");
        var result = ctx.Rent(c, n, h, w);
        if (n == 0) return result;
        ctx.Rec.Copy(s.Buffer!.Frames(0, n), result, "queue.out");
        int rest = s.Count - n;
        if (rest > 0)
        {
            ctx.Rec.Copy(s.Buffer.Frames(n, rest), s.Spare!.Frames(0, rest), "queue.compact");
            (s.Buffer, s.Spare) = (s.Spare, s.Buffer);
        }
        s.Count = rest;
        return result;
    }

    private static void EnsureCapacity(StreamContext ctx, Stream s, GpuTensor like, int frames)
    {
        if (s.Buffer != null && s.Buffer.T >= frames) return;
        int capacity = Math.Max(frames, 2 * (s.Buffer?.T ?? 1));
        var bigger = ctx.State.CreateTensor(like.C, capacity, like.H, like.W, like.Precision);
        var spare = ctx.State.CreateTensor(like.C, capacity, like.H, like.W, like.Precision);
        if (s.Buffer != null && s.Count > 0) ctx.Rec.Copy(s.Buffer.Frames(0, s.Count), bigger.Frames(0, s.Count), "queue.grow");
        // The old buffers may still be read by recorded commands: release them after the batch.
        foreach (var old in (ReadOnlySpan<GpuTensor?>)[s.Buffer, s.Spare])
        {
            ctx.State.Release(old);
            ctx.DisposeAfterSubmit(old);
        }
        s.Buffer = bigger;
        s.Spare = spare;
    }
}
