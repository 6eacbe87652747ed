using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using WfVae.Model.Checkpoint;
using Xunit;

namespace WfVae.Tests.Checkpoint;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (string, long[], ReadOnlyMemory<float>) T(string name, long[] shape, params float[] values) => (name, shape, values);

    [Theory]
    [InlineData(SafetensorsDType.F32)]
    [InlineData(SafetensorsDType.F16)]
    [InlineData(SafetensorsDType.BF16)]
    [InlineData(SafetensorsDType.F64)]
    public void Round_trip_preserves_names_shapes_values_and_metadata(SafetensorsDType dtype)
    {
        var path = _dir.File("rt.safetensors");
        var weight = Enumerable.Range(0, 24).Select(i => i * 0.25f - 3f).ToArray(); // exact in every type
        SafetensorsWriter.Write(path, new[]
        {
            T("z.weight", [2, 3, 4], weight),
            T("a.bias", [3], 1f, -2f, 0.5f),
            T("scalar", [], 7f),
            T("empty", [0, 5]),
        }, dtype, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "x+y" });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new[] { "a.bias", "empty", "scalar", "z.weight" }, file.Tensors.Keys.Order(StringComparer.Ordinal));
        Assert.All(file.Tensors.Values, t => Assert.Equal(dtype, t.DType));
        Assert.Equal(new long[] { 2, 3, 4 }, file.Tensors["z.weight"].Shape);
        Assert.Equal(weight, file.ReadFloat32("z.weight"));
        Assert.Equal(new[] { 1f, -2f, 0.5f }, file.ReadFloat32("a.bias"));
        Assert.Equal(new[] { 7f }, file.ReadFloat32("scalar"));
        Assert.Empty(file.ReadFloat32("empty"));
        Assert.Equal("x+y", file.Metadata["note"]);
    }

    [Fact]
    public void Layout_has_sorted_keys_space_padding_and_data_in_key_order()
    {
        var path = _dir.File("layout.safetensors");
        SafetensorsWriter.Write(path, new[] { T("b", [1], 2f), T("a", [1], 1f), T("c", [2], 3f, 4f) },
            metadata: new Dictionary<string, string> { ["format"] = "pt" });
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, headerLength % 8);
        var header = Encoding.UTF8.GetString(bytes, 8, headerLength);
        Assert.StartsWith("""{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":""", header);
        var json = header.TrimEnd(' ');
        Assert.EndsWith("}", json);
        Assert.InRange(header.Length - json.Length, 0, 7); // padding only, and only as much as alignment needs
        using var doc = JsonDocument.Parse(header);
        Assert.Equal(new[] { "__metadata__", "a", "b", "c" }, doc.RootElement.EnumerateObject().Select(p => p.Name));
        var data = bytes[(8 + headerLength)..];
        Assert.Equal(16, data.Length);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, Enumerable.Range(0, 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(4 * i))));
    }

    [Fact]
    public void Per_tensor_dtypes_are_honoured()
    {
        var path = _dir.File("mixed.safetensors");
        SafetensorsWriter.Write(path, new[]
        {
            ("filter", new long[] { 2 }, (ReadOnlyMemory<float>)new[] { 0.3536f, -0.3536f }, SafetensorsDType.F32),
            ("weight", new long[] { 2 }, (ReadOnlyMemory<float>)new[] { 0.3536f, 1f }, SafetensorsDType.F16),
        });
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(SafetensorsDType.F32, file.Tensors["filter"].DType);
        Assert.Equal(SafetensorsDType.F16, file.Tensors["weight"].DType);
        Assert.Equal(0.3536f, file.ReadFloat32("filter")[0]);
        Assert.Equal((float)(Half)0.3536f, file.ReadFloat32("weight")[0]);
    }

    [Fact]
    public void Inconsistent_input_is_refused_before_anything_is_written()
    {
        var path = _dir.File("bad.safetensors");
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, new[] { T("a", [2, 2], 1f, 2f, 3f) }));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, new[] { T("a", [1], 1f), T("a", [1], 2f) }));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, new[] { T("a", [-1], 1f) }));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, new[] { T("__metadata__", [1], 1f) }));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, new[] { T("a", [1], 1f) }, SafetensorsDType.I32));
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void A_write_failing_midway_leaves_no_file_under_the_final_name()
    {
        var path = _dir.File("fail.safetensors");
        var layout = new[] { ("a", new long[] { 1 << 20 }, SafetensorsDType.F32), ("b", new long[] { 4 }, SafetensorsDType.F32) };
        var big = new float[1 << 20];
        Assert.Throws<IOException>(() => SafetensorsWriter.WriteStreaming(path, layout,
            name => name == "a" ? big : throw new IOException("producer failed")));
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir.Path)); // the temporary file is gone too
    }

    [Fact]
    public void A_failing_write_keeps_the_previous_file_intact()
    {
        var path = _dir.File("keep.safetensors");
        SafetensorsWriter.Write(path, new[] { T("a", [1], 42f) });
        var before = File.ReadAllBytes(path);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteStreaming(path,
            new[] { ("a", new long[] { 2 }, SafetensorsDType.F32) }, _ => new float[3]));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Streaming_writer_asks_for_each_tensor_once_in_key_order()
    {
        var path = _dir.File("stream.safetensors");
        var asked = new List<string>();
        var buffer = new float[8];
        SafetensorsWriter.WriteStreaming(path,
            new[] { ("y", new long[] { 8 }, SafetensorsDType.F32), ("x", new long[] { 2, 2 }, SafetensorsDType.F16) },
            name =>
            {
                asked.Add(name);
                int n = name == "x" ? 4 : 8;
                for (int i = 0; i < n; i++) buffer[i] = name == "x" ? i : 10 + i;
                return buffer.AsMemory(0, n); // the same buffer reused for every tensor
            });
        Assert.Equal(new[] { "x", "y" }, asked);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new[] { 0f, 1f, 2f, 3f }, file.ReadFloat32("x"));
        Assert.Equal(Enumerable.Range(10, 8).Select(i => (float)i), file.ReadFloat32("y"));
    }
}
