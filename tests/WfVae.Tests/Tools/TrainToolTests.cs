using Xunit;
using static WfVae.Tests.Tools.TwinGoldenTests;

namespace WfVae.Tests.Tools;

/// <summary>
/// tools/train without its footage cache (CI has none): the missing cache is named with the command that builds it;
/// export refuses non-finite weights; a run started with --init from an export holds its weights and exports a card
/// that counts the training behind them. A tiny model (base 8) keeps it to seconds.
/// </summary>
public sealed class TrainToolTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("wfvae-train-tool-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Train => Path.Combine(TestPaths.RepoRoot, "tools", "train", "train.py");

    [Fact]
    public void WithoutTheDataCacheTrainingSaysWhichCommandBuildsIt()
    {
        var (code, output) = RunPython(Train, "--run", Path.Combine(_dir, "run"), "--cache", Path.Combine(_dir, "no-cache"), "--minutes", "1");
        Assert.True(code == 2, output);
        Assert.Contains("no training data cache in", output);
        Assert.Contains("data.py fetch --cache", output);
    }

    [Fact]
    public void InitWithResumeIsRefusedBeforeAnythingElse()
    {
        var (code, output) = RunPython(Train, "--run", Path.Combine(_dir, "run"), "--cache", Path.Combine(_dir, "no-cache"),
            "--init", Path.Combine(_dir, "model"), "--resume");
        Assert.True(code == 1, output);
        Assert.Contains("--init starts a new run, but --resume was given", output);
    }

    [Fact]
    public void ANewRunOverAnExistingOneIsRefused_AsIsResettingTheEmaOfNone()
    {
        var run = Directory.CreateDirectory(Path.Combine(_dir, "run")).FullName;
        File.WriteAllText(Path.Combine(run, "last.pt"), "a run's checkpoint");
        var (code, output) = RunPython(Train, "--run", run, "--cache", Path.Combine(_dir, "no-cache"), "--minutes", "1");
        Assert.True(code == 1, output);
        Assert.Contains("last.pt exists: --resume continues that run", output);
        Assert.Equal("a run's checkpoint", File.ReadAllText(Path.Combine(run, "last.pt")));
        (code, output) = RunPython(Train, "--run", Path.Combine(_dir, "fresh"), "--cache", Path.Combine(_dir, "no-cache"), "--reset-ema");
        Assert.True(code == 1, output);
        Assert.Contains("--reset-ema restarts the EMA of a resumed run", output);
    }

    [Fact]
    public void InitStartsFromAnExportAndExportCountsTheTrainingBehindIt_NonFiniteWeightsAreRefused()
    {
        var script = Path.Combine(_dir, "check.py");
        File.WriteAllText(script, Script);
        var (code, output) = RunPython(script, Path.GetDirectoryName(Train)!, _dir);
        Assert.True(code == 0, output);
        Assert.Contains("ok", output);
    }

    // Drives train.Run and export through their own code: the argument parser, save/load, start_from, the card.
    private const string Script = """
        import os, sys
        sys.path.insert(0, sys.argv[1])
        import torch, export, train
        d = sys.argv[2]
        size = ["--base", "8", "--latent", "4", "--flow", "8", "--resblocks", "1", "--cache", os.path.join(d, "cache")]

        def run(name, *more):
            sys.argv = ["train.py", "--run", os.path.join(d, name), *size, *more]
            args = train.parse_args()
            os.makedirs(args.run, exist_ok=True)
            return train.Run(args)

        first = run("first")
        first.step, first.elapsed = 40, 7200.0
        first.curve = [{"step": 20, "minutes": 60.0, "psnr": 12.5, "ssim": 0.3}, {"step": 40, "minutes": 120.0, "psnr": 14.25, "ssim": 0.4}]
        first.save(os.path.join(d, "first", "last.pt"))
        assert export.export(os.path.join(d, "first", "last.pt"), os.path.join(d, "m1"), first.args.cache) == 0
        card = open(os.path.join(d, "m1", "MODEL_CARD.md")).read()
        assert "first ~1,700 steps" not in card, card  # that weighting belongs to the first shipped model's lineage only
        assert "- `tree`: tree frames 20-36, from a video training never read" in card, card
        assert "- `vtest_end`: vtest frames 700-716, held-out frames of a video whose other frames" in card, card
        assert "validated at step" not in card, card
        first.step = 45  # weights saved after the last validation (a run killed between the two)
        first.save(os.path.join(d, "first", "late.pt"))
        assert export.export(os.path.join(d, "first", "late.pt"), os.path.join(d, "late"), first.args.cache) == 0
        card = open(os.path.join(d, "late", "MODEL_CARD.md")).read()
        assert "(validated at step 40 of this run; the weights are from step 45)" in card, card
        first.step = 40

        tuned = run("tuned", "--init", os.path.join(d, "m1"))
        tuned.start_from(os.path.join(d, "m1"))
        for a, b in zip(tuned.model.state_dict().values(), first.ema.state_dict().values()):
            assert torch.equal(a, b), "--init did not load the exported (EMA) weights"
        assert tuned.prior["steps"] == 40 and abs(tuned.prior["hours"] - 2.0) < 1e-9 and len(tuned.prior["curve"]) == 2
        tuned.step, tuned.elapsed = 5, 600.0
        tuned.curve = [{"step": 5, "minutes": 10.0, "psnr": 15.0, "ssim": 0.45}]
        tuned.save(os.path.join(d, "tuned", "last.pt"))
        assert export.export(os.path.join(d, "tuned", "last.pt"), os.path.join(d, "m2"), tuned.args.cache) == 0
        card = open(os.path.join(d, "m2", "MODEL_CARD.md")).read()
        assert "Status: trained (45 steps" in card, card
        assert "- 45 steps in 2.17 h of wall time in all: 40 steps in 2.00 h (lr 0.0003, cosine over 180 minutes)" in card, card
        assert "        45   130.0  15.00 0.4500" in card, card  # the fine-tuning's row, after the prior ones

        again = run("again", "--init", os.path.join(d, "m2"))  # a fine-tuned model fine-tuned again
        again.start_from(os.path.join(d, "m2"))
        assert again.prior["steps"] == 45 and [c["step"] for c in again.prior["curve"]] == [20, 40, 45], again.prior
        again.step, again.elapsed, again.curve = 2, 60.0, [{"step": 2, "minutes": 1.0, "psnr": 15.5, "ssim": 0.5}]
        again.save(os.path.join(d, "again", "last.pt"))
        assert export.export(os.path.join(d, "again", "last.pt"), os.path.join(d, "m4"), again.args.cache) == 0
        card = open(os.path.join(d, "m4", "MODEL_CARD.md")).read()
        # Each stage told: the first run's schedule, then each fine-tuning (not 45 steps under the last one's schedule).
        assert "- 47 steps in 2.19 h of wall time in all: 40 steps in 2.00 h (lr 0.0003, cosine over 180 minutes), then (`train.py --init" in card, card
        assert "5 steps in 0.17 h of wall time on the CPU" in card and "then (`train.py --init " + os.path.join(d, "m2") + "`) 2 steps" in card, card

        kl = "the first ~1,700 steps weighed it per pixel mean"  # the first shipped model's lineage only
        with open(os.path.join(d, "m4", "MODEL_CARD.md"), "a") as f:
            f.write(f"(a card of that lineage: {kl})\n")
        heir = run("heir", "--init", os.path.join(d, "m4"))
        heir.start_from(os.path.join(d, "m4"))
        heir.step, heir.elapsed, heir.curve = 1, 60.0, [{"step": 1, "minutes": 1.0, "psnr": 15.5, "ssim": 0.5}]
        heir.save(os.path.join(d, "heir", "last.pt"))
        assert export.export(os.path.join(d, "heir", "last.pt"), os.path.join(d, "m6"), heir.args.cache) == 0
        assert kl in open(os.path.join(d, "m6", "MODEL_CARD.md")).read()
        old = torch.load(os.path.join(d, "first", "last.pt"))
        del old["kl_history"]  # written by a train.py from before it was recorded: the first lineage's
        torch.save(old, os.path.join(d, "first", "old.pt"))
        assert export.export(os.path.join(d, "first", "old.pt"), os.path.join(d, "m7"), first.args.cache) == 0
        assert kl in open(os.path.join(d, "m7", "MODEL_CARD.md")).read()

        os.remove(os.path.join(d, "m1", "MODEL_CARD.md"))  # weights from elsewhere: no recorded training
        bare = run("bare", "--init", os.path.join(d, "m1"))
        bare.start_from(os.path.join(d, "m1"))
        bare.step, bare.elapsed, bare.curve = 1, 60.0, [{"step": 1, "minutes": 1.0, "psnr": 14.0, "ssim": 0.4}]
        bare.save(os.path.join(d, "bare", "last.pt"))
        assert export.export(os.path.join(d, "bare", "last.pt"), os.path.join(d, "m5"), bare.args.cache) == 0
        card = open(os.path.join(d, "m5", "MODEL_CARD.md")).read()
        assert "Status: trained (1 steps" in card and "weights with no recorded training" in card, card

        other = run("other", "--init", os.path.join(d, "m1"), "--base", "16")
        try:
            other.start_from(os.path.join(d, "m1"))
            raise AssertionError("a model of another size was accepted")
        except SystemExit as e:
            assert "is another model than" in str(e) and "base_channels: 8 vs 16" in str(e), e

        import json  # a converted checkpoint's version stamp and latent scale do not shape the weights
        with open(os.path.join(d, "m1", "config.json")) as f:
            converted = json.load(f)
        converted["_diffusers_version"], converted["scale"] = "0.31.0", [0.5] * 4
        with open(os.path.join(d, "m1", "config.json"), "w") as f:
            json.dump(converted, f)
        run("converted", "--init", os.path.join(d, "m1")).start_from(os.path.join(d, "m1"))

        with torch.no_grad():
            next(iter(tuned.ema.parameters())).view(-1)[3] = float("nan")
        tuned.save(os.path.join(d, "tuned", "last.pt"))
        assert export.export(os.path.join(d, "tuned", "last.pt"), os.path.join(d, "m3"), tuned.args.cache) == 1
        assert not os.path.exists(os.path.join(d, "m3", "diffusion_pytorch_model.safetensors"))
        print("ok")
        """;
}
