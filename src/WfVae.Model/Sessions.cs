using WfVae.Model.Layers;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model;

/// <summary>Latent frames from one push: mean and logvar, frame-major [Frames][L][h][w].</summary>
public sealed record LatentFrames(int FirstFrame, int Frames, float[] Mean, float[] Logvar);

/// <summary>Video frames from one push, frame-major [Frames][3][H][W].</summary>
public sealed record VideoFrames(int FirstFrame, int Frames, float[] Data);

/// <summary>
/// What both stream directions share: the stream's own state (what the layers remember between pushes), the
/// arena the layers rent from (reused push after push, so device memory does not grow with the stream) and one
/// recorder submitted once per push. The model's layers hold only weights, so any number of sessions may be open
/// on one model at once, each used by one thread at a time.
/// </summary>
public abstract class StreamSession : IDisposable
{
    private protected readonly WfVaeModel Model;
    private protected readonly ITapSink? Taps;
    private protected readonly TensorArena Arena;
    private protected readonly CommandRecorder Rec;
    private protected readonly StreamState State;
    private protected readonly StreamContext Ctx;
    private bool _disposed, _closedWithModel;

    public int Height { get; }
    public int Width { get; }
    /// <summary>GPU time of every dispatch so far (sessions opened with profile: true).</summary>
    public IReadOnlyList<DispatchTiming> Timings => Rec.Timings;

    private protected StreamSession(WfVaeModel model, int height, int width, ITapSink? taps, bool profile)
    {
        Model = model;
        Taps = taps;
        Height = height;
        Width = width;
        // Under the model's lock: a model disposed meanwhile either refuses this session or closes it with the others.
        lock (model.OpenSessions)
        {
            model.ThrowIfDisposed();
            try
            {
                Arena = new TensorArena(model.Device);
                Rec = model.Device.BeginCommands(timestamps: profile);
                State = new StreamState(model.Device, model.StateSlots);
                Ctx = new StreamContext(model.Device, Rec, Arena, model.Precision, State);
            }
            catch
            {
                // A device out of memory for the command pool or its fence: what was made goes back before the throw.
                Rec?.Dispose();
                Arena?.Dispose();
                throw;
            }
            model.OpenSessions.Add(this);
        }
    }

