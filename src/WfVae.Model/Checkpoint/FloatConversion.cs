using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace WfVae.Model.Checkpoint;

/// <summary>
/// Little-endian element conversions between stored bytes and float32. Every widening
/// (F16, BF16 -> F32) is exact; narrowing rounds to nearest-even as IEEE prescribes.
/// </summary>
internal static class FloatConversion
{
    public static void ToFloat32(SafetensorsDType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (dtype)
        {
            case SafetensorsDType.F32:
                if (BitConverter.IsLittleEndian)
                {
                    MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                }
                else
                {
                    for (int i = 0; i < destination.Length; i++)
                        destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source.Slice(4 * i));
                }
                break;
            case SafetensorsDType.F16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(source.Slice(2 * i)));
                break;
            case SafetensorsDType.BF16:
                // bfloat16 is the upper half of a float32, so shifting the bits back is exact.
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source.Slice(2 * i)) << 16);
                break;
            case SafetensorsDType.F64:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(source.Slice(8 * i));
                break;
            default:
                throw new NotSupportedException($"{dtype} is not a floating-point type.");
        }
    }

    public static void FromFloat32(SafetensorsDType dtype, ReadOnlySpan<float> source, Span<byte> destination)
    {
        switch (dtype)
        {
            case SafetensorsDType.F32:
                if (BitConverter.IsLittleEndian)
                {
                    MemoryMarshal.AsBytes(source).CopyTo(destination);
                }
                else
                {
                    for (int i = 0; i < source.Length; i++)
                        BinaryPrimitives.WriteSingleLittleEndian(destination.Slice(4 * i), source[i]);
                }
                break;
            case SafetensorsDType.F16:
                for (int i = 0; i < source.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(2 * i), BitConverter.HalfToUInt16Bits((Half)source[i]));
                break;
            case SafetensorsDType.BF16:
                for (int i = 0; i < source.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(2 * i), ToBFloat16Bits(source[i]));
                break;
            case SafetensorsDType.F64:
                for (int i = 0; i < source.Length; i++)
                    BinaryPrimitives.WriteDoubleLittleEndian(destination.Slice(8 * i), source[i]);
                break;
            default:
                throw new NotSupportedException($"Cannot store float data as {dtype}.");
        }
    }

    /// <summary>Round-to-nearest-even truncation of a float32 to its upper 16 bits.</summary>
    public static ushort ToBFloat16Bits(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x0040); // keep sign, force a quiet NaN (plain truncation could give Inf)
        uint roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + roundingBias) >> 16);
    }
}
