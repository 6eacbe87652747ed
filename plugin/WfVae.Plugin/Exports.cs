using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using WfVae.Model.Checkpoint;
using WfVae.Runtime;

namespace WfVae.Plugin;

/// <summary>
/// The C ABI (plugin/include/wfvae.h). Rules every export follows:
/// <list type="bullet">
/// <item>returns a <see cref="Status"/> (0 = ok, negative = error) and never lets an exception cross into
/// native code (that would abort the host process); the message goes to the thread's last error;</item>
/// <item>clears the thread's last error on entry, so <c>wfvae_last_error</c> describes the latest call;</item>
/// <item>handles are ids in a table, not pointers to managed objects: a NULL, closed or made-up handle is
/// reported as <see cref="Status.Handle"/> instead of crashing;</item>
/// <item>calls on one handle are serialised by a lock; different handles are independent.</item>
/// </list>
/// </summary>
public static unsafe class Exports
{
    /// <summary>Status codes; the numbers are part of the ABI (WFVAE_* in wfvae.h).</summary>
    internal enum Status
    {
        Ok = 0,
        Argument = -1,   // a NULL pointer, negative count, bad size
        Handle = -2,     // NULL, closed or unknown wfvae_model*
        State = -3,      // call out of order (push before begin, push after flush, second begin)
        Model = -4,      // the model path is missing or the checkpoint is invalid
        Device = -5,     // no Vulkan device, or a Vulkan call failed (device lost included)
        Memory = -6,     // out of host memory
        Internal = -7,   // anything else (a bug: please report the message)
    }

    private static readonly HandleTable<PluginModel> Models = new();

    // ------------------------------------------------------------------ model

