using WfVae.Runtime;
using GpuPosterior = WfVae.Operators.Posterior;

namespace WfVae.Model;

/// <summary>
/// The diagonal Gaussian the encoder produces (docs/model.md#posterior): mean (the deterministic latent, "mode") and
/// logvar clamped to [−30, 20]. Sampling is seeded and per element, so it does not depend on chunking.
/// </summary>
public sealed class Posterior
{
    private readonly WfVaeModel _model;

    public HostTensor Mean { get; }
    public HostTensor Logvar { get; }

    public Posterior(WfVaeModel model, HostTensor mean, HostTensor logvar)
    {
        _model = model;
        Mean = mean;
        Logvar = logvar;
    }

    /// <summary>mean + exp(logvar / 2) · ε with ε ~ N(0, 1) drawn from a counter-based generator keyed by <paramref name="seed"/>.</summary>
    public HostTensor Sample(ulong seed)
    {
        _model.ThrowIfDisposed(); // the device may be gone with it: say which object ended
        var dev = _model.Device;
        var result = new HostTensor(Mean.N, Mean.C, Mean.T, Mean.H, Mean.W);
        for (int n = 0; n < Mean.N; n++)
        {
            using var mean = dev.Upload(Mean.ToFrameMajor(n), Mean.C, Mean.T, Mean.H, Mean.W);
            using var logvar = dev.Upload(Logvar.ToFrameMajor(n), Mean.C, Mean.T, Mean.H, Mean.W);
            using var sample = dev.CreateTensor(Mean.C, Mean.T, Mean.H, Mean.W);
            using (var rec = dev.BeginCommands())
            {
                GpuPosterior.Sample(rec, mean, logvar, sample, seed + (ulong)n);
                rec.Submit();
            }
            result.SetFrames(n, 0, dev.Download(sample), Mean.T);
        }
        return result;
    }
}

/// <summary>
/// The config's latent normalisation for a downstream diffusion model, (z − shift) · scale per channel,
/// kept apart from encode/decode as the official code does (it never applies it inside the VAE).
/// </summary>
public static class LatentNormalization
{
    public static HostTensor Normalize(HostTensor z, IReadOnlyList<float> scale, IReadOnlyList<float> shift) => Map(z, scale, shift, inverse: false);

    public static HostTensor Denormalize(HostTensor z, IReadOnlyList<float> scale, IReadOnlyList<float> shift) => Map(z, scale, shift, inverse: true);

    private static HostTensor Map(HostTensor z, IReadOnlyList<float> scale, IReadOnlyList<float> shift, bool inverse)
    {
        var sc = PerChannel(scale, z.C, "scale");
        var sh = PerChannel(shift, z.C, "shift");
        var r = new HostTensor(z.N, z.C, z.T, z.H, z.W);
        long per = (long)z.T * z.H * z.W;
        for (long i = 0; i < z.Data.LongLength; i++)
        {
            int c = (int)(i / per % z.C);
            r.Data[i] = inverse ? z.Data[i] / sc[c] + sh[c] : (z.Data[i] - sh[c]) * sc[c];
        }
        return r;
    }

    /// <summary>One value per channel; a list whose entries are all equal also serves (the released L config has 4 entries for 16 channels).</summary>
    private static float[] PerChannel(IReadOnlyList<float> v, int channels, string key)
    {
        if (v.Count == channels) return v.ToArray();
        if (v.Count > 0 && v.All(x => x == v[0])) return Enumerable.Repeat(v[0], channels).ToArray();
        throw new ArgumentException($"config '{key}' has {v.Count} different values for {channels} latent channels; cannot apply it per channel");
    }
}

/// <summary>Copies tapped tensors aside on the device and downloads them after each submission.</summary>
public sealed class DeviceTaps : ITapSink, IDisposable
{
    private readonly List<(string Name, GpuTensor Copy)> _pending = new();
    private readonly Dictionary<string, List<float[]>> _chunks = new();
    private readonly Dictionary<string, (int C, int H, int W, int T)> _shapes = new();

    public void Tap(Layers.StreamContext ctx, string name, GpuTensor value)
    {
        if (value.T == 0) return;
        var copy = ctx.Device.CreateTensor(value.C, value.T, value.H, value.W, value.Precision);
        ctx.Rec.Copy(value, copy, "tap");
        _pending.Add((name, copy));
    }

    internal void Collect()
    {
        foreach (var (name, copy) in _pending)
        {
            var data = copy.Storage.Disposed ? Array.Empty<float>() : Download(copy);
            if (!_chunks.TryGetValue(name, out var list)) _chunks[name] = list = new();
            list.Add(data);
            var prev = _shapes.GetValueOrDefault(name);
            _shapes[name] = (copy.C, copy.H, copy.W, prev.T + copy.T);
            copy.Dispose();
        }
        _pending.Clear();
    }

    private static float[] Download(GpuTensor t) => DeviceOf(t).Download(t);
    private static VulkanDevice DeviceOf(GpuTensor t) => t.Storage.Device;

    public IEnumerable<string> Names => _chunks.Keys;

    /// <summary>Every tapped chunk of <paramref name="name"/> joined in time, in the official [1, C, T, H, W] layout.</summary>
    public HostTensor Get(string name)
    {
        var (c, h, w, t) = _shapes[name];
        var frames = _chunks[name].SelectMany(a => a).ToArray();
        return HostTensor.FromFrameMajor(frames, c, t, h, w);
    }

    public bool Has(string name) => _chunks.ContainsKey(name);

    public void Dispose()
    {
        foreach (var (_, copy) in _pending) copy.Dispose();
        _pending.Clear();
    }
}
