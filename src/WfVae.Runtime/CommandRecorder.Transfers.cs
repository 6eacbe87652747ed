namespace WfVae.Runtime;

public sealed unsafe partial class CommandRecorder
{
    private readonly List<GpuTensor> _uploadStaging = new();

    /// <summary>
    /// Writes frame-major float32 <paramref name="data"/> into <paramref name="dst"/> as part of this batch. Mapped
    /// memory (CPU drivers, integrated GPUs) is written now, so call it before recording anything that uses dst;
    /// otherwise the data goes to a staging buffer now and a copy into dst is recorded, run with the batch.
    /// </summary>
    public void Upload(GpuTensor dst, ReadOnlySpan<float> data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_discarding) return; // a dry run passes no data
        HostTransfer.CheckLength(dst, data.Length, "upload");
        if (dst.ElementCount == 0) return;
        if (dst.Storage.HostVisible)
        {
            HostTransfer.Write(dst, data);
            return;
        }
        var staging = HostTransfer.Staging(_device, dst);
        _uploadStaging.Add(staging);
        HostTransfer.Write(staging, data);
        Copy(staging, dst, "upload");
    }

    /// <summary>
    /// Reads <paramref name="src"/> back once this batch has run: the result is read from the returned
    /// <see cref="PendingDownload"/> after <see cref="Submit"/>. Record nothing after this that writes src: mapped
    /// memory is read where it lies, after the batch, while unmapped memory (discrete GPUs) is copied to staging
    /// memory at this point of it, and the two must give the same values.
    /// </summary>
    public PendingDownload Download(GpuTensor src)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_discarding) throw new InvalidOperationException("a download cannot be recorded while the recorder discards its commands (a dry run)");
        if (src.Storage.HostVisible || src.ElementCount == 0) return new PendingDownload(this, src, owned: false);
        var staging = HostTransfer.Staging(_device, src);
        Copy(src, staging, "download");
        return new PendingDownload(this, staging, owned: true);
    }

    /// <summary>Whether commands are recorded that the next <see cref="Submit"/> runs.</summary>
    internal bool HasUnsubmittedWork => _recording;

    /// <summary>Releases <paramref name="staging"/> after the batch runs when the batch still has to run.</summary>
    internal void ReleaseAfterSubmit(GpuTensor staging, int batch)
    {
        if (batch == SubmitCount && _recording) _uploadStaging.Add(staging);
        else staging.Dispose();
    }

    private void ReleaseUploadStaging()
    {
        foreach (var t in _uploadStaging) t.Dispose();
        _uploadStaging.Clear();
    }
}

/// <summary>
/// A tensor read back by a batch (<see cref="CommandRecorder.Download"/>). Readable once the batch is submitted;
/// holds its staging memory until disposed.
/// </summary>
public sealed class PendingDownload : IDisposable
{
    private readonly CommandRecorder _recorder;
    private readonly int _batch;
    private readonly GpuTensor _host;
    private readonly bool _owned;

    internal PendingDownload(CommandRecorder recorder, GpuTensor host, bool owned)
    {
        _recorder = recorder;
        _batch = recorder.SubmitCount;
        _host = host;
        _owned = owned;
    }

    public long ElementCount => _host.ElementCount;

    /// <summary>The values, frame-major float32 [T][C][H][W].</summary>
    public void CopyTo(Span<float> result)
    {
        HostTransfer.CheckLength(_host, result.Length, "download");
        if (_recorder.SubmitCount == _batch && _recorder.HasUnsubmittedWork)
            throw new InvalidOperationException("a download was read before its batch was submitted");
        HostTransfer.Read(_host, result);
    }

    /// <summary>The values into <paramref name="into"/> when it has the right length, else into a new array.</summary>
    public float[] ToArray(float[]? into = null)
    {
        if (into == null || into.Length != ElementCount) into = new float[ElementCount];
        CopyTo(into);
        return into;
    }

    /// <summary>Gives the staging memory back; disposed before its batch ran, the recorder gives it back after the batch.</summary>
    public void Dispose()
    {
        if (_owned) _recorder.ReleaseAfterSubmit(_host, _batch);
    }
}
