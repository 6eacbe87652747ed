using System.Diagnostics;
using WfVae.IO;
using WfVae.Streaming.LatentStream;
using WfVae.Tests.Streaming;
using Xunit;
using static WfVae.Tests.Cli.CliRunner;

namespace WfVae.Tests.Cli;

/// <summary>
/// Outputs never destroy what they replace (issue #15, "Why" 1): devices, FIFOs and symbolic links keep
/// what they are; regular files are replaced only by complete files; no temporary is left behind.
/// </summary>
public sealed class OutputSafetyCliTests : IDisposable
{
    private const int W = 16, H = 16, Frames = 5;
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-outputs-").FullName;
    private readonly string _model = StreamTestKit.RandomFolder(StreamTestKit.SmallConfig);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>A 5-frame stream (2 latents) of the small model, decoding to 5 frames of 16x16.</summary>
    private string Latents()
    {
        File.WriteAllBytes(P("in.rgb"), Enumerable.Range(0, Frames * W * H * 3).Select(i => (byte)(i * 7 % 253)).ToArray());
        var enc = Run("encode", "--model", _model, "--input", P("in.rgb"), "--raw", $"{W}x{H}@25", "--output", P("z.wfl"));
        Assert.True(enc.Code == 0, enc.Err);
        return P("z.wfl");
    }

