namespace WfVae.Model.Checkpoint;

/// <summary>
/// One tensor entry of a safetensors header. <see cref="DataOffset"/> is absolute within the file
/// (the 8-byte length prefix and the header already added), so callers never redo that arithmetic.
/// </summary>
public sealed record SafetensorsTensorInfo(
    string Name,
    SafetensorsDType DType,
    long[] Shape,
    long ElementCount,
    long DataOffset,
    long ByteLength)
{
    public string ShapeText => ShapeFormat.Format(Shape);
}

internal static class ShapeFormat
{
    public static string Format(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Product of the dims, or null when a dim is negative or the product overflows a long.</summary>
    public static long? TryElementCount(IReadOnlyList<long> shape)
    {
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) return null;
            try { count = checked(count * d); }
            catch (OverflowException) { return null; }
        }
        return count;
    }

    public static bool SameShape(IReadOnlyList<long> a, IReadOnlyList<long> b) =>
        a.Count == b.Count && a.SequenceEqual(b);
}
