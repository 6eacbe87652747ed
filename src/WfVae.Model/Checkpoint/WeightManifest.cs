namespace WfVae.Model.Checkpoint;

/// <summary>
/// Every state_dict key of the official WFVAEModel for a config, in state_dict order, with shape and
/// kind (docs/model.md#checkpoint). This is the single source of truth for names: the loader validates against it, the
/// random generator writes it, and the engine looks weights up by these names.
/// </summary>
public static class WeightManifest
{
    public static IReadOnlyList<WeightSpec> For(WfVaeConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        c.Validate();
        var m = new Builder(c);
        BuildEncoder(m, c);
        BuildDecoder(m, c);
        return m.Specs;
    }

    /// <summary>Values of learned tensors only (what training updates).</summary>
    public static long LearnedParameterCount(WfVaeConfig c, ModelPart part) =>
        For(c).Where(s => s.Part == part && s.Kind == WeightKind.Learned).Sum(s => s.ElementCount);

    /// <summary>
    /// What PyTorch's sum(p.numel() for p in module.parameters()) reports: learned tensors plus the
    /// encoder's 3D Haar filters, which the official code made (frozen) Parameters rather than buffers.
    /// The golden case.json and the paper's 84 M / 232 M use this count.
    /// </summary>
    public static long TorchParameterCount(WfVaeConfig c, ModelPart part) =>
        For(c).Where(s => s.Part == part && s.IsTorchParameter).Sum(s => s.ElementCount);

    private static void BuildEncoder(Builder m, WfVaeConfig c)
    {
        int b = c.BaseChannels, ee = c.EncoderEnergyFlowHiddenSize, ne = c.EncoderNumResBlocks;
        m.Part = ModelPart.Encoder;

        m.Conv2d("encoder.down1.0", 24, b);
        for (int i = 1; i <= ne; i++) m.ResnetBlock2D($"encoder.down1.{i}", b, b);
        m.Conv2d($"encoder.down1.{ne + 1}.conv", b, b);

        m.Conv2d("encoder.down2.0", b + ee, 2 * b);
        for (int i = 1; i <= ne; i++) m.ResnetBlock3D($"encoder.down2.{i}", 2 * b, 2 * b);
        m.CausalConv3d($"encoder.down2.{ne + 1}.conv", 2 * b, 2 * b, 3);

        m.Conv2d("encoder.connect_l1", 12, ee);
        m.Conv2d("encoder.connect_l2", 24, ee);

        m.ResnetBlock3D("encoder.mid.0", 2 * b + ee, 4 * b);
        int next = 1;
        if (c.UseAttention) m.Attention($"encoder.mid.{next++}", 4 * b);
        m.ResnetBlock3D($"encoder.mid.{next}", 4 * b, 4 * b);

        m.Normalize("encoder.norm_out", 4 * b);
        m.CausalConv3d("encoder.conv_out", 4 * b, 2 * c.LatentDim, 3);

        // Forward 3D Haar filters live in CausalConv3d modules: frozen Parameters, hence not buffers.
        m.Haar3D("encoder.wavelet_transform_in", sb => $"{sb}_conv.conv.weight", isBuffer: false);
        m.Haar2D("encoder.wavelet_transform_l1");
        m.Haar3D("encoder.wavelet_transform_l2", sb => $"{sb}_conv.conv.weight", isBuffer: false);
    }

    private static void BuildDecoder(Builder m, WfVaeConfig c)
    {
        int b = c.BaseChannels, ed = c.DecoderEnergyFlowHiddenSize, nd = c.DecoderNumResBlocks, r = c.ConnectResLayerNum;
        m.Part = ModelPart.Decoder;

        m.CausalConv3d("decoder.conv_in", c.LatentDim, 4 * b, 3);

        m.ResnetBlock3D("decoder.mid.0", 4 * b, 4 * b);
        int next = 1;
        if (c.UseAttention) m.Attention($"decoder.mid.{next++}", 4 * b);
        m.ResnetBlock3D($"decoder.mid.{next}", 4 * b, 4 * b + ed);

        for (int i = 0; i < nd; i++) m.ResnetBlock3D($"decoder.up2.{i}", 4 * b, 4 * b);
        m.CausalConv3d($"decoder.up2.{nd}.conv", 4 * b, 4 * b, 3);
        m.ResnetBlock3D($"decoder.up2.{nd + 1}", 4 * b, 4 * b + ed);

        m.ResnetBlock3D("decoder.up1.0", 4 * b, 2 * b);
        for (int i = 1; i < nd; i++) m.ResnetBlock3D($"decoder.up1.{i}", 2 * b, 2 * b);
        m.Conv2d($"decoder.up1.{nd}.conv", 2 * b, 2 * b);
        m.ResnetBlock3D($"decoder.up1.{nd + 1}", 2 * b, 2 * b);

        m.ResnetBlock3D("decoder.layer.0", 2 * b, b);
        m.ResnetBlock3D("decoder.layer.1", b, b);

        for (int i = 0; i < r; i++) m.ResnetBlock3D($"decoder.connect_l1.{i}", ed, ed);
        m.Conv2d($"decoder.connect_l1.{r}", ed, 12);
        for (int i = 0; i < r; i++) m.ResnetBlock3D($"decoder.connect_l2.{i}", ed, ed);
        m.Conv2d($"decoder.connect_l2.{r}", ed, 24);

        m.Normalize("decoder.norm_out", b);
        m.Conv2d("decoder.conv_out", b, 24);

        m.Haar3D("decoder.inverse_wavelet_transform_out", sb => sb, isBuffer: true);
        m.Haar2D("decoder.inverse_wavelet_transform_l1");
        m.Haar3D("decoder.inverse_wavelet_transform_l2", sb => sb, isBuffer: true);
    }

