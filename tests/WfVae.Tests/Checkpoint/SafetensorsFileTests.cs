using System.Buffers.Binary;
using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Checkpoint;

public sealed class SafetensorsFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private SafetensorsFormatException Refused(string headerJson, int dataBytes, ulong? headerLength = null)
    {
        var path = SafetensorsTestFiles.Write(_dir, headerJson, new byte[dataBytes], headerLength);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void Valid_file_exposes_entries_metadata_and_values()
    {
        var data = new byte[24];
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 * i), i + 0.5f);
        var path = SafetensorsTestFiles.Write(_dir,
            """{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}""",
            data);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(2, file.Tensors.Count);
        Assert.Equal("pt", file.Metadata["format"]);
        var a = file.Tensors["a"];
        Assert.Equal(SafetensorsDType.F32, a.DType);
        Assert.Equal(new long[] { 2, 2 }, a.Shape);
        Assert.Equal(4, a.ElementCount);
        Assert.Equal(16, a.ByteLength);
        Assert.Equal(new[] { 0.5f, 1.5f, 2.5f, 3.5f }, file.ReadFloat32("a"));
        Assert.Equal(new[] { 4.5f, 5.5f }, file.ReadFloat32("b"));
        Assert.True(file.Contains("b"));
        Assert.False(file.Contains("c"));
        Assert.Throws<KeyNotFoundException>(() => file.ReadFloat32("c"));
        Assert.Throws<ArgumentException>(() => file.ReadFloat32("a", new float[3]));
    }

    [Fact]
    public void Golden_io_file_opens_with_its_metadata()
    {
        using var file = SafetensorsFile.Open(Path.Combine(TestPaths.Golden("tiny"), "io.safetensors"));
        Assert.Equal("tiny", file.Metadata["case"]);
        Assert.Equal(new long[] { 1, 3, 9, 32, 48 }, file.Tensors["video"].Shape);
        var video = file.ReadFloat32("video");
        Assert.All(video, v => Assert.InRange(v, -1f, 1f));
    }

    [Fact]
    public void Reading_after_dispose_is_refused()
    {
        var path = SafetensorsTestFiles.Write(_dir, """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]);
        var file = SafetensorsFile.Open(path);
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.ReadFloat32("a"));
    }

    [Fact]
    public void Truncated_file_is_refused()
    {
        var path = _dir.File("short.safetensors");
        File.WriteAllBytes(path, new byte[5]);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Truncated_data_section_is_refused()
    {
        var e = Refused("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("past the end", e.Message);
    }

    [Fact]
    public void Header_length_larger_than_file_is_refused()
    {
        var e = Refused("""{}""", 0, headerLength: 1000);
        Assert.Contains("1000", e.Message);
        Assert.Contains("larger", e.Message);
    }

    [Fact]
    public void Header_length_above_the_limit_is_refused_even_when_the_file_is_that_big()
    {
        // A sparse file: big enough that only the 100 MiB limit, not the file size, can refuse it.
        var path = _dir.File("huge.safetensors");
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)SafetensorsFile.MaxHeaderBytes + 8);
            stream.Write(prefix);
            stream.SetLength(SafetensorsFile.MaxHeaderBytes + 64);
        }
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains("limit", e.Message);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}""")]
    [InlineData("""{"a" 1}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],}}""")]
    [InlineData("")]
    public void Malformed_json_is_refused(string header)
    {
        var e = Refused(header, 4);
        Assert.Contains("JSON", e.Message);
    }

    [Fact]
    public void Invalid_utf8_in_header_is_refused()
    {
        var bytes = SafetensorsTestFiles.Build("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]);
        bytes[10] = 0xFF; // inside the tensor name
        var path = _dir.File("utf8.safetensors");
        File.WriteAllBytes(path, bytes);
        Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));
    }

    [Theory]
    [InlineData("[1, 2]", "Array")]
    [InlineData("\"text\"", "String")]
    [InlineData("42", "Number")]
    public void Header_that_is_not_an_object_is_refused(string header, string kind)
    {
        var e = Refused(header, 0);
        Assert.Contains("object", e.Message);
        Assert.Contains(kind, e.Message);
    }

    [Theory]
    [InlineData("F8")]
    [InlineData("f32")]
    [InlineData("0")]
    [InlineData("FLOAT")]
    public void Unknown_dtype_is_refused(string dtype)
    {
        var e = Refused($$$"""{"w":{"dtype":"{{{dtype}}}","shape":[1],"data_offsets":[0,4]}}""", 4);
        Assert.Contains("'w'", e.Message);
        Assert.Contains($"unknown dtype '{dtype}'", e.Message);
    }

    [Theory]
    [InlineData("F32", "[2,2]", 12)]
    [InlineData("F16", "[3]", 8)]
    [InlineData("BF16", "[4]", 4)]
    [InlineData("F64", "[1]", 4)]
    [InlineData("F32", "[]", 0)]
    public void Dtype_times_shape_must_equal_the_byte_range(string dtype, string shape, int bytes)
    {
        var e = Refused($$$"""{"w":{"dtype":"{{{dtype}}}","shape":{{{shape}}},"data_offsets":[0,{{{bytes}}}]}}""", 16);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("needs", e.Message);
    }

    [Fact]
    public void Overlapping_ranges_are_refused()
    {
        var e = Refused(
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""", 24);
        Assert.Contains("overlaps", e.Message);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public void Identical_ranges_are_refused_whatever_the_key_order()
    {
        Refused("""{"z":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8);
    }

    [Fact]
    public void Range_outside_the_data_section_is_refused()
    {
        var e = Refused("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}""", 16);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("past the end of the data section", e.Message);
    }

    [Fact]
    public void Reversed_range_is_refused()
    {
        var e = Refused("""{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}""", 16);
        Assert.Contains("'w'", e.Message);
    }

    [Theory]
    [InlineData("[-1,4]")]
    [InlineData("[4,-4]")]
    public void Negative_dims_are_refused(string shape)
    {
        var e = Refused($$$"""{"w":{"dtype":"F32","shape":{{{shape}}},"data_offsets":[0,16]}}""", 16);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("negative", e.Message);
    }

    [Fact]
    public void Overflowing_element_count_is_refused()
    {
        var e = Refused("""{"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}}""", 16);
        Assert.Contains("overflows", e.Message);
    }

    [Theory]
    [InlineData("""{"w":{"shape":[1],"data_offsets":[0,4]}}""", "dtype")]
    [InlineData("""{"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}""", "dtype")]
    [InlineData("""{"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}""", "shape")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", "shape")]
    [InlineData("""{"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}""", "shape")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":{"a":0}}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}""", "extra")]
    [InlineData("""{"w":[1,2]}""", "object")]
    public void Entries_need_fields_of_the_right_json_types(string header, string mentioned)
    {
        var e = Refused(header, 4);
        Assert.Contains("'w'", e.Message);
        Assert.Contains(mentioned, e.Message);
    }

    [Theory]
    [InlineData("""{"__metadata__":{"format":1}}""")]
    [InlineData("""{"__metadata__":[1]}""")]
    public void Metadata_must_map_strings_to_strings(string header)
    {
        var e = Refused(header, 0);
        Assert.Contains("__metadata__", e.Message);
    }

    [Fact]
    public void Duplicate_tensor_names_are_refused()
    {
        var e = Refused(
            """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8);
        Assert.Contains("twice", e.Message);
    }

    [Fact]
    public void Integer_tensors_are_listed_but_not_converted_to_float()
    {
        var path = SafetensorsTestFiles.Write(_dir, """{"i":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"m":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]}}""", new byte[19]);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(SafetensorsDType.BOOL, file.Tensors["m"].DType);
        Assert.Throws<InvalidDataException>(() => file.ReadFloat32("i"));
        Assert.Equal(16, file.GetBytes("i").Length);
    }

    [Fact]
    public void Randomly_damaged_headers_never_escape_as_anything_but_a_format_error()
    {
        var valid = SafetensorsTestFiles.Build(
            """{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}}""",
            new byte[20]);
        var rng = new Random(1234);
        var path = _dir.File("fuzz.safetensors");
        for (int trial = 0; trial < 400; trial++)
        {
            var bytes = (byte[])valid.Clone();
            int flips = 1 + rng.Next(3);
            for (int f = 0; f < flips; f++)
                bytes[rng.Next(bytes.Length - 20)] = (byte)rng.Next(256); // header bytes and length prefix
            if (rng.Next(8) == 0) Array.Resize(ref bytes, rng.Next(bytes.Length));
            File.WriteAllBytes(path, bytes);
            try
            {
                using var file = SafetensorsFile.Open(path);
                foreach (var info in file.Tensors.Values.Where(t => t.DType.IsFloatingPoint()))
                    Assert.Equal(info.ElementCount, file.ReadFloat32(info.Name).Length);
            }
            catch (SafetensorsFormatException)
            {
            }
        }
    }
}
