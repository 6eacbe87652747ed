using System.IO.Compression;

namespace WfVae.Model.Checkpoint.Torch;

/// <summary>
/// A PyTorch checkpoint written by torch.save (.ckpt, .pt, .pth: a zip of <c>&lt;name&gt;/data.pkl</c> and one
/// <c>&lt;name&gt;/data/&lt;key&gt;</c> entry per storage), read without running any of it: the pickle goes
/// through <see cref="RestrictedUnpickler"/>, and the state dict is found as Open-Sora-Plan's loader finds
/// it (<see cref="TorchStateDict"/>). Tensors read like a safetensors file's; every view is checked to lie
/// inside its storage, and every storage inside its zip entry, before anything is read.
/// </summary>
public sealed class TorchCheckpointFile : ITensorFile
{
    private readonly FileStream _stream;
    private readonly ZipArchive _zip;
    private readonly string _folder;
    private readonly Dictionary<string, TorchTensor> _views;
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;
    private readonly object _gate = new();
    private int _disposed;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors => _tensors;
    /// <summary>Where the state dict was found, e.g. <c>ema_state_dict</c> or <c>state_dict.gen_model</c>.</summary>
    public string Origin { get; }
    /// <summary>Keys outside the encoder and decoder (a training loss, a discriminator) that were left out.</summary>
    public IReadOnlyList<string> IgnoredKeys { get; }

    private TorchCheckpointFile(string path, FileStream stream, ZipArchive zip, string folder, TorchStateDict state)
    {
        (Path, _stream, _zip, _folder, Origin, IgnoredKeys) = (path, stream, zip, folder, state.Origin, state.Ignored);
        _views = state.Tensors;
        _tensors = _views.ToDictionary(kv => kv.Key, kv => Info(kv.Key, kv.Value), StringComparer.Ordinal);
    }

    /// <summary>True when <paramref name="path"/> starts like a zip archive (what torch.save writes since 1.6).</summary>
    public static bool IsTorchZip(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return f.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && head.SequenceEqual("PK\u0003\u0004"u8);
    }

