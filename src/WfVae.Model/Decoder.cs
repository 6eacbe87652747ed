using WfVae.Model.Checkpoint;
using WfVae.Model.Layers;
using WfVae.Operators;
using WfVae.Runtime;

namespace WfVae.Model;

/// <summary>
/// The WF-VAE decoder (docs/model.md#decoder) as a stream: push latent frames [n, L, h, w], get the video frames
/// [m, 3, 8h, 8w] that became computable. In trilinear mode the last two frames of each 4-frame group
/// wait for the next latent or for the end of the stream (<c>last</c>), on the schedule of docs/model.md#decoder-output-schedule.
/// </summary>
public sealed class Decoder
{
    private readonly WfVaeConfig _c;
    private readonly CausalConv _convIn, _connectL2Out, _connectL1Out, _upsampleConv, _convOut;
    private readonly ResnetBlock _mid0, _mid2, _up2Last, _up1Last, _layer0, _layer1;
    private readonly AttentionBlock? _attn;
    private readonly ResnetBlock[] _connectL2, _connectL1, _up2, _up1;
    private readonly TimeUpsampler _timeUp;
    private readonly HaarInverse3DStream _invL2, _invOut;
    private readonly FrameQueue _l2Queue;
    private readonly Normalize _normOut;

    public Decoder(WeightSource w)
    {
        _c = w.Config;
        int b = _c.BaseChannels, ed = _c.DecoderEnergyFlowHiddenSize, nd = _c.DecoderNumResBlocks, r = _c.ConnectResLayerNum;
        _convIn = new CausalConv(w, "decoder.conv_in", w.Conv("decoder.conv_in.conv", 4 * b, _c.LatentDim, 3, 3, 3));
        _mid0 = new ResnetBlock(w, "decoder.mid.0", 4 * b, 4 * b, is3D: true);
        if (_c.UseAttention) _attn = new AttentionBlock(w, "decoder.mid.1", 4 * b);
        _mid2 = new ResnetBlock(w, _c.UseAttention ? "decoder.mid.2" : "decoder.mid.1", 4 * b, 4 * b + ed, is3D: true);
        _connectL2 = Enumerable.Range(0, r).Select(i => new ResnetBlock(w, $"decoder.connect_l2.{i}", ed, ed, is3D: true)).ToArray();
        _connectL2Out = new CausalConv(w, $"decoder.connect_l2.{r}", w.Conv($"decoder.connect_l2.{r}", 24, ed, 1, 3, 3));
        _up2 = Enumerable.Range(0, nd).Select(i => new ResnetBlock(w, $"decoder.up2.{i}", 4 * b, 4 * b, is3D: true)).ToArray();
        _timeUp = new TimeUpsampler(w, $"decoder.up2.{nd}", 4 * b);
        _up2Last = new ResnetBlock(w, $"decoder.up2.{nd + 1}", 4 * b, 4 * b + ed, is3D: true);
        _connectL1 = Enumerable.Range(0, r).Select(i => new ResnetBlock(w, $"decoder.connect_l1.{i}", ed, ed, is3D: true)).ToArray();
        _connectL1Out = new CausalConv(w, $"decoder.connect_l1.{r}", w.Conv($"decoder.connect_l1.{r}", 12, ed, 1, 3, 3));
        _up1 = Enumerable.Range(0, nd).Select(i => new ResnetBlock(w, $"decoder.up1.{i}", i == 0 ? 4 * b : 2 * b, 2 * b, is3D: true)).ToArray();
        _upsampleConv = new CausalConv(w, $"decoder.up1.{nd}", w.Conv($"decoder.up1.{nd}.conv", 2 * b, 2 * b, 1, 3, 3));
        _up1Last = new ResnetBlock(w, $"decoder.up1.{nd + 1}", 2 * b, 2 * b, is3D: true);
        _layer0 = new ResnetBlock(w, "decoder.layer.0", 2 * b, b, is3D: true);
        _layer1 = new ResnetBlock(w, "decoder.layer.1", b, b, is3D: true);
        _normOut = new Normalize(w, "decoder.norm_out", b);
        _convOut = new CausalConv(w, "decoder.conv_out", w.Conv("decoder.conv_out", 24, b, 1, 3, 3));
        _invL2 = new HaarInverse3DStream(w);
        _invOut = new HaarInverse3DStream(w);
        _l2Queue = new FrameQueue(w);
    }

