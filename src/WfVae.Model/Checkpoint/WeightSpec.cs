namespace WfVae.Model.Checkpoint;

public enum WeightKind
{
    /// <summary>Trained tensor; must be present in every checkpoint.</summary>
    Learned,
    /// <summary>Haar filter constant; may be absent (we build it) but, if present, must equal the constant.</summary>
    FixedFilter,
}

public enum ModelPart { Encoder, Decoder }

/// <summary>What a tensor is, which decides how it is initialised and, for convs, its fan-in.</summary>
public enum WeightRole { ConvWeight, ConvBias, NormWeight, NormBias, FixedFilter }

/// <summary>
/// One state_dict entry of the official model. <see cref="IsBuffer"/> separates registered buffers
/// from nn.Parameters: PyTorch's parameter count (what the golden case.json reports) includes the
/// encoder's fixed 3D Haar filters, which are Parameters, but not the buffer filters.
/// </summary>
public sealed record WeightSpec(
    string Name,
    long[] Shape,
    WeightKind Kind,
    ModelPart Part,
    WeightRole Role,
    bool IsBuffer,
    long FanIn)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    public string ShapeText => ShapeFormat.Format(Shape);

    /// <summary>Counted by PyTorch's model.parameters(): learned tensors and non-buffer fixed filters.</summary>
    public bool IsTorchParameter => !IsBuffer;

    internal float[]? FixedValuesInternal { get; init; }

    /// <summary>The exact float32 values of a fixed filter (a copy); throws for learned tensors.</summary>
    public float[] FixedValues() =>
        (float[])(FixedValuesInternal ?? throw new InvalidOperationException($"'{Name}' is a learned tensor, not a fixed filter.")).Clone();
}
