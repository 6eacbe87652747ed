using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace WfVae.Model.Checkpoint;

/// <summary>
/// Writes float data as a safetensors file: header keys sorted, header padded with spaces to a
/// multiple of 8 (so data starts aligned), data in key order. Written through
/// <see cref="WfVae.IO.OutputFile"/>: a failure never leaves a partial file under the final name (and
/// never destroys an existing one).
/// </summary>
public static class SafetensorsWriter
{
    private const int ChunkElements = 1 << 20;
    private const int ConversionSliceElements = 1 << 16;

    public static void Write(
        string path,
        IEnumerable<(string Name, long[] Shape, ReadOnlyMemory<float> Data)> tensors,
        SafetensorsDType storeAs = SafetensorsDType.F32,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        Write(path, tensors.Select(t => (t.Name, t.Shape, t.Data, storeAs)), metadata);
    }

    /// <summary>
    /// Into an output started earlier (<see cref="WfVae.IO.OutputFile.Create"/>), which this commits: a command
    /// starts it before its work, so an output that cannot be written fails before that work, not after it.
    /// </summary>
    public static void Write(
        WfVae.IO.OutputFile output,
        IEnumerable<(string Name, long[] Shape, ReadOnlyMemory<float> Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.Select(t => (t.Name, t.Shape, t.Data, DType: SafetensorsDType.F32)).ToList();
        var data = Index(list);
        Write(output, PlanLayout(list.Select(t => (t.Name, t.Shape, t.DType))), name => data[name], metadata);
    }

    /// <summary>Per-tensor storage type, e.g. F16 learned weights next to F32 fixed filters.</summary>
    public static void Write(
        string path,
        IEnumerable<(string Name, long[] Shape, ReadOnlyMemory<float> Data, SafetensorsDType DType)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var data = Index(list);
        WriteStreaming(path, list.Select(t => (t.Name, t.Shape, t.DType)), name => data[name], metadata);
    }

    private static Dictionary<string, ReadOnlyMemory<float>> Index(List<(string Name, long[] Shape, ReadOnlyMemory<float> Data, SafetensorsDType DType)> list)
    {
        var data = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (t.Name is not null && !data.TryAdd(t.Name, t.Data))
                throw new ArgumentException($"Tensor '{t.Name}' is given twice.", "tensors");
        }
        return data;
    }

    /// <summary>
    /// Streaming form: the layout is declared up front and <paramref name="produce"/> is asked for each
    /// tensor's float data in key order, right before it is written. Only one tensor needs to exist in
    /// memory at a time, which is what lets a 1.27 GB checkpoint be generated without holding it.
    /// The memory returned may be reused by the producer once the next call is made.
    /// </summary>
    public static void WriteStreaming(
        string path,
        IEnumerable<(string Name, long[] Shape, SafetensorsDType DType)> layout,
        Func<string, ReadOnlyMemory<float>> produce,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(produce);
        var entries = PlanLayout(layout);
        using var output = WfVae.IO.OutputFile.Create(path);
        Write(output, entries, produce, metadata);
    }

    private static void Write(WfVae.IO.OutputFile output, List<Entry> entries, Func<string, ReadOnlyMemory<float>> produce,
        IReadOnlyDictionary<string, string>? metadata)
    {
        var header = BuildHeader(entries, metadata);
        var stream = output.Stream;
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        var buffer = new byte[ChunkElements * 8];
        foreach (var entry in entries)
        {
            var values = produce(entry.Name);
            if (values.Length != entry.ElementCount)
                throw new ArgumentException(
                    $"Tensor '{entry.Name}' has shape {ShapeFormat.Format(entry.Shape)} ({entry.ElementCount} values) but {values.Length} values were given.");
            WriteValues(stream, values, entry.DType, buffer);
        }
        output.Commit();
    }

    private sealed record Entry(string Name, long[] Shape, SafetensorsDType DType, long ElementCount, long Begin, long End);

    private static List<Entry> PlanLayout(IEnumerable<(string Name, long[] Shape, SafetensorsDType DType)> layout)
    {
        var declared = layout.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape, dtype) in declared)
        {
            if (string.IsNullOrEmpty(name) || name == SafetensorsHeader.MetadataKey)
                throw new ArgumentException($"'{name}' cannot be a tensor name.");
            if (!names.Add(name))
                throw new ArgumentException($"Tensor '{name}' is given twice.");
            if (shape is null || ShapeFormat.TryElementCount(shape) is null)
                throw new ArgumentException($"Tensor '{name}' has an invalid shape {(shape is null ? "null" : ShapeFormat.Format(shape))}.");
            if (!dtype.IsFloatingPoint())
                throw new ArgumentException($"Tensor '{name}': float data cannot be stored as {dtype}.");
        }

        // Ordinal order matches Python's sorted() on ASCII keys, which is how official files are laid out.
        declared.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var entries = new List<Entry>(declared.Count);
        long offset = 0;
        foreach (var (name, shape, dtype) in declared)
        {
            long count = ShapeFormat.TryElementCount(shape)!.Value;
            long bytes = checked(count * dtype.SizeInBytes());
            entries.Add(new Entry(name, (long[])shape.Clone(), dtype, count, offset, offset + bytes));
            offset += bytes;
        }
        return entries;
    }

    private static byte[] BuildHeader(List<Entry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions
        {
            Indented = false,
            // Keep names readable ('+' etc. unescaped); the header is UTF-8 JSON, never embedded in HTML.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            writer.WriteStartObject();
            // "__metadata__" sorts before every lowercase key, as in the official writer's output.
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            foreach (var e in entries)
            {
                writer.WriteStartObject(e.Name);
                writer.WriteString("dtype", e.DType.HeaderName());
                writer.WriteStartArray("shape");
                foreach (var d in e.Shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(e.Begin);
                writer.WriteNumberValue(e.End);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        var raw = json.ToArray();
        int padded = (raw.Length + 7) / 8 * 8;
        var header = new byte[padded];
        raw.CopyTo(header, 0);
        header.AsSpan(raw.Length).Fill((byte)' ');
        return header;
    }

    private static void WriteValues(Stream stream, ReadOnlyMemory<float> values, SafetensorsDType dtype, byte[] buffer)
    {
        int size = dtype.SizeInBytes();
        for (int start = 0; start < values.Length; start += ChunkElements)
        {
            var chunk = values.Slice(start, Math.Min(ChunkElements, values.Length - start));
            if (dtype == SafetensorsDType.F32 && BitConverter.IsLittleEndian)
            {
                stream.Write(MemoryMarshal.AsBytes(chunk.Span));
                continue;
            }
            // Narrowing element by element is slow enough to matter for a 317 M-value file; split it.
            int slices = (chunk.Length + ConversionSliceElements - 1) / ConversionSliceElements;
            Parallel.For(0, slices, s =>
            {
                int from = s * ConversionSliceElements;
                int count = Math.Min(ConversionSliceElements, chunk.Length - from);
                FloatConversion.FromFloat32(dtype, chunk.Span.Slice(from, count), buffer.AsSpan(from * size, count * size));
            });
            stream.Write(buffer, 0, chunk.Length * size);
        }
    }
}