    /// <summary>Records the decoder on the pushed latents (<paramref name="last"/>: the stream ends with them).</summary>
    public GpuTensor Push(StreamContext ctx, GpuTensor z, bool last, ITapSink? taps = null)
    {
        int b = _c.BaseChannels, ed = _c.DecoderEnergyFlowHiddenSize;
        ctx.StreamEnds = last;

        var h = _convIn.Push(ctx, z);
        taps?.Tap(ctx, "dec.conv_in", h);
        h = ctx.Replace(h, _mid0.Push(ctx, h), taps, "dec.mid.0");
        if (_attn != null) h = ctx.Replace(h, _attn.Push(ctx, h), taps, "dec.mid.1");
        var mid = ctx.Replace(h, _mid2.Push(ctx, h), taps, "dec.mid");

        // Level-3 outflow: last Ed channels -> 24 coefficients -> inverse 3D Haar, queued for the backbone.
        var e = ctx.Chain(mid.Channels(4 * b, ed), _connectL2, taps, "dec.connect_l2");
        var w3 = _connectL2Out.Push(ctx, e);
        if (_connectL2.Length > 0) ctx.Return(e);
        taps?.Tap(ctx, "dec.connect_l2", w3);
        var l2 = _invL2.Push(ctx, w3);
        ctx.Return(w3);
        taps?.Tap(ctx, "dec.inverse_wavelet_transform_l2", l2);
        _l2Queue.Enqueue(ctx, l2);
        ctx.Return(l2);

        // Backbone at the latent rate, then the 2x time/space upsampler.
        var a = ctx.Chain(mid.Channels(0, 4 * b), _up2, taps, "dec.up2"); // nd >= 1: the config refuses 0
        ctx.Return(mid);
        var u = ctx.Replace(a, _timeUp.Push(ctx, a, last), taps, "dec.up2", _up2.Length);
        var g = ctx.Replace(u, _up2Last.Push(ctx, u), taps, "dec.up2");
        int n = g.T;

        // Level-2 outflow: last Ed channels -> 12 coefficients (+ l2 in the low band) -> inverse 2D Haar.
        e = ctx.Chain(g.Channels(4 * b, ed), _connectL1, taps, "dec.connect_l1");
        var w2 = _connectL1Out.Push(ctx, e);
        if (_connectL1.Length > 0) ctx.Return(e);
        taps?.Tap(ctx, "dec.connect_l1", w2);
        var l2Now = _l2Queue.Dequeue(ctx, n, 3, w2.H, w2.W);
        var l1 = ctx.Rent(3, n, 2 * w2.H, 2 * w2.W);
        if (n > 0) Haar.Inverse2D(ctx.Rec, w2, l1, l2Now);
        ctx.Return(w2, l2Now);
        taps?.Tap(ctx, "dec.inverse_wavelet_transform_l1", l1);

        // Backbone at the 2x rate: up1, the spatial upsample, layer, norm_out, conv_out.
        a = ctx.Chain(g.Channels(0, 4 * b), _up1, taps, "dec.up1"); // up1.0 changes the width: never g itself
        ctx.Return(g);
        var up = ctx.Rent(2 * b, n, 2 * a.H, 2 * a.W);
        if (n > 0) Resample.Nearest2x(ctx.Rec, a, up);
        ctx.Return(a);
        a = ctx.Replace(up, _upsampleConv.Push(ctx, up), taps, "dec.up1", _up1.Length);
        a = ctx.Replace(a, _up1Last.Push(ctx, a), taps, "dec.up1");
        a = ctx.Replace(a, _layer0.Push(ctx, a), taps, "dec.layer.0");
        a = ctx.Replace(a, _layer1.Push(ctx, a), taps, "dec.layer");
        _normOut.Apply(ctx, a, a, silu: true);
        taps?.Tap(ctx, "dec.norm_out_silu", a);
        var w1 = _convOut.Push(ctx, a);
        ctx.Return(a);
        taps?.Tap(ctx, "dec.conv_out", w1);
        var video = _invOut.Push(ctx, w1, addToLowBand: l1);
        ctx.Return(w1, l1);
        return video;
    }
}
