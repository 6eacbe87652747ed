using System.Numerics;
using System.Runtime.InteropServices;

namespace WfVae.Model;

/// <summary>
/// Finds NaN and infinities in float data that enters the model (weights, frames, latents): one such
/// value spreads through every convolution after it, so it is refused where it enters, by name, rather
/// than turning a whole output into garbage that looks like a result.
/// </summary>
public static class NonFinite
{
    private const int ExponentMask = 0x7F800000;

    /// <summary>Index of the first NaN or ±infinity in <paramref name="values"/>, or −1.</summary>
    public static int IndexIn(ReadOnlySpan<float> values)
    {
        var bits = MemoryMarshal.Cast<float, int>(values);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var mask = new Vector<int>(ExponentMask);
            for (; i + Vector<int>.Count <= bits.Length; i += Vector<int>.Count)
            {
                // All exponent bits set: infinity or NaN.
                if (Vector.EqualsAny(new Vector<int>(bits.Slice(i, Vector<int>.Count)) & mask, mask)) break;
            }
        }
        for (; i < bits.Length; i++)
            if ((bits[i] & ExponentMask) == ExponentMask) return i;
        return -1;
    }

    /// <summary>"NaN", "+inf" or "-inf".</summary>
    public static string Name(float value) => float.IsNaN(value) ? "NaN" : value > 0 ? "+inf" : "-inf";

    /// <summary>"NaN at channel c, row y, column x" for element <paramref name="index"/> of a [C][H][W] frame.</summary>
    public static string At(ReadOnlySpan<float> frame, int index, int height, int width)
    {
        int plane = height * width;
        return $"{Name(frame[index])} at channel {index / plane}, row {index % plane / width}, column {index % width}";
    }
}
