using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace WfVae.Model.Checkpoint;

/// <summary>
/// Read-only, memory-mapped view of a safetensors file. The whole header is validated in
/// <see cref="Open"/>; afterwards every tensor read stays inside its checked byte range, so a hostile
/// or damaged file produces a <see cref="SafetensorsFormatException"/> and never an out-of-range read.
/// Reads are thread-safe.
/// </summary>
public sealed unsafe class SafetensorsFile : ITensorFile
{
    /// <summary>Upper bound on the JSON header; real headers are kilobytes, this stops absurd allocations.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    // Conversion works in slices so that spans never exceed int.MaxValue bytes, whatever the tensor size.
    private const int ConversionChunkElements = 1 << 20;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;
    private int _disposed;

    public string Path { get; }
    public long FileLength { get; }
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors => _tensors;
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, long length, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer,
        Dictionary<string, SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        FileLength = length;
        _map = map;
        _view = view;
        _base = basePointer;
        _tensors = tensors;
        Metadata = metadata;
    }

    public static SafetensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        WfVae.IO.InputFiles.RequireRegular(fullPath, "safetensors file");
        // Length from the opened stream, not FileInfo: for a symbolic link FileInfo reports the link itself.
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = stream.Length;
        if (length < 8)
        {
            stream.Dispose();
            throw SafetensorsHeader.Error(fullPath, $"file is truncated: {length} bytes, less than the 8-byte header length");
        }

        var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        MemoryMappedViewAccessor? view = null;
        bool pointerAcquired = false;
        try
        {
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* basePointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            pointerAcquired = true;
            basePointer += view.PointerOffset;

            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(basePointer, 8));
            if (headerLength > (ulong)MaxHeaderBytes)
                throw SafetensorsHeader.Error(fullPath, $"header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes");
            if (headerLength > (ulong)(length - 8))
                throw SafetensorsHeader.Error(fullPath, $"header length {headerLength} is larger than the {length - 8} bytes after the length prefix (truncated file?)");

            var headerBytes = new ReadOnlySpan<byte>(basePointer + 8, (int)headerLength).ToArray();
            long dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = SafetensorsHeader.Parse(headerBytes, fullPath, dataStart, length - dataStart);
            return new SafetensorsFile(fullPath, length, map, view, basePointer, tensors, metadata);
        }
        catch
        {
            if (pointerAcquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public SafetensorsTensorInfo GetInfo(string name) =>
        _tensors.TryGetValue(name, out var info)
            ? info
            : throw new KeyNotFoundException($"Safetensors file '{Path}' has no tensor '{name}'.");

    /// <summary>A float32 copy of the tensor; F16, BF16 and F64 are converted as IEEE prescribes.</summary>
    public float[] ReadFloat32(string name)
    {
        var info = GetFloatInfo(name);
        if (info.ElementCount > Array.MaxLength)
            throw new NotSupportedException($"Tensor '{name}' in '{Path}' has {info.ElementCount} elements, too many for one array.");
        var result = new float[info.ElementCount];
        ReadFloat32(name, result);
        return result;
    }

    /// <summary>Converts the tensor into <paramref name="destination"/>, which must hold exactly its element count.</summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        var info = GetFloatInfo(name);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException(
                $"Tensor '{name}' has {info.ElementCount} elements but the destination holds {destination.Length}.", nameof(destination));

        int elementSize = info.DType.SizeInBytes();
        byte* source = BasePointer() + info.DataOffset;
        for (long done = 0; done < info.ElementCount; done += ConversionChunkElements)
        {
            int count = (int)Math.Min(ConversionChunkElements, info.ElementCount - done);
            var bytes = new ReadOnlySpan<byte>(source + done * elementSize, count * elementSize);
            FloatConversion.ToFloat32(info.DType, bytes, destination.Slice((int)done, count));
        }
        GC.KeepAlive(this);
    }

    /// <summary>
    /// The stored bytes of a tensor, valid until this file is disposed (for uploading F16 data as is).
    /// </summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = GetInfo(name);
        if (info.ByteLength > int.MaxValue)
            throw new NotSupportedException($"Tensor '{name}' in '{Path}' has {info.ByteLength} bytes, too many for one span.");
        return new ReadOnlySpan<byte>(BasePointer() + info.DataOffset, (int)info.ByteLength);
    }

    private SafetensorsTensorInfo GetFloatInfo(string name)
    {
        var info = GetInfo(name);
        if (!info.DType.IsFloatingPoint())
            throw new InvalidDataException($"Tensor '{name}' in '{Path}' is {info.DType}; only F32, F16, BF16 and F64 convert to float32.");
        return info;
    }

    private byte* BasePointer()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _base;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