    /// <summary>Appends specs in module order, mirroring how PyTorch walks the module tree.</summary>
    private sealed class Builder(WfVaeConfig config)
    {
        public List<WeightSpec> Specs { get; } = [];
        public ModelPart Part { get; set; }

        private void Learned(string name, long[] shape, WeightRole role, long fanIn) =>
            Specs.Add(new WeightSpec(name, shape, WeightKind.Learned, Part, role, IsBuffer: false, fanIn));

        private void WeightAndBias(string prefix, long[] weightShape)
        {
            long fanIn = weightShape.Skip(1).Aggregate(1L, (a, d) => a * d);
            Learned(prefix + ".weight", weightShape, WeightRole.ConvWeight, fanIn);
            Learned(prefix + ".bias", [weightShape[0]], WeightRole.ConvBias, fanIn);
        }

        /// <summary>The per-frame Conv2d wrapper: keys directly on the module, kernel 3x3.</summary>
        public void Conv2d(string p, int ci, int co) => WeightAndBias(p, [co, ci, 3, 3]);

        /// <summary>CausalConv3d wraps an nn.Conv3d named "conv", hence the extra ".conv" level.</summary>
        public void CausalConv3d(string p, int ci, int co, int k) => WeightAndBias(p + ".conv", [co, ci, k, k, k]);

        /// <summary>LayerNorm sits one level down (".norm"); GroupNorm is the Normalize module itself.</summary>
        public void Normalize(string p, int channels)
        {
            var prefix = config.NormType == NormType.LayerNorm ? p + ".norm" : p;
            Learned(prefix + ".weight", [channels], WeightRole.NormWeight, 0);
            Learned(prefix + ".bias", [channels], WeightRole.NormBias, 0);
        }

        public void ResnetBlock2D(string p, int ci, int co)
        {
            Normalize(p + ".norm1", ci);
            Conv2d(p + ".conv1", ci, co);
            Normalize(p + ".norm2", co);
            Conv2d(p + ".conv2", co, co);
            if (ci != co) WeightAndBias(p + ".nin_shortcut", [co, ci, 1, 1]);
        }

        public void ResnetBlock3D(string p, int ci, int co)
        {
            Normalize(p + ".norm1", ci);
            CausalConv3d(p + ".conv1", ci, co, 3);
            Normalize(p + ".norm2", co);
            CausalConv3d(p + ".conv2", co, co, 3);
            if (ci != co) CausalConv3d(p + ".nin_shortcut", ci, co, 1);
        }

        public void Attention(string p, int channels)
        {
            Normalize(p + ".norm", channels);
            foreach (var proj in new[] { "q", "k", "v", "proj_out" })
                CausalConv3d($"{p}.{proj}", channels, channels, 1);
        }

        public void Haar3D(string p, Func<string, string> leaf, bool isBuffer)
        {
            for (int f = 0; f < 8; f++)
                Specs.Add(new WeightSpec($"{p}.{leaf(HaarFilters.SubBands3D[f])}", [1, 1, 2, 2, 2],
                    WeightKind.FixedFilter, Part, WeightRole.FixedFilter, isBuffer, 0)
                { FixedValuesInternal = HaarFilters.Kernel3D(f) });
        }

        /// <summary>2D Haar filters are buffers in both directions.</summary>
        public void Haar2D(string p)
        {
            for (int g = 0; g < 4; g++)
                Specs.Add(new WeightSpec($"{p}.{HaarFilters.SubBands2D[g]}", [1, 1, 2, 2],
                    WeightKind.FixedFilter, Part, WeightRole.FixedFilter, IsBuffer: true, 0)
                { FixedValuesInternal = HaarFilters.Kernel2D(g) });
        }
    }
}
