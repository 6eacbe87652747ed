using WfVae.Model.Checkpoint;
using WfVae.Model.Layers;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model;

/// <summary>
/// The WF-VAE encoder (docs/model.md, "Encoder") as a stream: push video frames [n, 3, H, W], get the latent-rate
/// moments [m, 2L, H/8, W/8] that became computable. Latent 0 comes with frame 0, latent i once frame 4i
/// has arrived. Nothing needs flushing; frames of an incomplete group stay pending (official "drop").
/// </summary>
public sealed class Encoder
{
    private readonly WfVaeConfig _c;
    private readonly HaarForward3DStream _haarIn, _haarL2;
    private readonly CausalConv _connectL1, _connectL2, _down1In, _down1Down, _down2In, _down2Down, _convOut;
    private readonly ResnetBlock[] _down1, _down2;
    private readonly ResnetBlock _mid0, _mid2;
    private readonly AttentionBlock? _attn;
    private readonly Normalize _normOut;

    public Encoder(WeightSource w)
    {
        _c = w.Config;
        int b = _c.BaseChannels, ee = _c.EncoderEnergyFlowHiddenSize, ne = _c.EncoderNumResBlocks;
        _haarIn = new HaarForward3DStream(w, "encoder.wavelet_transform_in");
        _haarL2 = new HaarForward3DStream(w, "encoder.wavelet_transform_l2");
        _connectL1 = new CausalConv(w, "encoder.connect_l1", w.Conv("encoder.connect_l1", ee, 12, 1, 3, 3));
        _connectL2 = new CausalConv(w, "encoder.connect_l2", w.Conv("encoder.connect_l2", ee, 24, 1, 3, 3));
        _down1In = new CausalConv(w, "encoder.down1.0", w.Conv("encoder.down1.0", b, 24, 1, 3, 3));
        _down1 = Enumerable.Range(1, ne).Select(i => new ResnetBlock(w, $"encoder.down1.{i}", b, b, is3D: false)).ToArray();
        _down1Down = new CausalConv(w, $"encoder.down1.{ne + 1}", w.Conv($"encoder.down1.{ne + 1}.conv", b, b, 1, 3, 3, 1, 2, ConvPadding.RightBottom), 1, 2, ConvPadding.RightBottom);
        _down2In = new CausalConv(w, "encoder.down2.0", w.Conv("encoder.down2.0", 2 * b, b + ee, 1, 3, 3));
        _down2 = Enumerable.Range(1, ne).Select(i => new ResnetBlock(w, $"encoder.down2.{i}", 2 * b, 2 * b, is3D: true)).ToArray();
        _down2Down = new CausalConv(w, $"encoder.down2.{ne + 1}", w.Conv($"encoder.down2.{ne + 1}.conv.conv", 2 * b, 2 * b, 3, 3, 3, 2, 2, ConvPadding.RightBottom), 2, 2, ConvPadding.RightBottom);
        _mid0 = new ResnetBlock(w, "encoder.mid.0", 2 * b + ee, 4 * b, is3D: true);
        if (_c.UseAttention) _attn = new AttentionBlock(w, "encoder.mid.1", 4 * b);
        _mid2 = new ResnetBlock(w, _c.UseAttention ? "encoder.mid.2" : "encoder.mid.1", 4 * b, 4 * b, is3D: true);
        _normOut = new Normalize(w, "encoder.norm_out", 4 * b);
        _convOut = new CausalConv(w, "encoder.conv_out", w.Conv("encoder.conv_out.conv", 2 * _c.LatentDim, 4 * b, 3, 3, 3));
    }

    /// <summary>Latent frames the next push of <paramref name="frames"/> video frames yields on the stream of <paramref name="state"/>.</summary>
    public int OutputFrames(StreamState state, int frames) => _haarL2.OutputFrames(state, _haarIn.OutputFrames(state, frames));

    /// <summary>Records the encoder on the pushed frames; returns the moments that became computable.</summary>
    public GpuTensor Push(StreamContext ctx, GpuTensor x, ITapSink? taps = null)
    {
        int b = _c.BaseChannels, ee = _c.EncoderEnergyFlowHiddenSize;

        // Wavelet inflow: W1 = Haar3D(x), W2 = Haar2D(W1 LLL), W3 = Haar3D(W2 LL).
        var w1 = _haarIn.Push(ctx, x);
        taps?.Tap(ctx, "enc.wavelet_transform_in", w1);
        var w2 = ctx.Rent(12, w1.T, w1.H / 2, w1.W / 2);
        if (w1.T > 0) Haar.Forward2D(ctx.Rec, w1.Channels(0, 3), w2);
        taps?.Tap(ctx, "enc.wavelet_transform_l1", w2);
        var cat1 = ctx.Rent(b + ee, w1.T, w2.H, w2.W);
        _connectL1.Push(ctx, w2, into: cat1.Channels(b, ee));
        taps?.Tap(ctx, "enc.connect_l1", cat1.Channels(b, ee));
        int n2 = _haarL2.OutputFrames(ctx.State, w2.T);
        var w3 = _haarL2.Push(ctx, w2.Channels(0, 3));
        ctx.Return(w2);
        taps?.Tap(ctx, "enc.wavelet_transform_l2", w3);
        var cat2 = ctx.Rent(2 * b + ee, n2, w3.H, w3.W);
        _connectL2.Push(ctx, w3, into: cat2.Channels(2 * b, ee));
        taps?.Tap(ctx, "enc.connect_l2", cat2.Channels(2 * b, ee));
        ctx.Return(w3);

        // down1: per-frame stage at T1 rate, H/2 -> H/4, written beside F1.
        var h = _down1In.Push(ctx, w1);
        ctx.Return(w1);
        taps?.Tap(ctx, "enc.down1.0", h);
        for (int i = 0; i < _down1.Length; i++) h = ctx.Replace(h, _down1[i].Push(ctx, h), taps, "enc.down1", i + 1);
        _down1Down.Push(ctx, h, into: cat1.Channels(0, b));
        ctx.Return(h);
        taps?.Tap(ctx, "enc.down1", cat1.Channels(0, b));

        // down2: causal 3D stage, then the stride-2 spatio-temporal downsample beside F2.
        h = _down2In.Push(ctx, cat1);
        ctx.Return(cat1);
        taps?.Tap(ctx, "enc.down2.0", h);
        for (int i = 0; i < _down2.Length; i++) h = ctx.Replace(h, _down2[i].Push(ctx, h), taps, "enc.down2", i + 1);
        _down2Down.Push(ctx, h, into: cat2.Channels(0, 2 * b));
        ctx.Return(h);
        taps?.Tap(ctx, "enc.down2", cat2.Channels(0, 2 * b));

        h = _mid0.Push(ctx, cat2);
        ctx.Return(cat2);
        taps?.Tap(ctx, "enc.mid.0", h);
        if (_attn != null) h = ctx.Replace(h, _attn.Push(ctx, h), taps, "enc.mid.1");
        h = ctx.Replace(h, _mid2.Push(ctx, h), taps, "enc.mid");
        _normOut.Apply(ctx, h, h, silu: true);
        taps?.Tap(ctx, "enc.norm_out_silu", h);
        var moments = _convOut.Push(ctx, h);
        ctx.Return(h);
        taps?.Tap(ctx, "enc.h", moments);
        return moments;
    }
}

/// <summary>Receives intermediate tensors by their golden tap names (tests and debugging).</summary>
public interface ITapSink
{
    void Tap(StreamContext ctx, string name, GpuTensor value);
}
