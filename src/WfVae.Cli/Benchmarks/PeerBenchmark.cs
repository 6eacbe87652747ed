using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using WfVae.Runtime;

namespace WfVae.Cli.Benchmarks;

/// <summary>
/// The peer of a model benchmark (`wfvae bench --peer torch`): the PyTorch twin of the model (tools/train/twin.py,
/// driven by tools/train/peer.py) on the same clip size, the same safetensors file and the same thread count, after
/// it passed its golden check against the official reference cases. One python process, one JSON answer.
/// </summary>
public static class PeerBenchmark
{
    /// <summary>Python interpreter with torch; default python3 on PATH, then the system's /usr/bin/python3.</summary>
    public const string PythonVariable = "WFVAE_PYTHON";

    // peer.py's exit code when PyTorch cannot be imported: the next interpreter is tried.
    private const int NoTorchExitCode = 3;

    public sealed record Request(string Weights, string Config, string Device, string Precision, int Threads, int Runs,
        int Frames, int Height, int Width);

    public sealed record Result(string Torch, string DeviceName, string Device, string Precision, int Threads, int GoldenCases,
        double EncodeS, double DecodeS, long EncodePeakBytes, long DecodePeakBytes, string PeakKind, string Json);

    /// <summary>cuda where the engine runs on a GPU (the twin then shares it), else cpu; --peer-device overrides.</summary>
    public static string DefaultDevice(VulkanDevice d) => d.Info.Kind is DeviceKind.Cpu or DeviceKind.Other ? "cpu" : "cuda";

    /// <summary>TF32 on CUDA (the usual PyTorch "float32" on NVIDIA GPUs), plain fp32 on the CPU.</summary>
    public static string DefaultPrecision(string device) => device == "cuda" ? "tf32" : "fp32";

    /// <summary>The engine's worker threads: llvmpipe's LP_NUM_THREADS where set on a CPU device, else the core count.</summary>
    public static int EngineThreads(VulkanDevice d) =>
        d.Info.Kind == DeviceKind.Cpu && int.TryParse(Environment.GetEnvironmentVariable("LP_NUM_THREADS"), out int n) && n > 0
            ? n : Environment.ProcessorCount;

