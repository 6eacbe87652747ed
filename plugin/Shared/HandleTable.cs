namespace WfVae.Plugin;

/// <summary>
/// Objects handed to native code as opaque handles: a handle is an id in this table, never a pointer to a
/// managed object, so a NULL, stale or made-up handle is looked up and refused instead of being
/// dereferenced. Ids never repeat within a process (a closed handle never aliases a newer object).
/// Shared by the C ABI (wfvae_plugin) and the frei0r plugins; thread-safe.
/// </summary>
internal sealed class HandleTable<T> where T : class
{
    private readonly Dictionary<nint, T> _items = new();
    private long _nextId = 0x1000;

    public nint Add(T item)
    {
        nint id = (nint)Interlocked.Increment(ref _nextId);
        lock (_items) _items.Add(id, item);
        return id;
    }

    public bool TryGet(nint handle, out T item)
    {
        lock (_items) return _items.TryGetValue(handle, out item!);
    }

    /// <summary>Removes the handle; false when it is unknown or was removed before.</summary>
    public bool TryRemove(nint handle, out T item)
    {
        lock (_items) return _items.Remove(handle, out item!);
    }

    /// <summary>Removes and returns every entry (for a plugin being unloaded).</summary>
    public List<T> RemoveAll()
    {
        lock (_items)
        {
            var all = _items.Values.ToList();
            _items.Clear();
            return all;
        }
    }
}