    private static void MakeFifo(string path)
    {
        using var p = Process.Start("mkfifo", [path])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void DevicesAreWrittenInPlace_AFullDeviceIsAnError()
    {
        var z = Latents();
        var full = Run("decode", "--model", _model, "--input", z, "--raw", "rgb24", "--output", "/dev/full");
        Assert.Equal(1, full.Code);
        Assert.Single(full.Err.Trim().Split('\n'));
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of("/dev/full"));

        var nul = Run("decode", "--model", _model, "--input", z, "--raw", "rgb24", "--output", "/dev/null");
        Assert.True(nul.Code == 0, nul.Err);
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of("/dev/null"));
        Assert.Empty(Directory.GetFiles("/dev", "full.*.partial").Concat(Directory.GetFiles("/dev", "null.*.partial")));
    }

    [Fact]
    public void AFifoIsWrittenInPlaceForItsReader()
    {
        var z = Latents();
        MakeFifo(P("frames.fifo"));
        // The reader opens the FIFO first, as a downstream process would, and takes every byte.
        var reader = Task.Run(() =>
        {
            using var f = new FileStream(P("frames.fifo"), FileMode.Open, FileAccess.Read);
            using var all = new MemoryStream();
            f.CopyTo(all);
            return all.Length;
        });
        var dec = Run("decode", "--model", _model, "--input", z, "--raw", "rgb24", "--output", P("frames.fifo"));
        Assert.True(dec.Code == 0, dec.Err);
        Assert.True(reader.Wait(TimeSpan.FromSeconds(60)), "the FIFO reader never got an end of file");
        Assert.Equal((long)Frames * W * H * 3, reader.Result);
        Assert.Equal(FileKind.Fifo, FileKinds.Of(P("frames.fifo")));
    }

    [Fact]
    public void ASymbolicLinkKeepsPointingAtItsTarget_WhichGetsTheOutput()
    {
        var z = Latents();
        Directory.CreateDirectory(P("real"));
        File.WriteAllText(P("real/out.rgb"), "old");
        File.CreateSymbolicLink(P("link.rgb"), "real/out.rgb");
        var dec = Run("decode", "--model", _model, "--input", z, "--raw", "rgb24", "--output", P("link.rgb"));
        Assert.True(dec.Code == 0, dec.Err);
        Assert.Equal("real/out.rgb", new FileInfo(P("link.rgb")).LinkTarget);
        Assert.Equal((long)Frames * W * H * 3, new FileInfo(P("real/out.rgb")).Length);
        Assert.Empty(Directory.GetFiles(_dir, "*.partial", SearchOption.AllDirectories));
    }

    [Fact]
    public void AFailedOutputLeavesTheOldFileAndNoTemporary()
    {
        var z = Latents();
        File.WriteAllText(P("out.rgb"), "old");
        // Latent 1 holds a NaN (with a valid CRC): frame 0 is written before decode meets it and fails.
        var poisoned = P("poisoned.wfl");
        using (var r = LatentStreamReader.Open(z))
        using (var w = LatentStreamWriter.Create(poisoned, r.Header))
        {
            foreach (var c in r.ReadChunks())
            {
                if (c.FirstFrame <= 1 && 1 < c.FirstFrame + c.Frames) c.Mean[(1 - c.FirstFrame) * (int)r.Header.FrameValues + 3] = float.NaN;
                w.WriteChunk(c.FirstFrame, c.Frames, c.Mean, c.Logvar);
            }
            w.Complete(Frames, 0, 0);
        }
        var dec = Run("decode", "--model", _model, "--input", poisoned, "--raw", "rgb24", "--output", P("out.rgb"), "--stats", P("s.json"));
        Assert.Equal(1, dec.Code);
        Assert.Contains("latent frame 1 holds NaN at channel 0, row 1, column 1", dec.Err);
        Assert.Equal("old", File.ReadAllText(P("out.rgb")));
        Assert.False(File.Exists(P("s.json")), "a failed run wrote statistics");
        Assert.Empty(Directory.GetFiles(_dir, "*.partial"));
    }

    [Fact]
    public void AnOutputOrStatsFileThatCannotBeWrittenFailsBeforeTheRun()
    {
        var z = Latents();
        var stats = P("missing/s.json");
        var runs = new[]
        {
            Run("encode", "--model", _model, P("in.rgb"), P("z2.wfl"), "--raw", $"{W}x{H}@25", "--stats", stats),
            Run("decode", "--model", _model, z, P("out.rgb"), "--raw", "rgb24", "--stats", stats),
            Run("recon", "--model", _model, P("in.rgb"), P("out.rgb"), "--raw", $"{W}x{H}@25", "--stats", stats),
        };
        foreach (var r in runs)
        {
            Assert.True(r.Code == 1, $"exit {r.Code}: {r.Err}");
            Assert.Contains($"cannot write '{stats}': the folder '{P("missing")}' does not exist", r.Err);
        }
        Assert.False(File.Exists(P("z2.wfl")));
        Assert.False(File.Exists(P("out.rgb")));
        // Safetensors outputs are written at the end, but started first: their run does not happen (no statistics).
        var tensors = new[]
        {
            Run("encode", "--model", _model, P("in.rgb"), P("missing/z.safetensors"), "--raw", $"{W}x{H}@25", "--stats", P("s1.json")),
            Run("decode", "--model", _model, z, P("missing/v.safetensors"), "--stats", P("s2.json")),
        };
        foreach (var r in tensors)
        {
            Assert.True(r.Code == 1, $"exit {r.Code}: {r.Err}");
            Assert.Contains($"the folder '{P("missing")}' does not exist", r.Err);
        }
        Assert.False(File.Exists(P("s1.json")) || File.Exists(P("s2.json")), "the run went ahead of an output that cannot be written");
        // An encode that fails on its input (a truncated last frame) after its latents: no statistics either.
        File.WriteAllBytes(P("cut.rgb"), new byte[Frames * W * H * 3 + 10]);
        var cut = Run("encode", "--model", _model, P("cut.rgb"), P("cut.safetensors"), "--raw", $"{W}x{H}@25", "--stats", P("s3.json"));
        Assert.True(cut.Code == 1, $"exit {cut.Code}: {cut.Err}");
        Assert.False(File.Exists(P("s3.json")), "a failed encode wrote statistics");
        Assert.Empty(Directory.GetFiles(_dir, "*.partial"));
    }

    [Fact]
    public void AnOutputThatNamesTheInputIsRefusedAndTheInputKept()
    {
        File.WriteAllBytes(P("in.rgb"), Enumerable.Range(0, Frames * W * H * 3).Select(i => (byte)(i * 7 % 253)).ToArray());
        var rgb = File.ReadAllBytes(P("in.rgb"));
        File.CreateSymbolicLink(P("alias.rgb"), "in.rgb");
        Directory.CreateSymbolicLink(P("linkdir"), ".");
        using (var ln = System.Diagnostics.Process.Start("ln", [P("in.rgb"), P("hard.rgb")])) ln.WaitForExit();
        var enc = Run("encode", "--model", _model, "--input", P("in.rgb"), "--raw", $"{W}x{H}@25", "--output", P("z.safetensors"));
        Assert.True(enc.Code == 0, enc.Err);
        var latents = File.ReadAllBytes(P("z.safetensors"));
        var cases = new[]
        {
            new[] { "recon", "--raw", $"{W}x{H}@25", P("in.rgb"), P("in.rgb") },
            ["recon", "--raw", $"{W}x{H}@25", P("in.rgb"), P("alias.rgb")],          // through a link
            ["recon", "--raw", $"{W}x{H}@25", P("in.rgb"), P("linkdir/in.rgb")],     // through a linked folder
            ["recon", "--raw", $"{W}x{H}@25", P("in.rgb"), P("hard.rgb")],           // a hard link
            ["decode", P("z.safetensors"), Path.Combine(_dir, ".", "z.safetensors")], // another spelling
            ["recon", "--raw", $"{W}x{H}@25", P("in.rgb"), P("out.mp4"), "--stats", P("out.mp4")], // output not there yet
            ["recon", "--raw", $"{W}x{H}@25", P("in.rgb"), P("out2.mp4"), "--stats", P("in.rgb")],
        };
        foreach (var args in cases)
        {
            var r = Run([.. args, "--model", _model]);
            Assert.True(r.Code == 2, $"exit {r.Code}: {r.Err}");
            Assert.Single(r.Err.Trim().Split('\n'));
            Assert.Matches("is also the --(input|output) file", r.Err);
        }
        Assert.False(File.Exists(P("out.mp4")));
        foreach (var stdout in new[] { "-", "/dev/stdout" })
        {
            var both = Run("decode", "--model", _model, P("z.safetensors"), stdout, "--raw", "rgb24", "--stats", "-");
            Assert.True(both.Code == 2, $"exit {both.Code}: {both.Err}");
            Assert.Contains("both write to standard output", both.Err);
        }
        // Raw frames go to standard output when no --output is given: the same clash.
        foreach (var args in new[] { new[] { "decode", P("z.safetensors"), "--raw", "rgb24" }, ["recon", "--raw", $"{W}x{H}@25", P("in.rgb")] })
        {
            var implicitStdout = Run([.. args, "--stats", "-", "--model", _model]);
            Assert.True(implicitStdout.Code == 2, $"exit {implicitStdout.Code}: {implicitStdout.Err}");
            Assert.Contains("both write to standard output", implicitStdout.Err);
        }
        // Statistics on standard output with a file output: the summary moves to stderr, so stdout is the JSON alone.
        var statsOnStdout = Run("decode", "--model", _model, P("z.safetensors"), P("s.rgb"), "--raw", "rgb24", "--stats", "-");
        Assert.True(statsOnStdout.Code == 0, statsOnStdout.Err);
        Assert.DoesNotContain("decoded", statsOnStdout.Out);
        Assert.Contains("decoded", statsOnStdout.Err);
        File.Delete(P("s.rgb"));
        var devices = Run("decode", "--model", _model, P("z.safetensors"), "/dev/null", "--raw", "rgb24", "--stats", "/dev/null");
        Assert.True(devices.Code == 0, devices.Err); // a device is no file to replace: both may name it
        Assert.Equal(rgb, File.ReadAllBytes(P("in.rgb")));
        Assert.Equal(latents, File.ReadAllBytes(P("z.safetensors")));
        Assert.Empty(Directory.GetFiles(_dir, "*.partial"));
    }

    [Fact]
    public void RepairToAnotherNameWritesIt_AlsoWhenNothingNeedsRepair()
    {
        var z = Latents();
        var r = Run("repair", z, P("copy.wfl"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("already complete", r.Out);
        Assert.Contains("copied to", r.Out);
        Assert.Equal(File.ReadAllBytes(z), File.ReadAllBytes(P("copy.wfl")));

        // Bytes after the trailer are not part of the stream: the copy is the stream alone.
        File.WriteAllBytes(P("tail.wfl"), [.. File.ReadAllBytes(z), 1, 2, 3]);
        Assert.Equal(0, Run("repair", P("tail.wfl"), P("copy2.wfl")).Code);
        Assert.Equal(File.ReadAllBytes(z), File.ReadAllBytes(P("copy2.wfl")));
        Assert.Empty(Directory.GetFiles(_dir, "*.partial"));
    }
}