    [UnmanagedCallersOnly(EntryPoint = "wfvae_open")]
    public static int Open(byte* modelPath, byte* device, nint* model)
    {
        ClearError();
        try
        {
            if (model == null) throw new ArgumentException("out (wfvae_model**) is NULL");
            *model = 0;
            // NULL: the default model installed beside the library (default-model/), as the CLI does without --model.
            string path = modelPath == null ? DefaultModel.LocateBeside(LibraryFolder.Of((delegate* unmanaged<byte*, byte*, nint*, int>)&Open)) : Utf8(modelPath);
            // NULL and "" both mean the default choice (which still honours WFVAE_DEVICE).
            string? selector = device == null ? null : Utf8(device);
            *model = Models.Add(PluginModel.Open(path, selector));
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_info")]
    public static int Info(nint model, int* latentChannels, int* temporalCompression, int* spatialCompression)
    {
        ClearError();
        try
        {
            var m = Get(model);
            lock (m) using (m.Log.Call())
            {
                if (latentChannels != null) *latentChannels = m.LatentChannels;
                if (temporalCompression != null) *temporalCompression = PluginModel.TemporalCompression;
                if (spatialCompression != null) *spatialCompression = PluginModel.SpatialCompression;
            }
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_close")]
    public static void Close(nint model)
    {
        ClearError();
        if (model == 0) return;
        try
        {
            // Looked up first: a close from the log callback of a call on this handle is refused, the handle stays open.
            if (Models.TryGet(model, out var busy)) RefuseReentry(busy);
            if (!Models.TryRemove(model, out var m)) throw new ArgumentException($"wfvae_close: unknown or already closed handle 0x{model:x}");
            lock (m) m.Dispose();
        }
        catch (Exception e) { Fail(e); }
    }

    // ------------------------------------------------------------------ encoder stream

    [UnmanagedCallersOnly(EntryPoint = "wfvae_encoder_begin")]
    public static int EncoderBegin(nint model, int height, int width)
    {
        ClearError();
        try
        {
            var m = Get(model);
            lock (m) using (m.Log.Call()) m.BeginEncoder(height, width);
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_push_frames")]
    public static int PushFrames(nint model, float* frames, int count)
    {
        ClearError();
        try
        {
            var m = Get(model);
            lock (m) using (m.Log.Call())
            {
                long values = m.FrameValues;  // throws (state) before the arguments are looked at when no stream is open
                var span = Input(frames, count, values, "frames");
                m.PushFrames(span, count);
            }
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_pull_latents")]
    public static int PullLatents(nint model, float* mean, float* logvar, int maxFrames, int* framesOut)
    {
        ClearError();
        try
        {
            if (framesOut == null) throw new ArgumentException("frames_out is NULL");
            *framesOut = 0;
            var m = Get(model);
            lock (m) using (m.Log.Call())
            {
                int available = m.LatentsAvailable;
                if (maxFrames == 0) { *framesOut = available; return Ok; }
                var meanSpan = Output(mean, maxFrames, available, m.LatentValues, "mean_out");
                var logvarSpan = logvar == null ? default : Output(logvar, maxFrames, available, m.LatentValues, "logvar_out");
                *framesOut = m.PullLatents(meanSpan, logvarSpan, logvar != null, maxFrames);
            }
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_encoder_end")]
    public static int EncoderEnd(nint model)
    {
        ClearError();
        try
        {
            var m = Get(model);
            lock (m) using (m.Log.Call()) m.EndEncoder();
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    // ------------------------------------------------------------------ decoder stream

    [UnmanagedCallersOnly(EntryPoint = "wfvae_decoder_begin")]
    public static int DecoderBegin(nint model, int latentHeight, int latentWidth)
    {
        ClearError();
        try
        {
            var m = Get(model);
            lock (m) using (m.Log.Call()) m.BeginDecoder(latentHeight, latentWidth);
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_push_latents")]
    public static int PushLatents(nint model, float* latents, int count)
    {
        ClearError();
        try
        {
            var m = Get(model);
            lock (m) using (m.Log.Call())
            {
                long values = m.LatentInputValues;
                var span = Input(latents, count, values, "latents");
                m.PushLatents(span, count);
            }
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_flush")]
    public static int Flush(nint model)
    {
        ClearError();
        try
        {
            var m = Get(model);
            lock (m) using (m.Log.Call()) m.Flush();
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_pull_frames")]
    public static int PullFrames(nint model, float* frames, int maxFrames, int* framesOut)
    {
        ClearError();
        try
        {
            if (framesOut == null) throw new ArgumentException("frames_out_count is NULL");
            *framesOut = 0;
            var m = Get(model);
            lock (m) using (m.Log.Call())
            {
                int available = m.FramesAvailable;
                if (maxFrames == 0) { *framesOut = available; return Ok; }
                var span = Output(frames, maxFrames, available, m.FrameOutputValues, "frames_out");
                *framesOut = m.PullFrames(span, maxFrames);
            }
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "wfvae_decoder_end")]
    public static int DecoderEnd(nint model)
    {
        ClearError();
        try
        {
            var m = Get(model);
            lock (m) using (m.Log.Call()) m.EndDecoder();
            return Ok;
        }
        catch (Exception e) { return Fail(e); }
    }

    // ------------------------------------------------------------------ errors

    [ThreadStatic] private static byte* _lastError;
    private static readonly byte* NoError = (byte*)NativeMemory.AllocZeroed(1);

    /// <summary>The thread's last error (UTF-8, never NULL; "" after a successful call).</summary>
    [UnmanagedCallersOnly(EntryPoint = "wfvae_last_error")]
    public static byte* LastError() => _lastError != null ? _lastError : NoError;

    private const int Ok = (int)Status.Ok;

    internal static void ClearError()
    {
        if (_lastError == null) return;
        NativeMemory.Free(_lastError);
        _lastError = null;
    }

    private static int Fail(Exception e)
    {
        try
        {
            var status = Classify(e);
            // Unexpected failures keep their type (and, with WFVAE_PLUGIN_TRACE=1, the stack) for bug reports.
            string message = status == Status.Internal ? $"{e.GetType().FullName}: {e.Message}" : e.Message;
            // One line, as the header promises (ObjectDisposedException, for one, adds "\nObject name: ...").
            message = string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            if (status == Status.Internal && Environment.GetEnvironmentVariable("WFVAE_PLUGIN_TRACE") == "1") message += "\n" + e.StackTrace;
            SetError(message);
            return (int)status;
        }
        catch
        {
            return (int)Status.Memory;  // even the message could not be stored
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SetError(string message)
    {
        ClearError();
        int n = Encoding.UTF8.GetByteCount(message);
        var p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        Encoding.UTF8.GetBytes(message, new Span<byte>(p, n));
        p[n] = 0;
        _lastError = p;
    }

    /// <summary>Maps an exception to the status the header documents. Order matters: subclasses first.</summary>
    internal static Status Classify(Exception e) => e switch
    {
        HandleException => Status.Handle,
        ObjectDisposedException or InvalidOperationException => Status.State,
        InvalidModelDataException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException => Status.Model,
        VulkanException or NoVulkanDeviceException or DllNotFoundException => Status.Device,
        OutOfMemoryException => Status.Memory,
        ArgumentException or OverflowException => Status.Argument,
        _ => Status.Internal,
    };

    // ------------------------------------------------------------------ helpers

    private static PluginModel Get(nint handle)
    {
        if (handle == 0) throw new HandleException("the model handle is NULL");
        if (!Models.TryGet(handle, out var m)) throw new HandleException($"unknown or closed model handle 0x{handle:x}");
        RefuseReentry(m);
        return m;
    }

    /// <summary>
    /// The handle's lock is reentrant, so the host's log callback, run inside a call on this handle, could otherwise
    /// end or close the stream that call is still using (it then failed with the session disposed under it).
    /// </summary>
    private static void RefuseReentry(PluginModel m)
    {
        if (Monitor.IsEntered(m))
            throw new InvalidOperationException("called from the log callback during another call on the same handle; make the call after that one returns");
    }

    /// <summary>The thread's last error, taken out (the log callback's own calls set and clear it; see <see cref="PluginLog"/>).</summary>
    internal static nint TakeError()
    {
        var p = _lastError;
        _lastError = null;
        return (nint)p;
    }

    /// <summary>Puts back what <see cref="TakeError"/> took, freeing what the callback's calls left.</summary>
    internal static void RestoreError(nint saved)
    {
        ClearError();
        _lastError = (byte*)saved;
    }

    private static string Utf8(byte* s) => Marshal.PtrToStringUTF8((nint)s) ?? "";

    private static ReadOnlySpan<float> Input(float* data, int count, long frameValues, string name)
    {
        if (count < 0) throw new ArgumentException($"count must be >= 0, got {count}");
        if (count == 0) return default;
        if (data == null) throw new ArgumentException($"{name} is NULL");
        long total = count * frameValues;
        if (total > int.MaxValue) throw new ArgumentException($"{count} frames of {frameValues} values are too many for one push; push fewer at a time");
        return new ReadOnlySpan<float>(data, (int)total);
    }

    private static Span<float> Output(float* data, int maxFrames, int available, long frameValues, string name)
    {
        if (maxFrames < 0) throw new ArgumentException($"max_frames must be >= 0, got {maxFrames}");
        if (data == null) throw new ArgumentException($"{name} is NULL (pass max_frames = 0 to query the count)");
        long total = Math.Min(maxFrames, available) * frameValues;
        if (total > int.MaxValue) throw new ArgumentException($"{maxFrames} frames of {frameValues} values are too many for one pull; pull fewer at a time");
        return new Span<float>(data, (int)total);
    }
}

/// <summary>A NULL, closed or unknown handle (WFVAE_E_HANDLE).</summary>
internal sealed class HandleException(string message) : Exception(message);
