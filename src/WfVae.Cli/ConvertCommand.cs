using WfVae.IO;
using WfVae.Model.Checkpoint;
using WfVae.Model.Checkpoint.Torch;

namespace WfVae.Cli;

/// <summary>
/// wfvae convert: a training checkpoint (torch.save .ckpt/.pt/.pth, e.g. Open-Sora-Plan's vae/merged.ckpt)
/// or any loadable weights file to the official layout: a folder with config.json and
/// diffusion_pytorch_model.safetensors (float32, official key names, fixed filters included). The pickle
/// is read by a restricted unpickler, never executed; the weights are checked against the config as
/// loading checks them.
/// </summary>
internal static class ConvertCommand
{
    public static int Run(Options o, TextWriter stdout)
    {
        var input = o.RequirePath("--input", "convert reads a checkpoint file");
        var output = Path.GetFullPath(o.RequirePath("--output", "convert writes a checkpoint folder"));
        if (File.Exists(output)) throw new IOException($"--output {output} is a file; give a folder for the checkpoint");
        if (Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any() && !o.Has("--force"))
            throw new IOException($"output folder {output} is not empty; pass --force to overwrite the checkpoint files in it");

        string origin = "", ignored = "";
        if (File.Exists(input) && TorchCheckpointFile.IsTorchZip(input))
        {
            using var torch = TorchCheckpointFile.Open(input);
            origin = $" ({torch.Origin}";
            ignored = torch.IgnoredKeys.Count > 0 ? $"; {torch.IgnoredKeys.Count} keys outside the encoder and decoder left out, e.g. {torch.IgnoredKeys[0]})" : ")";
        }
        using var checkpoint = WfVaeCheckpoint.Load(input, o.Get("--config"));
        Directory.CreateDirectory(output);
        var weights = Path.Combine(output, CheckpointLocator.DiffusersWeightsName);
        SafetensorsWriter.WriteStreaming(weights, checkpoint.Manifest.Select(s => (s.Name, s.Shape, SafetensorsDType.F32)),
            name => checkpoint.Get(name), new Dictionary<string, string> { ["format"] = "pt" });
        OutputFile.WriteAllText(Path.Combine(output, CheckpointLocator.ConfigName), checkpoint.Config.ToJson() + "\n");
        if (!o.Has("--quiet"))
            stdout.WriteLine($"converted {input}{origin}{ignored} -> {output}: {CheckpointLocator.ConfigName} + {CheckpointLocator.DiffusersWeightsName} " +
                             $"({checkpoint.Manifest.Count} tensors, {checkpoint.LearnedParameters:N0} learned parameters, F32)");
        return 0;
    }
}
