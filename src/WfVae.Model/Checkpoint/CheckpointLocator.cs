using System.Buffers.Binary;
using System.Text;

namespace WfVae.Model.Checkpoint;

/// <summary>Finds the weight and config files of a checkpoint given a folder or a file.</summary>
public static class CheckpointLocator
{
    public const string DiffusersWeightsName = "diffusion_pytorch_model.safetensors";
    public const string PlainWeightsName = "model.safetensors";
    public const string ConfigName = "config.json";
    private static readonly string[] TorchExtensions = [".ckpt", ".pt", ".pth"];

    public static (string WeightsPath, string ConfigPath) Resolve(string modelPath, string? configPath = null)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        var full = Path.GetFullPath(modelPath);
        string weights, folder;
        if (Directory.Exists(full))
        {
            folder = full;
            weights = FindWeightsInFolder(full);
        }
        else if (File.Exists(full))
        {
            folder = Path.GetDirectoryName(full)!;
            weights = full;
        }
        else
        {
            throw new FileNotFoundException($"Checkpoint '{full}' is neither a folder nor a file.", full);
        }

        WfVae.IO.InputFiles.RequireRegular(weights, "checkpoint weights");
        var config = Path.GetFullPath(configPath ?? Path.Combine(folder, ConfigName));
        if (!File.Exists(config))
            throw new FileNotFoundException(
                $"No config for checkpoint '{full}': '{config}' does not exist (pass the config path explicitly).", config);
        return (FollowLinkStub(weights), config);
    }

    private static string FindWeightsInFolder(string folder)
    {
        // A golden case folder also holds io.safetensors, so the conventional names win over "the only one".
        foreach (var name in new[] { DiffusersWeightsName, PlainWeightsName })
        {
            var candidate = Path.Combine(folder, name);
            if (File.Exists(candidate)) return candidate;
        }
        var all = Directory.GetFiles(folder, "*.safetensors");
        // A training checkpoint (Open-Sora-Plan ships vae/merged.ckpt beside config.json) when there is no safetensors.
        if (all.Length == 0)
            all = TorchExtensions.SelectMany(e => Directory.GetFiles(folder, "*" + e)).ToArray();
        return all.Length switch
        {
            1 => all[0],
            0 => throw new FileNotFoundException($"Checkpoint folder '{folder}' contains no .safetensors file (nor one .ckpt, .pt or .pth)."),
            _ => throw new CheckpointException(
                $"Checkpoint folder '{folder}' contains {all.Length} .safetensors files and none is named " +
                $"{DiffusersWeightsName} or {PlainWeightsName}; pass the weights file itself: " +
                string.Join(", ", all.Select(Path.GetFileName).Order(StringComparer.Ordinal)) + "."),
        };
    }

    /// <summary>
    /// Git checkouts without symlink support (core.symlinks=false, zip archives, some copies) turn a
    /// symbolic link into a tiny text file holding the target path; the golden cases image, nearest and
    /// long link to tiny's weights and become such stubs there. A stub cannot be a safetensors file (its
    /// length prefix points past its end), so following it never masks a real file.
    /// </summary>
    public static string FollowLinkStub(string path)
    {
        for (int hop = 0; hop < 8; hop++)
        {
            byte[] bytes;
            if (!File.Exists(path)) return path;
            // Through a stream, so a real symbolic link is measured by its target (FileInfo measures the link).
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
            {
                if (stream.Length < 8 || stream.Length > 4096) return path;
                bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
            }
            if (BinaryPrimitives.ReadUInt64LittleEndian(bytes) <= (ulong)(bytes.Length - 8)) return path;
            if (bytes.Any(b => b < 0x20 && b != (byte)'\n' && b != (byte)'\r')) return path;
            var target = Encoding.UTF8.GetString(bytes).Trim();
            if (target.Contains('\n') || !target.EndsWith(".safetensors", StringComparison.Ordinal)) return path;
            var resolved = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, target));
            if (!File.Exists(resolved)) return path;
            path = resolved;
        }
        return path;
    }
}
