using System.Text.Json;
using System.Text.Unicode;

namespace WfVae.Model.Checkpoint;

/// <summary>
/// Parses and checks the JSON header of a safetensors file. Everything that the reader later trusts
/// (offsets, sizes, dtypes) is verified here, so reads through the memory map can never go out of range.
/// </summary>
internal static class SafetensorsHeader
{
    public const string MetadataKey = "__metadata__";

    public static (Dictionary<string, SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(
        byte[] headerBytes, string path, long dataStart, long dataLength)
    {
        // JsonDocument only checks UTF-8 inside strings when they are decoded, so check it up front.
        if (!Utf8.IsValid(headerBytes))
            throw Error(path, "header is not well-formed JSON (invalid UTF-8)");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes, new JsonDocumentOptions
            {
                AllowTrailingCommas = false,
                CommentHandling = JsonCommentHandling.Disallow,
                MaxDepth = 16,
            });
        }
        catch (JsonException e)
        {
            throw Error(path, $"header is not well-formed JSON ({e.Message})", inner: e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Error(path, $"header must be a JSON object, found {root.ValueKind}");

            var tensors = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var ranges = new List<(long Begin, long End, string Name)>();

            foreach (var property in root.EnumerateObject())
            {
                // JsonDocument keeps duplicate names; a second definition would silently shadow the first.
                if (!seen.Add(property.Name))
                    throw Error(path, $"header defines '{property.Name}' twice");

                if (property.Name == MetadataKey)
                {
                    ParseMetadata(property.Value, path, metadata);
                    continue;
                }

                var (info, begin, end) = ParseEntry(property.Name, property.Value, path, dataStart, dataLength);
                tensors.Add(info.Name, info);
                ranges.Add((begin, end, info.Name));
            }

            CheckNoOverlap(ranges, path);
            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(JsonElement value, string path, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(path, $"'{MetadataKey}' must be an object of strings, found {value.ValueKind}");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Error(path, $"'{MetadataKey}' entry '{item.Name}' must be a string, found {item.Value.ValueKind}");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Error(path, $"'{MetadataKey}' defines '{item.Name}' twice");
        }
    }

    private static (SafetensorsTensorInfo Info, long Begin, long End) ParseEntry(
        string name, JsonElement entry, string path, long dataStart, long dataLength)
    {
        if (entry.ValueKind != JsonValueKind.Object)
            throw Error(path, $"entry must be an object, found {entry.ValueKind}", name);

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in entry.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtypeElement is null: dtypeElement = field.Value; break;
                case "shape" when shapeElement is null: shapeElement = field.Value; break;
                case "data_offsets" when offsetsElement is null: offsetsElement = field.Value; break;
                case "dtype" or "shape" or "data_offsets":
                    throw Error(path, $"field '{field.Name}' appears twice", name);
                default:
                    throw Error(path, $"unknown field '{field.Name}'", name);
            }
        }

        if (dtypeElement is not { ValueKind: JsonValueKind.String } d)
            throw Error(path, "'dtype' is missing or not a string", name);
        var dtypeText = d.GetString();
        if (!SafetensorsDTypeExtensions.TryParseHeaderName(dtypeText, out var dtype))
            throw Error(path, $"unknown dtype '{dtypeText}'", name);

        if (shapeElement is not { ValueKind: JsonValueKind.Array } s)
            throw Error(path, "'shape' is missing or not an array", name);
        var shape = new long[s.GetArrayLength()];
        int i = 0;
        foreach (var dim in s.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out var value))
                throw Error(path, $"shape dimension {i} is not an integer ({dim.GetRawText()})", name);
            if (value < 0)
                throw Error(path, $"shape dimension {i} is negative ({value})", name);
            shape[i++] = value;
        }
        var elementCount = ShapeFormat.TryElementCount(shape)
            ?? throw Error(path, $"element count of shape {ShapeFormat.Format(shape)} overflows", name);

        if (offsetsElement is not { ValueKind: JsonValueKind.Array } o || o.GetArrayLength() != 2)
            throw Error(path, "'data_offsets' is missing or not an array of two integers", name);
        var begin = ReadOffset(o[0], path, name);
        var end = ReadOffset(o[1], path, name);
        if (end < begin)
            throw Error(path, $"data_offsets [{begin}, {end}] end before they begin", name);
        if (end > dataLength)
            throw Error(path, $"data_offsets [{begin}, {end}] reach past the end of the data section ({dataLength} bytes)", name);

        long expectedBytes;
        try { expectedBytes = checked(elementCount * dtype.SizeInBytes()); }
        catch (OverflowException) { throw Error(path, $"byte size of shape {ShapeFormat.Format(shape)} as {dtype} overflows", name); }
        if (expectedBytes != end - begin)
            throw Error(path,
                $"{dtype} x {ShapeFormat.Format(shape)} needs {expectedBytes} bytes but data_offsets [{begin}, {end}] hold {end - begin}",
                name);

        var info = new SafetensorsTensorInfo(name, dtype, shape, elementCount, dataStart + begin, end - begin);
        return (info, begin, end);
    }

    private static long ReadOffset(JsonElement element, string path, string name)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out var value) || value < 0)
            throw Error(path, $"data_offsets entry {element.GetRawText()} is not a non-negative integer", name);
        return value;
    }

    private static void CheckNoOverlap(List<(long Begin, long End, string Name)> ranges, string path)
    {
        // Sorting makes this O(n log n); an empty tensor sorts before a non-empty one at the same offset.
        ranges.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        for (int i = 1; i < ranges.Count; i++)
        {
            var previous = ranges[i - 1];
            var current = ranges[i];
            if (current.Begin < previous.End)
                throw Error(path,
                    $"data of '{current.Name}' [{current.Begin}, {current.End}] overlaps '{previous.Name}' [{previous.Begin}, {previous.End}]");
        }
    }

    public static SafetensorsFormatException Error(string path, string problem, string? tensor = null, Exception? inner = null)
    {
        var where = tensor is null ? "" : $"tensor '{tensor}': ";
        var message = $"Safetensors file '{path}': {where}{problem}.";
        return inner is null ? new SafetensorsFormatException(message) : new SafetensorsFormatException(message, inner);
    }
}
