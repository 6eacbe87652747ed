namespace WfVae.Model.Checkpoint;

/// <summary>
/// Named tensors in a file, read as float32: a safetensors file (<see cref="SafetensorsFile"/>) or a
/// torch.save checkpoint (<see cref="Torch.TorchCheckpointFile"/>). What a checkpoint's validator and
/// loader need, whatever the format on disk.
/// </summary>
public interface ITensorFile : IDisposable
{
    string Path { get; }
    IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors { get; }
    float[] ReadFloat32(string name);
    void ReadFloat32(string name, Span<float> destination);
}

/// <summary>Opens weights by what the file holds, not by its name.</summary>
public static class TensorFiles
{
    public static ITensorFile Open(string path) =>
        Torch.TorchCheckpointFile.IsTorchZip(path) ? Torch.TorchCheckpointFile.Open(path) : SafetensorsFile.Open(path);
}
