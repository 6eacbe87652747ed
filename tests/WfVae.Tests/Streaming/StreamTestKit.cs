using System.IO.Pipelines;
using System.Runtime.InteropServices;
using WfVae.Model;
using WfVae.Model.Checkpoint;
using WfVae.Streaming;

namespace WfVae.Tests.Streaming;

/// <summary>Shared pieces of the streaming tests: a small random model, random videos, pipe producers.</summary>
internal static class StreamTestKit
{
    /// <summary>
    /// The small LayerNorm/trilinear config of the stream benchmark (base 8, latent 4, one ResnetBlock per
    /// stage, attention on), so that long streams run in seconds on lavapipe; written once per test run.
    /// </summary>
    public static readonly WfVaeConfig SmallConfig = WfVae.Cli.Benchmarks.StreamBenchmark.Config;

    /// <summary>A second random config: nearest time interpolation, no attention, two ResnetBlocks per stage.</summary>
    public static readonly WfVaeConfig NearestConfig = SmallConfig with
    {
        TemporalInterpolation = TemporalInterpolation.Nearest,
        UseAttention = false,
        EncoderNumResBlocks = 2,
        DecoderNumResBlocks = 2,
        EncoderEnergyFlowHiddenSize = 16,
    };

    private static readonly Dictionary<WfVaeConfig, string> Folders = new();

    /// <summary>
    /// The configs a random checkpoint is written for, in seed order: the seed is fixed per config, not by which
    /// test (in which parallel collection) asks first, so every run tests the same weights.
    /// </summary>
    private static readonly WfVaeConfig[] Seeded = [SmallConfig, NearestConfig];

    /// <summary>Loads a random checkpoint of <paramref name="config"/> (written once per test run).</summary>
    public static WfVaeModel LoadRandom(GpuFixture gpu, WfVaeConfig config) => WfVaeModel.Load(RandomFolder(config), gpu.Device);

    /// <summary>The folder of a random checkpoint of <paramref name="config"/> (written once per test run).</summary>
    public static string RandomFolder(WfVaeConfig config)
    {
        string dir;
        lock (Folders)
        {
            if (!Folders.TryGetValue(config, out dir!))
            {
                int index = Array.IndexOf(Seeded, config);
                if (index < 0) throw new ArgumentException("a config without a seed: add it to StreamTestKit.Seeded", nameof(config));
                dir = Path.Combine(Path.GetTempPath(), $"wfvae-stream-{Environment.ProcessId}-{index}");
                RandomCheckpoint.Write(config, dir, seed: 77 + index);
                Folders[config] = dir;
                AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
            }
        }
        return dir;
    }

    public static WfVaeModel LoadSmall(GpuFixture gpu) => LoadRandom(gpu, SmallConfig);

    public static WfVaeModel LoadGolden(GpuFixture gpu, string name) =>
        WfVaeModel.Load(Path.Combine(TestPaths.Golden(name), "model.safetensors"), gpu.Device);

    /// <summary>A smooth random video, frame-major [T][3][H][W] in [−1, 1].</summary>
    public static float[] RandomVideo(int frames, int h, int w, int seed)
    {
        var rng = new Random(seed);
        var v = new float[frames * 3 * h * w];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(Math.Sin(i * 0.013 + seed) * 0.6 + (rng.NextDouble() - 0.5) * 0.4);
        return v;
    }

    public static RawFrameFormat Planar(int h, int w) => new(RawPixelFormat.PlanarFloat32, w, h);

    /// <summary>Writes frames one at a time (flushing each, so the pipe's thresholds apply), then completes with <paramref name="end"/>.</summary>
    public static async Task ProduceAsync(PipeWriter writer, float[] video, int frameElements, byte[]? tail = null, Exception? end = null, Action<int>? flushed = null, bool complete = true)
    {
        int frames = video.Length / frameElements;
        for (int i = 0; i < frames; i++)
        {
            var bytes = MemoryMarshal.AsBytes(video.AsSpan(i * frameElements, frameElements));
            bytes.CopyTo(writer.GetSpan(bytes.Length));
            writer.Advance(bytes.Length);
            var r = await writer.FlushAsync();
            if (r.IsCompleted) return; // the reader stopped
            flushed?.Invoke(i + 1);
        }
        if (tail != null)
        {
            tail.CopyTo(writer.GetSpan(tail.Length));
            writer.Advance(tail.Length);
            await writer.FlushAsync();
        }
        if (complete) await writer.CompleteAsync(end);
    }

    /// <summary>Streams <paramref name="video"/> through a StreamingEncoder; returns the latent chunks.</summary>
    public static async Task<List<LatentFrames>> EncodeAsync(StreamingEncoder encoder, float[] video, PipeOptions? options = null)
    {
        var pipe = new Pipe(options ?? PipeOptions.Default);
        var producer = Task.Run(() => ProduceAsync(pipe.Writer, video, encoder.Format.FrameElements));
        var chunks = new List<LatentFrames>();
        await foreach (var c in encoder.EncodeAsync(pipe.Reader)) chunks.Add(c);
        await producer;
        return chunks;
    }

    public static float[] Means(IEnumerable<LatentFrames> chunks) => chunks.SelectMany(c => c.Mean).ToArray();
    public static float[] Logvars(IEnumerable<LatentFrames> chunks) => chunks.SelectMany(c => c.Logvar).ToArray();

    /// <summary>Decodes latents [t][L][h][w] pushing <paramref name="perPush"/> latents at a time; returns all frames.</summary>
    public static (float[] Frames, List<VideoFrames> Chunks) Decode(StreamingDecoder decoder, float[] latents, int count, int perPush)
    {
        int size = latents.Length / Math.Max(1, count);
        var chunks = new List<VideoFrames>();
        for (int at = 0; at < count; at += perPush)
        {
            int n = Math.Min(perPush, count - at);
            chunks.Add(decoder.Push(latents.AsSpan(at * size, n * size), n));
        }
        chunks.Add(decoder.Complete());
        return (chunks.SelectMany(c => c.Data).ToArray(), chunks);
    }
}
