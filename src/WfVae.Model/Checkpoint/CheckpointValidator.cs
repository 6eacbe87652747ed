namespace WfVae.Model.Checkpoint;

/// <summary>Compares a weights file with the manifest of a config and reports every difference at once.</summary>
internal static class CheckpointValidator
{
    private static readonly SafetensorsDType[] AcceptedDTypes = [SafetensorsDType.F32, SafetensorsDType.F16, SafetensorsDType.BF16];

    /// <returns>Manifest name -> stored name for every key the file holds.</returns>
    public static Dictionary<string, string> Validate(ITensorFile file, WfVaeConfig config, string configPath,
        IReadOnlyList<WeightSpec> manifest)
    {
        var prefix = CommonModulePrefix(file.Tensors.Keys.ToList());
        var stored = file.Tensors.Keys.ToDictionary(k => k[prefix.Length..], k => k, StringComparer.Ordinal);
        var expected = manifest.ToDictionary(s => s.Name, StringComparer.Ordinal);

        var missing = new List<string>();
        var misshaped = new List<string>();
        var other = new List<string>();
        var found = new Dictionary<string, string>(StringComparer.Ordinal);

        foreach (var spec in manifest)
        {
            if (!stored.TryGetValue(spec.Name, out var storedName))
            {
                if (spec.Kind == WeightKind.Learned)
                    missing.Add($"missing {spec.Name} (expected shape {spec.ShapeText})");
                continue;
            }
            var info = file.Tensors[storedName];
            if (!ShapeFormat.SameShape(info.Shape, spec.Shape))
            {
                misshaped.Add($"mis-shaped {spec.Name}: expected shape {spec.ShapeText}, found {info.ShapeText}");
                continue;
            }
            if (!AcceptedDTypes.Contains(info.DType))
            {
                other.Add($"unsupported dtype {spec.Name}: {info.DType} (accepted: F32, F16, BF16)");
                continue;
            }
            if (spec.Kind == WeightKind.FixedFilter && FirstDifference(file.ReadFloat32(storedName), spec.FixedValues()) is { } diff)
            {
                other.Add($"wrong fixed filter {spec.Name}: element {diff.Index} is {diff.Found:R}, the Haar constant is {diff.Expected:R}");
                continue;
            }
            found.Add(spec.Name, storedName);
        }

        var unexpected = stored
            .Where(kv => !expected.ContainsKey(kv.Key))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"unexpected {kv.Key} (shape {file.Tensors[kv.Value].ShapeText})")
            .ToList();

        var problems = missing.Concat(unexpected).Concat(misshaped).Concat(other).ToList();
        if (problems.Count > 0)
        {
            var message =
                $"Checkpoint '{file.Path}' does not match config '{configPath}' ({config}): " +
                $"{missing.Count} missing, {unexpected.Count} unexpected, {misshaped.Count} mis-shaped, {other.Count} other problem(s):" +
                Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  " + p));
            throw new CheckpointException(message, problems);
        }
        return found;
    }

    private const string ModulePrefix = "module.";

    /// <summary>
    /// Training checkpoints saved through DataParallel prefix every key with "module."; that prefix is
    /// stripped only when all keys carry it, since a partial prefix is a genuine naming mismatch.
    /// </summary>
    private static string CommonModulePrefix(IReadOnlyCollection<string> keys) =>
        keys.Count > 0 && keys.All(k => k.StartsWith(ModulePrefix, StringComparison.Ordinal)) ? ModulePrefix : "";

    /// <summary>Bitwise comparison: the filters must be the exact float32 constants, not merely close.</summary>
    private static (int Index, float Found, float Expected)? FirstDifference(float[] actual, float[] expected)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                return (i, actual[i], expected[i]);
        }
        return null;
    }
}
