using System.Buffers.Binary;
using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Checkpoint;

public sealed class SafetensorsConversionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private float[] ReadAs(string dtype, byte[] data, int count)
    {
        var path = SafetensorsTestFiles.Write(_dir, $$$"""{"x":{"dtype":"{{{dtype}}}","shape":[{{{count}}}],"data_offsets":[0,{{{data.Length}}}]}}""", data);
        using var file = SafetensorsFile.Open(path);
        return file.ReadFloat32("x");
    }

    /// <summary>IEEE binary16 decoded from its fields, independent of System.Half.</summary>
    private static float HalfByDefinition(ushort bits)
    {
        int sign = bits >> 15, exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
        double magnitude = exponent switch
        {
            0 => Math.ScaleB(mantissa, -24),
            31 => mantissa == 0 ? double.PositiveInfinity : double.NaN,
            _ => Math.ScaleB(1024 + mantissa, exponent - 25),
        };
        return (float)(sign == 1 ? -magnitude : magnitude);
    }

    [Fact]
    public void Every_f16_bit_pattern_converts_exactly()
    {
        var data = new byte[65536 * 2];
        for (int i = 0; i < 65536; i++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * i), (ushort)i);
        var values = ReadAs("F16", data, 65536);
        for (int i = 0; i < 65536; i++)
        {
            var expected = HalfByDefinition((ushort)i);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(values[i]), $"0x{i:X4}");
            else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(values[i]),
                $"0x{i:X4}: expected {expected:R}, got {values[i]:R}");
        }
        Assert.Equal(1f, values[0x3C00]);
        Assert.Equal(65504f, values[0x7BFF]);
        Assert.Equal(MathF.ScaleB(1f, -24), values[0x0001]);
        Assert.Equal(0.333251953125f, values[0x3555]);
        Assert.True(float.IsNegative(values[0x8000]) && values[0x8000] == 0f);
    }

    [Fact]
    public void Bf16_is_the_upper_half_of_float32()
    {
        ushort[] patterns = [0x3F80, 0x4049, 0xC000, 0x0001, 0x7F80, 0xFF80, 0x8000, 0x3E18];
        float[] expected = [1f, 3.140625f, -2f, MathF.ScaleB(1f, -133), float.PositiveInfinity, float.NegativeInfinity, -0f, 0.1484375f];
        var data = new byte[patterns.Length * 2];
        for (int i = 0; i < patterns.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * i), patterns[i]);
        var values = ReadAs("BF16", data, patterns.Length);
        for (int i = 0; i < patterns.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(values[i]));
    }

    [Fact]
    public void F64_rounds_to_nearest_even_float()
    {
        double[] inputs = [1.0 / 3, 0.1, 1 + Math.ScaleB(1, -24), 1 + 3 * Math.ScaleB(1, -24), -1e300, 1e-50];
        float[] expected = [0.333333343f, 0.1f, 1f, 1 + MathF.ScaleB(1, -22), float.NegativeInfinity, 0f];
        var data = new byte[inputs.Length * 8];
        for (int i = 0; i < inputs.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(8 * i), inputs[i]);
        Assert.Equal(expected, ReadAs("F64", data, inputs.Length));
    }

    [Fact]
    public void F32_is_read_little_endian_bit_for_bit()
    {
        uint[] bits = [0x3F800000, 0x0F0BB53E, 0x7FC00001, 0x80000001, 0x00000000];
        var data = new byte[bits.Length * 4];
        for (int i = 0; i < bits.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4 * i), bits[i]);
        var values = ReadAs("F32", data, bits.Length);
        Assert.Equal(bits, values.Select(BitConverter.SingleToUInt32Bits).ToArray());
    }

    [Fact]
    public void Writer_narrows_with_round_to_nearest_even()
    {
        float[] input = [1 + MathF.ScaleB(1, -11), 1 + 3 * MathF.ScaleB(1, -11), 1 + MathF.ScaleB(1, -8), 1 + 3 * MathF.ScaleB(1, -8), 70000f];
        var path = _dir.File("narrow.safetensors");
        SafetensorsWriter.Write(path, new[]
        {
            ("h", new long[] { 5 }, (ReadOnlyMemory<float>)input, SafetensorsDType.F16),
            ("b", new long[] { 5 }, (ReadOnlyMemory<float>)input, SafetensorsDType.BF16),
        });
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new[] { 1f, 1 + MathF.ScaleB(1, -9), 1 + MathF.ScaleB(1, -8), 1 + 3 * MathF.ScaleB(1, -8), float.PositiveInfinity }, file.ReadFloat32("h"));
        Assert.Equal(new[] { 1f, 1f, 1f, 1 + MathF.ScaleB(1, -6), 70144f }, file.ReadFloat32("b"));
    }
}