    public static TorchCheckpointFile Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        WfVae.IO.InputFiles.RequireRegular(full, "checkpoint");
        var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read);
        ZipArchive? zip = null;
        try
        {
            try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
            catch (InvalidDataException e) { throw Bad(full, $"not a readable zip archive ({e.Message})"); }
            var pickle = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToList();
            if (pickle.Count != 1) throw Bad(full, $"{pickle.Count} '<name>/data.pkl' entries; a torch.save archive has exactly one");
            var folder = pickle[0].FullName[..^"data.pkl".Length];
            var root = RestrictedUnpickler.Load(ReadEntry(full, pickle[0], RestrictedUnpickler.MaxPickleBytes), $"Checkpoint '{full}' ({pickle[0].FullName})");
            var state = TorchStateDict.Find(root, full);
            var file = new TorchCheckpointFile(full, stream, zip, folder, state);
            foreach (var (name, view) in file._views) file.CheckView(name, view);
            return file;
        }
        catch
        {
            zip?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    public float[] ReadFloat32(string name)
    {
        var info = GetInfo(name);
        var values = new float[info.ElementCount];
        ReadFloat32(name, values);
        return values;
    }

    /// <summary>Converts the tensor (any strides) into <paramref name="destination"/>, which must hold exactly its element count.</summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        var info = GetInfo(name);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"Tensor '{name}' has {info.ElementCount} elements but the destination holds {destination.Length}.", nameof(destination));
        var view = _views[name];
        long extent = Extent(view);
        int size = view.Storage.DType.SizeInBytes();
        byte[] bytes;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            bytes = ReadStorage(view.Storage, view.Offset * size, extent * size);
        }
        var all = new float[extent];
        FloatConversion.ToFloat32(view.Storage.DType, bytes, all);
        Gather(all, view, destination);
    }

    /// <summary>Copies a strided view (offset already applied) into row-major order.</summary>
    private static void Gather(float[] source, TorchTensor view, Span<float> destination)
    {
        int rank = view.Shape.Length;
        var index = new long[rank];
        for (int i = 0; i < destination.Length; i++)
        {
            long at = 0;
            for (int d = 0; d < rank; d++) at += index[d] * view.Stride[d];
            destination[i] = source[at];
            for (int d = rank - 1; d >= 0 && ++index[d] == view.Shape[d]; d--) index[d] = 0;
        }
    }

    private SafetensorsTensorInfo GetInfo(string name) =>
        _tensors.TryGetValue(name, out var info) ? info : throw new KeyNotFoundException($"Checkpoint '{Path}' has no tensor '{name}'.");

    /// <summary>Elements of the storage a view spans from its offset: 1 + Σ (size − 1)·stride, 0 for an empty view.</summary>
    private static long Extent(TorchTensor v) =>
        v.Shape.Any(d => d == 0) ? 0 : 1 + v.Shape.Zip(v.Stride, (n, s) => checked((n - 1) * s)).Sum();

    private void CheckView(string name, TorchTensor view)
    {
        long extent;
        try { extent = checked(view.Offset + Extent(view)); }
        catch (OverflowException) { throw Bad(Path, $"tensor '{name}' has a shape and strides whose extent overflows"); }
        if (extent > view.Storage.Numel)
            throw Bad(Path, $"tensor '{name}' ({ShapeFormat.Format(view.Shape)} at offset {view.Offset}) reaches element {extent} of a storage of {view.Storage.Numel}");
        var entry = _zip.GetEntry(_folder + "data/" + view.Storage.Key)
                    ?? throw Bad(Path, $"tensor '{name}' names storage '{view.Storage.Key}', which the archive lacks");
        long bytes;
        try { bytes = checked(view.Storage.Numel * view.Storage.DType.SizeInBytes()); }
        catch (OverflowException) { throw Bad(Path, $"storage '{view.Storage.Key}' of {view.Storage.Numel} {view.Storage.DType} elements is more bytes than can be counted"); }
        // torch stores storages uncompressed; requiring their bytes to be present bounds what a read allocates by the file size.
        if (entry.Length < bytes || entry.CompressedLength < bytes)
            throw Bad(Path, $"storage '{view.Storage.Key}' should hold {bytes} bytes but its entry has {Math.Min(entry.Length, entry.CompressedLength)}");
    }

    private byte[] ReadStorage(TorchStorage storage, long from, long count)
    {
        var entry = _zip.GetEntry(_folder + "data/" + storage.Key)!;
        using var s = entry.Open();
        if (from > 0)
        {
            var skip = new byte[Math.Min(from, 1 << 16)];
            for (long left = from; left > 0;)
            {
                int n = s.Read(skip, 0, (int)Math.Min(left, skip.Length));
                if (n == 0) throw Bad(Path, $"storage '{storage.Key}' ends early");
                left -= n;
            }
        }
        var bytes = new byte[count];
        if (s.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false) != bytes.Length) throw Bad(Path, $"storage '{storage.Key}' ends early");
        return bytes;
    }

    private static byte[] ReadEntry(string path, ZipArchiveEntry entry, int max)
    {
        if (entry.Length > max) throw Bad(path, $"'{entry.FullName}' is {entry.Length} bytes, more than the {max} a state dict's pickle needs");
        using var s = entry.Open();
        var bytes = new byte[entry.Length];
        if (s.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false) != bytes.Length) throw Bad(path, $"'{entry.FullName}' ends early");
        return bytes;
    }

    private SafetensorsTensorInfo Info(string name, TorchTensor v)
    {
        int size = v.Storage.DType.SizeInBytes();
        try
        {
            long count = 1;
            foreach (var d in v.Shape) count = checked(count * d);
            return new SafetensorsTensorInfo(name, v.Storage.DType, v.Shape, count, checked(v.Offset * size), checked(count * size));
        }
        catch (OverflowException)
        {
            throw Bad(Path, $"tensor '{name}' ({ShapeFormat.Format(v.Shape)} at offset {v.Offset}) is more bytes than can be counted");
        }
    }

    private static CheckpointException Bad(string path, string what) => new($"Checkpoint '{path}': {what}.");

    public void Dispose()
    {
        lock (_gate)
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _zip.Dispose();
            _stream.Dispose();
        }
    }
}
