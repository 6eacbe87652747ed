using System.Diagnostics;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;

namespace WfVae.Cli;

/// <summary>
/// warmup [--model M] [--height H --width W]: compiles every pipeline that encode and decode of HxW frames use, into
/// the persistent pipeline cache, so that the first push of a later run does not wait for the shader compiler (an
/// installer's step). The pipelines are found the only exact way: by streaming zeros through both directions with
/// the command line's own push pattern, each session's first push compiling its pipelines in parallel.
/// </summary>
internal static class WarmupCommand
{
    /// <summary>Frame size warmed when none is given: the tile choices depend on channels, rarely on the size.</summary>
    private const int DefaultSize = 256;

    public static int Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        var (h, w) = o.Has("--height") || o.Has("--width") ? MemoryPlanInfo.FrameSize(o) : (DefaultSize, DefaultSize);
        var clock = Stopwatch.StartNew();
        var model = ModelCommands.LoadModel(o, stderr, "warmup");
        var device = model.Device;
        var load = clock.Elapsed;
        int built;
        int atDispatch = device.Pipelines.BuiltAtDispatch;
        TimeSpan encoderFirst, decoderFirst;
        try
        {
            int before = device.Pipelines.Built;
            (encoderFirst, decoderFirst) = Stream(model, h, w);
            built = device.Pipelines.Built - before;
            atDispatch = device.Pipelines.BuiltAtDispatch - atDispatch;
        }
        finally
        {
            model.Dispose();
            device.Dispose(); // writes the pipeline cache: the summary follows only once it is on disk
        }
        stdout.WriteLine($"warmup: {built} pipelines for {w}x{h} frames ({built - atDispatch} compiled in parallel) in {clock.Elapsed.TotalSeconds:F1} s " +
                         $"(model load {load.TotalSeconds:F1} s, first push: encoder {encoderFirst.TotalSeconds:F2} s, decoder {decoderFirst.TotalSeconds:F2} s)");
        return 0;
    }

    /// <summary>
    /// Streams zeros through an encoder and a decoder session as encode and decode cut a stream by default
    /// (<see cref="ChunkPolicy"/>: one frame, then chunks; the decoder ends with a flush); returns each first push's time.
    /// </summary>
    private static (TimeSpan Encoder, TimeSpan Decoder) Stream(WfVaeModel model, int h, int w)
    {
        bool streams = model.Config.NormType == NormType.LayerNorm;
        int chunk = streams ? 4 : 8, latentChunk = streams ? 1 : 2; // GroupNorm models run whole clips: one push
        var encPushes = streams ? new[] { 1, chunk, chunk } : new[] { 1 + chunk };
        var decPushes = streams ? new[] { 1, latentChunk, latentChunk, latentChunk } : new[] { 1 + latentChunk };
        TimeSpan encoderFirst, decoderFirst;
        using (var s = model.OpenEncoder(h, w))
            encoderFirst = Time(encPushes, n => s.Push(new float[n * 3 * h * w], n));
        int lh = WfVaeConfig.LatentSize(h), lw = WfVaeConfig.LatentSize(w), l = model.Config.LatentDim;
        using (var s = model.OpenDecoder(lh, lw))
        {
            decoderFirst = Time(decPushes, n => s.Push(new float[n * l * lh * lw], n, last: false));
            s.Flush();
        }
        return (encoderFirst, decoderFirst);
    }

    private static TimeSpan Time(int[] pushes, Action<int> push)
    {
        var first = Stopwatch.StartNew();
        push(pushes[0]);
        var elapsed = first.Elapsed;
        foreach (int n in pushes.Skip(1)) push(n);
        return elapsed;
    }
}
