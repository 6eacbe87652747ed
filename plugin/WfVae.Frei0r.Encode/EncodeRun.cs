using System.IO.Pipelines;
using WfVae.Plugin;
using WfVae.Runtime;
using WfVae.Streaming;

namespace WfVae.Frei0r;

/// <summary>
/// The encoding behind one filter instance, started at its first frame: the host's frames go as RGB24 into a
/// pipe, and a <see cref="StreamingEncoder"/> on a worker thread turns them into latents exactly as `wfvae
/// encode` does (first frame alone, then chunks of 4, end-of-stream padding with the true frame count), which
/// go into the .wfl as they are computed. The pipe holds at most a few frames, so the host waits for the
/// encoder rather than queueing video in memory.
/// </summary>
internal sealed class EncodeRun : IDisposable
{
    private readonly LoadedModel _loaded;
    private readonly Pipe _pipe;
    private readonly StreamingEncoder _encoder;
    private readonly int _frameBytes;
    private readonly Task _work;

    public LatentFileOutput Output { get; }
    public Reconstruction? Reconstruction { get; }

    private EncodeRun(LoadedModel loaded, StreamingEncoder encoder, LatentFileOutput output, Reconstruction? reconstruction)
    {
        (_loaded, _encoder, Output, Reconstruction) = (loaded, encoder, output, reconstruction);
        _frameBytes = encoder.Format.FrameBytes;
        _pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4L * _frameBytes + 1, resumeWriterThreshold: _frameBytes, useSynchronizationContext: false));
        _work = Task.Run(EncodeAsync);
    }

    public static EncodeRun Start(string wflPath, string modelPath, string device, Precision? precision, bool reconstruct, int width, int height)
    {
        var full = Path.GetFullPath(wflPath);
        if (!Directory.Exists(Path.GetDirectoryName(full)))
            throw new DirectoryNotFoundException($"cannot write {full}: its folder does not exist");
        var loaded = LoadedModel.Open(modelPath, device, precision, HostLog.Line);
        Reconstruction? reconstruction = null;
        try
        {
            var encoder = new StreamingEncoder(loaded.Model, new RawFrameFormat(RawPixelFormat.Rgb24, width, height), chunk: 4, FramePolicy.Pad);
            reconstruction = reconstruct ? new Reconstruction(loaded.Model, height, width) : null;
            return new EncodeRun(loaded, encoder, new LatentFileOutput(full, loaded.Model, height, width), reconstruction);
        }
        catch
        {
            reconstruction?.Dispose();
            loaded.Dispose();
            throw;
        }
    }

    private async Task EncodeAsync()
    {
        Exception? failure = null;
        try
        {
            await foreach (var latents in _encoder.EncodeAsync(_pipe.Reader).ConfigureAwait(false))
            {
                Output.Add(latents);
                Reconstruction?.Add(latents);
            }
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            Reconstruction?.End(failure);
        }
    }

    /// <summary>Hands one RGBA frame to the encoder (waits while the pipe is full).</summary>
    public void Push(ReadOnlySpan<byte> rgba)
    {
        var span = _pipe.Writer.GetSpan(_frameBytes)[.._frameBytes];
        RgbaFrames.ToRgb24(rgba, span);
        _pipe.Writer.Advance(_frameBytes);
        var flushed = _pipe.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        if (flushed.IsCompleted) ThrowWorkFailure("the encoder stopped reading frames");
    }

    /// <summary>Ends the stream: the encoder pads the last group and the trailer records the true frame count.</summary>
    public void Finish((int Num, int Den) fpsIfUnknown)
    {
        _pipe.Writer.Complete();
        try { _work.GetAwaiter().GetResult(); }
        catch (Exception e) { throw new IOException($"the latent stream could not be ended: {HostLog.Describe(e)}", e); }
        Output.SetFrameRate(fpsIfUnknown);
        Output.Complete(_encoder.Stats!);
    }

    private void ThrowWorkFailure(string fallback)
    {
        try { _work.Wait(TimeSpan.FromSeconds(30)); }
        catch (AggregateException e) { throw new IOException(HostLog.Describe(e.InnerException ?? e), e.InnerException); }
        throw new IOException(fallback);
    }

    /// <summary>Stops the worker (after a failure or without <see cref="Finish"/>) and frees the device.</summary>
    public void Dispose()
    {
        _pipe.Writer.Complete();
        try { _work.Wait(); }
        catch (AggregateException) { } // reported when it happened
        Output.Dispose();
        Reconstruction?.Dispose();
        _loaded.Dispose();
    }
}