    public static Result Run(Request r, TextWriter log)
    {
        var script = FindScript() ?? throw new IOException(
            "--peer torch: tools/train/peer.py not found above the working folder or the program (run from a checkout of the repository)");
        var golden = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(script)!, "..", "..", "tests", "fixtures", "golden"));
        if (!Directory.Exists(golden))
            throw new IOException($"--peer torch: the reference cases for the twin's golden check are not at {golden}");
        var request = new JsonObject
        {
            ["weights"] = r.Weights, ["config"] = r.Config, ["device"] = r.Device, ["threads"] = r.Threads,
            ["runs"] = r.Runs, ["golden"] = golden,
            ["clips"] = new JsonArray(new JsonObject { ["frames"] = r.Frames, ["height"] = r.Height, ["width"] = r.Width, ["precision"] = r.Precision }),
        };
        log.WriteLine($"bench: peer: PyTorch twin ({script}) on {r.Device}, {r.Precision}, {r.Threads} threads; golden check first");
        int code = 0;
        JsonNode? answer = null;
        string python = "";
        var candidates = Pythons();
        foreach (var candidate in candidates)
        {
            python = candidate;
            string stdout;
            try { (code, stdout) = RunPython(candidate, script, request.ToJsonString(), log); }
            catch (IOException) when (candidate != candidates[^1]) { continue; }
            answer = LastJsonLine(stdout);
            if (code != NoTorchExitCode) break;
        }
        if (answer == null)
            throw new IOException($"--peer torch: {python} {script} exited with code {code} without a result (see the lines above)");
        if (code != 0 || answer["ok"]?.GetValue<bool>() != true)
        {
            var error = answer["error"]?.GetValue<string>() ?? answer["clips"]?[0]?["error"]?.GetValue<string>() ?? $"exit code {code}";
            throw new InvalidDataException($"--peer torch: {error}");
        }
        var clip = answer["clips"]![0]!;
        return new Result(answer["torch"]!.GetValue<string>(), answer["device_name"]!.GetValue<string>(), r.Device, r.Precision,
            answer["threads"]!.GetValue<int>(), answer["golden"]?["passed"]?.GetValue<int>() ?? 0,
            clip["encode_s"]!.GetValue<double>(), clip["decode_s"]!.GetValue<double>(),
            clip["encode_peak_bytes"]?.GetValue<long>() ?? 0, clip["decode_peak_bytes"]?.GetValue<long>() ?? 0,
            clip["peak_kind"]!.GetValue<string>(), answer.ToJsonString());
    }

    /// <summary>WFVAE_PYTHON alone when set; else python3 on PATH (a virtual environment's, say), then /usr/bin/python3.</summary>
    private static string[] Pythons()
    {
        if (Environment.GetEnvironmentVariable(PythonVariable) is { Length: > 0 } chosen)
            return [chosen];
        return File.Exists("/usr/bin/python3") ? ["python3", "/usr/bin/python3"] : ["python3"];
    }

    /// <summary>Runs peer.py with the request on stdin; its stderr (progress, tracebacks) goes to the log as it comes.</summary>
    private static (int Code, string Stdout) RunPython(string python, string script, string request, TextWriter log)
    {
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("--request");
        psi.ArgumentList.Add("-");
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        Process process;
        try { process = Process.Start(psi)!; }
        catch (Win32Exception e)
        {
            throw new IOException($"--peer torch: cannot start '{python}' ({e.Message}); install python3 with PyTorch (python3-torch) or set {PythonVariable}");
        }
        using (process)
        {
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
            process.BeginErrorReadLine();
            var output = process.StandardOutput.ReadToEndAsync();
            process.StandardInput.Write(request);
            process.StandardInput.Close();
            process.WaitForExit();
            return (process.ExitCode, output.Result);
        }
    }

    private static JsonNode? LastJsonLine(string stdout)
    {
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Reverse())
        {
            if (!line.StartsWith('{')) continue;
            try { return JsonNode.Parse(line); }
            catch (JsonException) { }
        }
        return null;
    }

    /// <summary>tools/train/peer.py above the working folder or the program's folder (the kit's binary sits in the checkout).</summary>
    private static string? FindScript()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "tools", "train", "peer.py");
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }

    /// <summary>The engine against the twin: times, the speed ratio (twin time / engine time) and peak memories.</summary>
    public static string ToMarkdown(ModelBenchmark.Result engine, Result peer)
    {
        static string Mib(long b) => b > 0 ? (b / 1048576.0).ToString("F0", CultureInfo.InvariantCulture) + " MiB" : "n/a";
        static string X(double v) => double.IsFinite(v) && v > 0 ? v.ToString("F2", CultureInfo.InvariantCulture) + "x" : "n/a";
        long enginePeak = Math.Max(engine.EncodePeakBytes, engine.DecodePeakBytes);
        long peerPeak = Math.Max(peer.EncodePeakBytes, peer.DecodePeakBytes);
        var sb = new StringBuilder();
        sb.AppendLine($"Peer: the PyTorch twin (tools/train/twin.py, torch {peer.Torch}, {peer.DeviceName}, {peer.Precision}, {peer.Threads} threads), same weights and clip; golden check passed on {peer.GoldenCases} reference cases.");
        sb.AppendLine();
        sb.AppendLine("| | encode s | decode s | encode + decode s | peak memory encode | peak memory decode |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|");
        sb.AppendLine($"| this engine ({engine.Device}, {engine.Precision}) | {engine.EncodeS:F3} | {engine.DecodeS:F3} | {engine.EncodeS + engine.DecodeS:F3} | {Mib(engine.EncodePeakBytes)} | {Mib(engine.DecodePeakBytes)} |");
        sb.AppendLine($"| PyTorch twin ({peer.Device}, {peer.Precision}) | {peer.EncodeS:F3} | {peer.DecodeS:F3} | {peer.EncodeS + peer.DecodeS:F3} | {Mib(peer.EncodePeakBytes)} | {Mib(peer.DecodePeakBytes)} |");
        sb.AppendLine($"| engine speed vs twin (twin time / engine time) | {X(peer.EncodeS / engine.EncodeS)} | {X(peer.DecodeS / engine.DecodeS)} | {X((peer.EncodeS + peer.DecodeS) / (engine.EncodeS + engine.DecodeS))} | {X((double)engine.EncodePeakBytes / peer.EncodePeakBytes)} of its memory | {X((double)engine.DecodePeakBytes / peer.DecodePeakBytes)} of its memory |");
        sb.AppendLine();
        sb.AppendLine($"Engine memory: peak device bytes (weights included). Twin memory: {peer.PeakKind}. Overall peaks: engine {Mib(enginePeak)}, twin {Mib(peerPeak)}.");
        return sb.ToString();
    }
}