    private protected void ThrowIfDisposed()
    {
        if (_closedWithModel)
            throw new ObjectDisposedException(typeof(WfVaeModel).FullName, "the model of this stream session has been disposed, which ended the session");
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    /// <summary>
    /// Device memory of this stream: the model's weights, the layers' causal caches, and the arena's
    /// planned activations with the lower bounds of the last pushes (see <see cref="MemoryReport"/>).
    /// </summary>
    public MemoryReport Memory
    {
        get
        {
            var plan = Arena.LargestPlan;
            return new MemoryReport(Model.WeightBytes, State.DeviceBytes, Arena.SlabBytes, Arena.PeakHeldBytes,
                plan?.LiveSetBytes ?? 0, plan?.LargestPair.First ?? 0, plan?.LargestPair.Second ?? 0, Arena.Passes, Arena.PlannedPasses,
                Rec.ScratchBytes);
        }
    }

    /// <summary>Starts a push: the arena records its tensors' lifetimes (and follows their plan when it repeats).</summary>
    private protected void BeginPush()
    {
        // A push that failed part-way left the graph's caches and the recorder in an unknown state: refuse to go on
        // rather than produce output that silently differs from the whole clip.
        if (_failure != null) throw new InvalidOperationException($"this stream session failed in an earlier push ({_failure}); open a new session");
        Arena.BeginPass();
    }

    /// <summary>Ends a push once its results are downloaded and its tensors returned.</summary>
    private protected void EndPush() => Arena.EndPass();

    private string? _failure;

    /// <summary>
    /// Plans the session's first push before running it: the graph is pushed once, on a fresh stream state, through
    /// a discarding recorder into a dry arena pass (no activation memory, no GPU work), which sizes the slab to the
    /// push's live set; the dry state is dropped and the real push follows the plan on the session's own state.
    /// The dry run also names every pipeline the push dispatches: those not built yet are compiled here, in parallel
    /// (<see cref="PipelineLibrary.Prepare"/>), instead of one after another while the real push is recorded.
    /// Without it a whole clip (one push) would run on spill memory that grows with the graph (WF-VAE-L 64x64
    /// decode: 50.2 MiB instead of the 22.6 MiB live set).
    /// </summary>
    private protected void PlanFirstPush(Action<StreamContext> push)
    {
        if (_failure != null) return; // BeginPush reports it
        using var dry = new StreamState(Model.Device, Model.StateSlots);
        var ctx = new StreamContext(Model.Device, Rec, Arena, Model.Precision, dry);
        Rec.Discarding = true;
        Arena.BeginDryPass();
        try
        {
            push(ctx);
            ctx.Submit(); // records nothing; releases what the layers handed to DisposeAfterSubmit
            Arena.EndPass();
            Model.Device.Pipelines.Prepare();
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
        finally
        {
            ctx.ReleaseDeferred(); // what a failed dry run handed to DisposeAfterSubmit; nothing was recorded that uses it
            Rec.Discarding = false;
        }
    }

    /// <summary>Refuses pushed values holding NaN or infinity (one spreads through every conv after it), naming the first.</summary>
    private protected void CheckInput(string what, ReadOnlySpan<float> values, int frameValues)
    {
        int bad = NonFinite.IndexIn(values);
        if (bad >= 0)
            throw new ArgumentException($"pushed {what} frame {bad / frameValues} holds " +
                $"{NonFinite.At(values.Slice(bad / frameValues * frameValues, frameValues), bad % frameValues, Height, Width)}; {what} frames must be finite");
    }

    /// <summary>
    /// Refuses a push whose output holds NaN or infinity. Inputs (<see cref="CheckInput"/>) and weights are checked
    /// finite where they enter, so such an output means activations outgrew the storage: above 65504 in fp16, the
    /// default on GPUs.
    /// </summary>
    private protected void CheckFinite(string direction, string what, ReadOnlySpan<float> output)
    {
        int bad = NonFinite.IndexIn(output);
        if (bad < 0) return;
        string why = Model.Precision == Precision.Fp16
            ? "its activations overflow fp16 storage (above 65504); run it in fp32 (--precision fp32 or WFVAE_PRECISION=fp32)"
            : "its activations overflow float32: the model's weights are out of range";
        throw new OverflowException($"the {direction} produced {NonFinite.Name(output[bad])} in its {what} (value {bad} of this push): {why}");
    }

    /// <summary>Marks the session unusable after a push threw (see <see cref="BeginPush"/>).</summary>
    private protected void Fail(Exception e) => _failure ??= e.Message;

    /// <summary>Submits the recorded push and collects the taps it produced.</summary>
    private protected void SubmitPush()
    {
        Ctx.Submit();
        (Taps as DeviceTaps)?.Collect();
    }

    public void Dispose()
    {
        lock (Model.OpenSessions)
        {
            if (_disposed) return;
            Model.OpenSessions.Remove(this);
            Release();
        }
    }

    /// <summary>Ends the session as its model is disposed (called holding <see cref="WfVaeModel.OpenSessions"/>).</summary>
    internal void CloseWithModel()
    {
        if (_disposed) return;
        _closedWithModel = true;
        Release();
    }

    private void Release()
    {
        _disposed = true;
        Rec.Dispose();
        Ctx.ReleaseDeferred(); // a push that failed before its submission left them; its commands went with the recorder
        Arena.Dispose();
        State.Dispose();
    }
}

/// <summary>
/// A streaming encode: push frames as they arrive, get the latents that became computable. One
/// submission per push; the session's arena and the layers' caches make device memory independent of
/// the stream length.
/// </summary>
public sealed class EncoderSession : StreamSession
{
    public int FramesIn { get; private set; }
    public int LatentsOut { get; private set; }

    internal EncoderSession(WfVaeModel model, int height, int width, ITapSink? taps, bool profile)
        : base(model, Check(height, width), width, taps, profile) { }

    private static int Check(int height, int width) =>
        height >= 8 && width >= 8 ? height : throw new ArgumentException($"frames must be at least 8x8 pixels, got {width}x{height}");

    /// <summary>Latents the next push of <paramref name="frames"/> frames yields.</summary>
    public int OutputFrames(int frames) => Model.Encoder.OutputFrames(State, frames);

    /// <summary>Encodes <paramref name="count"/> frames given frame-major [count][3][H][W] in [-1, 1].</summary>
    /// <param name="recycle">
    /// The result of an earlier push that the caller is done with (written out, copied): its arrays receive this
    /// push's latents when they have the right length, so a live stream allocates no output arrays per push. Null:
    /// new arrays.
    /// </param>
    public LatentFrames Push(ReadOnlySpan<float> frames, int count, LatentFrames? recycle = null)
    {
        ThrowIfDisposed();
        long frameSize = 3L * Height * Width;
        if (frames.Length != count * frameSize)
            throw new ArgumentException($"{count} frames of 3x{Height}x{Width} need {count * frameSize} values, got {frames.Length}");
        CheckInput("video", frames, (int)frameSize);
        if (FramesIn == 0 && count > 0)
            PlanFirstPush(ctx =>
            {
                var (moments, mean, logvar) = Record(ctx, default, count, null);
                ctx.Return(moments, mean, logvar);
            });
        BeginPush();
        LatentFrames result;
        try
        {
            var (moments, mean, logvar) = Record(Ctx, frames, count, Taps);
            using var meanOut = Rec.Download(mean);
            using var logvarOut = Rec.Download(logvar);
            SubmitPush();
            result = new LatentFrames(LatentsOut, moments.T, meanOut.ToArray(recycle?.Mean), logvarOut.ToArray(recycle?.Logvar));
            Ctx.Return(moments, mean, logvar);
            CheckFinite("encoder", "latent mean", result.Mean);
            CheckFinite("encoder", "latent log-variance", result.Logvar);
            EndPush();
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
        FramesIn += count;
        LatentsOut += result.Frames;
        return result;
    }

    /// <summary>
    /// Records one push of the encoder graph: the rents, returns and dispatches of both the dry run
    /// (<see cref="StreamSession.PlanFirstPush"/>, which uploads nothing) and the real push, so their plans match.
    /// </summary>
    private (GpuTensor Moments, GpuTensor Mean, GpuTensor Logvar) Record(StreamContext ctx, ReadOnlySpan<float> frames, int count, ITapSink? taps)
    {
        int l = Model.Config.LatentDim;
        var x = ctx.Rent(3, count, Height, Width);
        Rec.Upload(x, frames);
        var moments = Model.Encoder.Push(ctx, x, taps);
        Arena.Return(x);
        var mean = ctx.Rent(l, moments.T, moments.H, moments.W);
        var logvar = ctx.Rent(l, moments.T, moments.H, moments.W);
        if (moments.T > 0) WfVae.Operators.Posterior.Split(Rec, moments, mean, logvar);
        return (moments, mean, logvar);
    }
}

/// <summary>A streaming decode: push latent frames, get the video frames that became computable.</summary>
public sealed class DecoderSession : StreamSession
{
    private bool _ended;

    public int LatentsIn { get; private set; }
    public int FramesOut { get; private set; }

    /// <summary>True once the stream has ended (<see cref="Flush"/>, or a push with last set): no push is accepted.</summary>
    public bool Ended => _ended;

    internal DecoderSession(WfVaeModel model, int height, int width, ITapSink? taps, bool profile)
        : base(model, Check(height, width), width, taps, profile) { }

    private static int Check(int height, int width) =>
        height >= 1 && width >= 1 ? height : throw new ArgumentException($"latent frames must be at least 1x1, got {width}x{height}");


    /// <summary>Decodes <paramref name="count"/> latent frames [count][L][h][w]; <paramref name="last"/> ends the stream.</summary>
    public VideoFrames Push(ReadOnlySpan<float> latents, int count, bool last)
    {
        ThrowIfDisposed();
        if (_ended) throw new InvalidOperationException("the decoder stream has already ended");
        int l = Model.Config.LatentDim;
        long frameSize = (long)l * Height * Width;
        if (latents.Length != count * frameSize)
            throw new ArgumentException($"{count} latent frames of {l}x{Height}x{Width} need {count * frameSize} values, got {latents.Length}");
        CheckInput("latent", latents, (int)frameSize);
        if (LatentsIn == 0 && count > 0)
            PlanFirstPush(ctx => ctx.Return(Record(ctx, default, count, last, null)));
        BeginPush();
        VideoFrames result;
        try
        {
            var video = Record(Ctx, latents, count, last, Taps);
            using var videoOut = Rec.Download(video);
            SubmitPush();
            result = new VideoFrames(FramesOut, video.T, video.T > 0 ? videoOut.ToArray() : Array.Empty<float>());
            Arena.Return(video);
            CheckFinite("decoder", "video", result.Data);
            EndPush();
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
        LatentsIn += count;
        FramesOut += result.Frames;
        _ended = last;
        return result;
    }

    /// <summary>Records one push of the decoder graph, for the dry run (no upload) and the real push alike.</summary>
    private GpuTensor Record(StreamContext ctx, ReadOnlySpan<float> latents, int count, bool last, ITapSink? taps)
    {
        var z = ctx.Rent(Model.Config.LatentDim, count, Height, Width);
        if (count > 0) Rec.Upload(z, latents);
        var video = Model.Decoder.Push(ctx, z, last, taps);
        Arena.Return(z);
        return video;
    }

    /// <summary>Ends the stream: returns the frames held back for look-ahead.</summary>
    public VideoFrames Flush() => Push(ReadOnlySpan<float>.Empty, 0, last: true);
}
