#!/usr/bin/env python3
"""Measures the shipped model's reconstruction quality on the held-out validation clips and writes docs/quality.md.

    python3 tools/train/quality.py --wfvae <path to the wfvae executable> [--model DIR] [--out docs/quality.md]

(`dotnet pwsh ./build.ps1 quality` builds wfvae and runs this.) For each validation clip at 128x128 and 256x256:
the engine through `wfvae recon` in fp32 and fp16 (its own PSNR/SSIM), the PyTorch twin, the engine-vs-twin
rel_err of the latents and the decoded video, streamed decoding (every chunk size 1..8, and encoder chunks of
4 and 8 frames) against whole-clip decoding, and a plain floor (bicubic 8x down/up, each kept frame shown 4x).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import export  # noqa: E402
import metrics  # noqa: E402
import safetensors_io  # noqa: E402
import twin  # noqa: E402

REPO = data.REPO
# (encoder chunk, decoder chunk) pairs: every decoder chunk size 1..8 after --chunk 4, two after --chunk 8.
STREAM_RUNS = [(4, d) for d in range(1, 9)] + [(8, 1), (8, 5)]


class Engine:
    """The wfvae command line, run once per measurement (what a user runs)."""

    def __init__(self, exe, model):
        self.exe, self.model = exe, model

    def run(self, *args, model=True):
        cmd = [self.exe, *args, *(["--model", self.model, "--quiet"] if model else [])]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.strip()[-500:]}")
        return result

    def recon(self, clip, work, precision):
        stats = os.path.join(work, f"recon-{precision}.json")
        out = os.path.join(work, f"recon-{precision}.mkv")
        self.run("recon", "--input", clip, "--output", out, "--codec", "ffv1", "--precision", precision,
                 "--stats", stats)
        with open(stats) as f:
            s = json.load(f)
        return s["psnr_db"], s["ssim"]

    def latents(self, clip, work, chunk):
        out = os.path.join(work, f"latents-{chunk}.wfl")
        self.run("encode", "--input", clip, "--output", out, "--chunk", str(chunk), "--precision", "fp32")
        return out

    def decode(self, wfl, work, chunk):
        out = os.path.join(work, f"decoded-{os.path.basename(wfl)}-{chunk}.safetensors")
        self.run("decode", "--input", wfl, "--output", out, "--chunk", str(chunk), "--precision", "fp32")
        return safetensors_io.read(out)[0]["decoded"]

    def mean(self, clip, work):
        out = os.path.join(work, "latents.safetensors")
        self.run("encode", "--input", clip, "--output", out, "--chunk", "0", "--precision", "fp32")
        return safetensors_io.read(out)[0]["mean"]


def rel_err(a, e):
    e = e.astype(np.float64)
    return float(np.max(np.abs(a.astype(np.float64) - e)) / np.sqrt(np.mean(e ** 2)))


def floor_quality(frames):
    """Bicubic 8x down and up per frame, keeping one frame in four (0, 4, 8, ...) for its neighbours."""
    x = torch.from_numpy(frames.copy()).float().permute(0, 3, 1, 2)
    t, _, h, w = x.shape
    kept = [min(t - 1, 4 * round(f / 4)) for f in range(t)]
    small = F.interpolate(x, size=(h // 8, w // 8), mode="area")
    up = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).round().clamp(0, 255)[kept]
    a = up.permute(1, 0, 2, 3).unsqueeze(0)
    b = x.permute(1, 0, 2, 3).unsqueeze(0)
    return metrics.psnr(a, b), metrics.ssim(a, b)


def twin_outputs(model, frames):
    x = metrics.from_bytes(frames)
    with torch.no_grad():
        mean, _ = model.encode(x.repeat(2, 1, 1, 1, 1))  # batch of 2: torch's fast CPU path (train.py)
        decoded = model.decode(mean)[:1]
    a, b = metrics.to_bytes(decoded), metrics.to_bytes(x)
    return mean[:1].numpy(), decoded.numpy(), metrics.psnr(a, b), metrics.ssim(a, b)


def measure_clip(engine, model, clip, size, cache, streaming):
    path = os.path.join(cache, "val", f"{clip}-{size}.mkv")
    frames = np.load(os.path.join(cache, "val", f"{clip}-{size}.npy"))
    row = {"clip": clip, "size": size}
    with tempfile.TemporaryDirectory(prefix="wfvae-quality-") as work:
        row["fp32"] = engine.recon(path, work, "fp32")
        row["fp16"] = engine.recon(path, work, "fp16")
        t_mean, t_dec, t_psnr, t_ssim = twin_outputs(model, frames)
        row["twin"] = (t_psnr, t_ssim)
        e_mean = engine.mean(path, work)
        whole = engine.decode(engine.latents(path, work, 0), work, 0)
        row["rel_err"] = (rel_err(e_mean, t_mean), rel_err(whole, t_dec))
        row["floor"] = floor_quality(frames)
        if streaming:
            diffs = []
            for ec in sorted({e for e, _ in STREAM_RUNS}):
                wfl = engine.latents(path, work, ec)
                diffs += [float(np.max(np.abs(engine.decode(wfl, work, dc) - whole))) for e, dc in STREAM_RUNS if e == ec]
            row["stream_max_abs"] = max(diffs)
            row["stream_runs"] = len(diffs)
    return row


def mean_of(rows, key, i):
    return float(np.mean([r[key][i] for r in rows]))


def table(rows, size):
    rows = [r for r in rows if r["size"] == size]
    out = [f"### {size}x{size}", "",
           "| clip | engine fp32 PSNR / SSIM | engine fp16 PSNR / SSIM | fp16 - fp32 | twin PSNR / SSIM | rel_err latents / decoded (engine vs twin) | streamed vs whole | floor PSNR / SSIM |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        stream = "—" if "stream_max_abs" not in r else (
            f"bit-identical ({r['stream_runs']} chunkings, 0.00 dB)" if r["stream_max_abs"] == 0 else f"max |diff| {r['stream_max_abs']:.2e}")
        out.append(f"| {r['clip']} | {r['fp32'][0]:.2f} dB / {r['fp32'][1]:.4f} | {r['fp16'][0]:.2f} dB / {r['fp16'][1]:.4f} | "
                   f"{r['fp16'][0] - r['fp32'][0]:+.3f} dB | {r['twin'][0]:.2f} dB / {r['twin'][1]:.4f} | "
                   f"{r['rel_err'][0]:.1e} / {r['rel_err'][1]:.1e} | {stream} | {r['floor'][0]:.2f} dB / {r['floor'][1]:.4f} |")
    out.append(f"| **mean** | **{mean_of(rows, 'fp32', 0):.2f} dB / {mean_of(rows, 'fp32', 1):.4f}** | "
               f"{mean_of(rows, 'fp16', 0):.2f} dB / {mean_of(rows, 'fp16', 1):.4f} | "
               f"{mean_of(rows, 'fp16', 0) - mean_of(rows, 'fp32', 0):+.3f} dB | "
               f"{mean_of(rows, 'twin', 0):.2f} dB / {mean_of(rows, 'twin', 1):.4f} | "
               f"max {max(r['rel_err'][0] for r in rows):.1e} / {max(r['rel_err'][1] for r in rows):.1e} | | "
               f"{mean_of(rows, 'floor', 0):.2f} dB / {mean_of(rows, 'floor', 1):.4f} |")
    unseen = [r for r in rows if data.SOURCES[data.VALIDATION[r["clip"]][0]][1] == "val"]
    out.append(f"| mean of the {len(unseen)} clips from videos training never read | {mean_of(unseen, 'fp32', 0):.2f} dB / "
               f"{mean_of(unseen, 'fp32', 1):.4f} | {mean_of(unseen, 'fp16', 0):.2f} dB / {mean_of(unseen, 'fp16', 1):.4f} | | "
               f"{mean_of(unseen, 'twin', 0):.2f} dB / {mean_of(unseen, 'twin', 1):.4f} | | | "
               f"{mean_of(unseen, 'floor', 0):.2f} dB / {mean_of(unseen, 'floor', 1):.4f} |")
    return out


def held_out():
    """Which validation clips come from videos that training read other parts of (data.SOURCES roles)."""
    near = [c for c, (src, _) in data.VALIDATION.items() if data.SOURCES[src][1] != "val"]
    return (f"{', '.join(near)} are held-out frames of videos whose other frames trained the model (vtest is one fixed"
            f" camera, so its background was seen), the other {len(data.VALIDATION) - len(near)} come from videos training"
            " never read, and the tables give their mean apart.")


def document(rows, card, model_dir, seconds, device):
    lines = ["# Reconstruction quality of the shipped model", "",
             f"Measured {datetime.date.today().isoformat()} by `dotnet pwsh ./build.ps1 quality` "
             f"(tools/train/quality.py) in {seconds / 60:.1f} min on {platform.processor() or platform.machine()},"
             f" engine device: {device}. Model: `{os.path.relpath(model_dir, REPO)}`.", "",
             "Clips: the validation split of tools/train/data.py, 17 frames each, scaled to cover the size and"
             " centre-cropped, stored losslessly. Training never read these frames; " + held_out() + " PSNR over all R, G, B"
             " bytes (the PSNR of the mean per-frame MSE), SSIM per channel with an 11x11 Gaussian window, averaged"
             " (src/WfVae.Media/ImageMetrics.cs; the twin's metrics.py computes the same). Engine figures come from"
             " `wfvae recon --stats` (posterior mean, pixels rounded to bytes); rel_err = max|engine - twin| / rms(twin)"
             f" on the float latents and decoded video, fp32 bounds {1e-4:g} / {3e-4:g}.", ""]
    for size in data.VAL_SIZES:
        lines += table(rows, size) + [""]
    lines += ["Streamed vs whole: the latents of `wfvae encode --chunk 4` decoded with `wfvae decode --chunk 1` ..."
              " `--chunk 8`, and those of `--chunk 8` with `--chunk 1` and `--chunk 5`, each compared with `--chunk 0`"
              " (whole clip) float for float (128x128 clips).",
              "The floor: each frame scaled down 8x (area) and back up (bicubic), and only frames 0, 4, 8, ... kept, each"
              " standing in for its neighbours: what 8x8 spatial and 4x temporal subsampling gives without a model.", "",
              "## The model and its training", "", "From its MODEL_CARD.md:", ""]
    lines += ["> " + l if l else ">" for l in card.splitlines()]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wfvae", required=True, help="the wfvae executable")
    p.add_argument("--model", default=os.path.join(REPO, "demo", "assets", "default-model"))
    p.add_argument("--cache", default=data.DEFAULT_CACHE)
    p.add_argument("--out", default=os.path.join(REPO, "docs", "quality.md"))
    p.add_argument("--json", default=os.path.join(REPO, "artifacts", "quality.json"))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    data.require_cache(args.cache)
    torch.set_num_threads(args.threads)
    tensors, config = export.read_model(args.model)
    model = twin.WFVAE(config)
    model.load_state(tensors)
    model.eval()
    engine = Engine(args.wfvae, args.model)
    device = engine.run("devices", model=False).stdout.strip().splitlines()
    device = next((l[1:].strip() for l in device if l.startswith("*")), "?")
    start, rows = time.time(), []
    for size in data.VAL_SIZES:
        for clip in data.VALIDATION:
            rows.append(measure_clip(engine, model, clip, size, args.cache, streaming=size == data.VAL_SIZES[0]))
            r = rows[-1]
            print(f"quality: {clip} {size}: engine {r['fp32'][0]:.2f} dB (fp16 {r['fp16'][0]:.2f}), twin {r['twin'][0]:.2f},"
                  f" rel_err {r['rel_err'][0]:.1e}/{r['rel_err'][1]:.1e}, floor {r['floor'][0]:.2f}", flush=True)
    card_path = os.path.join(args.model, "MODEL_CARD.md")
    card = open(card_path).read() if os.path.exists(card_path) else "(no model card)"
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)
    with open(args.out, "w") as f:
        f.write(document(rows, card, args.model, time.time() - start, device))
    print(f"quality: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
