namespace WfVae.Model.Checkpoint.Torch;

/// <summary>
/// Finds the model weights inside an unpickled training checkpoint the way Open-Sora-Plan's WF-VAE loader
/// does: a non-empty <c>ema_state_dict</c> first, else <c>state_dict</c> (or the <c>gen_model</c> inside
/// it, when the checkpoint also holds a discriminator), else the top-level dict itself; a leading
/// <c>module.</c> (DataParallel) is dropped from every key. Only the encoder's and decoder's tensors are
/// kept; other tensors (a loss, a discriminator) are listed in <see cref="Ignored"/>.
/// </summary>
internal sealed record TorchStateDict(Dictionary<string, TorchTensor> Tensors, string Origin, IReadOnlyList<string> Ignored)
{
    private const string ModulePrefix = "module.";

    public static TorchStateDict Find(object? root, string path)
    {
        if (root is not Dictionary<object, object?> top)
            throw new CheckpointException($"Checkpoint '{path}': the pickle holds {(root is null ? "None" : root.GetType().Name)}, not a dict.");
        var (dict, origin) = Select(top);
        var tensors = new Dictionary<string, TorchTensor>(StringComparer.Ordinal);
        var ignored = new List<string>();
        foreach (var (key, value) in dict)
        {
            if (key is not string name || value is not TorchTensor tensor) continue; // counters, hyper-parameters
            if (name.StartsWith(ModulePrefix, StringComparison.Ordinal)) name = name[ModulePrefix.Length..];
            if (!name.StartsWith("encoder.", StringComparison.Ordinal) && !name.StartsWith("decoder.", StringComparison.Ordinal))
            {
                ignored.Add(name);
                continue;
            }
            if (!tensors.TryAdd(name, tensor))
                throw new CheckpointException($"Checkpoint '{path}': key '{name}' appears twice once 'module.' is removed.");
        }
        if (tensors.Count == 0)
            throw new CheckpointException(
                $"Checkpoint '{path}': no encoder or decoder tensor in {origin} (keys: {string.Join(", ", top.Keys.Take(8))}{(top.Count > 8 ? ", …" : "")}).");
        return new TorchStateDict(tensors, origin, ignored);
    }

    private static (Dictionary<object, object?> Dict, string Origin) Select(Dictionary<object, object?> top)
    {
        if (top.TryGetValue("ema_state_dict", out var ema) && ema is Dictionary<object, object?> { Count: > 0 } e)
            return (e, "ema_state_dict");
        if (top.TryGetValue("state_dict", out var sd) && sd is Dictionary<object, object?> s)
            return s.TryGetValue("gen_model", out var gen) && gen is Dictionary<object, object?> g ? (g, "state_dict.gen_model") : (s, "state_dict");
        return (top, "the top-level dict");
    }
}
