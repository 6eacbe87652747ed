using WfVae.Model.Checkpoint;
using WfVae.Model.Layers;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model;

/// <summary>
/// What the layers of a graph are built from: the checkpoint's tensors by their official names, put on the device
/// once, and the numbering of the graph's stream-state slots (<see cref="StateLayout"/>).
/// </summary>
public sealed class WeightSource
{
    private readonly WfVaeCheckpoint _checkpoint;
    private readonly List<IDisposable> _owned;

    public VulkanDevice Device { get; }
    /// <summary>Slots of the stream state, one per stateful layer built from this source.</summary>
    public StateLayout State { get; } = new();
    public WfVaeConfig Config => _checkpoint.Config;
    /// <summary>Precision of convolution weights on the device (norm affine vectors stay fp32).</summary>
    public Precision Precision { get; }

    internal WeightSource(VulkanDevice device, WfVaeCheckpoint checkpoint, List<IDisposable> owned, Precision precision)
    {
        Device = device;
        Precision = precision;
        _checkpoint = checkpoint;
        _owned = owned;
    }

    private float[] Read(string key, long expected)
    {
        var data = _checkpoint.Get(key);
        if (data.LongLength != expected)
            throw new InvalidDataException($"weight '{key}' has {data.LongLength} values, the model needs {expected}");
        return data;
    }

    /// <summary>
    /// The convolution at <paramref name="path"/> (keys path.weight, path.bias), in the layout of the kernel that will run
    /// it: transformed for Winograd where <see cref="WinogradConv.TileFor"/> picks it for this layer's shape and strides.
    /// </summary>
    public ConvWeights Conv(string path, int cout, int cin, int kt, int kh, int kw,
        int strideT = 1, int strideHW = 1, ConvPadding padding = ConvPadding.Same)
    {
        var w = Read(path + ".weight", (long)cout * cin * kt * kh * kw);
        var b = Read(path + ".bias", cout);
        var tile = WinogradConv.TileFor(Device, Precision, kt, kh, kw, strideT, strideHW, padding, path);
        var cw = tile is { } t
            ? ConvWeights.UploadWinograd(Device, w, b, cout, cin, kt, t, Precision)
            : ConvWeights.Upload(Device, w, b, cout, cin, kt, kh, kw, Precision);
        _owned.Add(cw);
        return cw;
    }

    /// <summary>Affine weights of a Normalize at <paramref name="path"/> (LayerNorm nests them one level deeper).</summary>
    public (GpuTensor Gamma, GpuTensor Beta) NormVectors(string path, int channels)
    {
        var p = Config.NormType == NormType.LayerNorm ? path + ".norm" : path;
        var gamma = Device.Upload(Read(p + ".weight", channels), 1, 1, 1, channels);
        var beta = Device.Upload(Read(p + ".bias", channels), 1, 1, 1, channels);
        _owned.Add(gamma);
        _owned.Add(beta);
        return (gamma, beta);
    }
}
