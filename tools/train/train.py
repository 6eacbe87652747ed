#!/usr/bin/env python3
"""Trains a small WF-VAE on real footage (CPU, Debian's python3-torch) and exports it in the official layout.

    python3 tools/train/data.py fetch                        # once: the footage cache
    python3 tools/train/train.py --run artifacts/train-run --minutes 180
    python3 tools/train/train.py --run artifacts/train-run --minutes 240 --resume   # continue
    python3 tools/train/train.py --run artifacts/tune --minutes 120 --init demo/assets/default-model --lr 1e-4
    python3 tools/train/train.py --run artifacts/train-run --export demo/assets/default-model

Losses: L1 + SSIM term + wavelet-domain WL loss (0.1) + KL (1e-6). AdamW, EMA of the weights, gradient
clipping, a time-based cosine schedule over --minutes, validation PSNR/SSIM of the EMA weights every
--val-minutes on the held-out clips, resumable checkpoints (run/last.pt), fixed seed.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import export  # noqa: E402
import metrics  # noqa: E402
import twin  # noqa: E402
from sampler import Sampler  # noqa: E402

# (batch, frames, size). Batches of one are avoided: torch's CPU convolution then takes a path ~10x slower.
CLIP_SHAPES = ((4, 9, 64), (2, 9, 96), (2, 13, 64), (2, 17, 64), (2, 9, 128), (2, 13, 96))
WEIGHTS = {"l1": 1.0, "ssim": 0.2, "wl": 0.1, "kl": 1e-6}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="folder for checkpoints, the curve and the log")
    p.add_argument("--cache", default=data.DEFAULT_CACHE)
    p.add_argument("--minutes", type=float, default=180, help="training wall-time budget (the LR schedule spans it)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--reset-ema", action="store_true", help="on --resume, restart the EMA from the current weights")
    p.add_argument("--init", metavar="DIR", help="start a new run from an exported model's weights (config.json +"
                   " safetensors, e.g. the shipped default) instead of random ones: fine-tuning; its size must be"
                   " the one --base/--latent/--flow/--resblocks give (their defaults are the shipped model's)")
    p.add_argument("--export", metavar="DIR", help="write the EMA weights of run/last.pt in the official layout and exit")
    p.add_argument("--base", type=int, default=32)
    p.add_argument("--latent", type=int, default=16)
    p.add_argument("--flow", type=int, default=32, help="encoder and decoder energy-flow width")
    p.add_argument("--resblocks", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=20261206)
    p.add_argument("--val-minutes", type=float, default=10)
    p.add_argument("--ckpt-minutes", type=float, default=5)
    return p.parse_args()


def ssim_loss(x, y):
    """1 - SSIM on [0, 1]-scaled pixels, per frame and channel."""
    n, c, t, h, w = x.shape
    planes = lambda v: ((v.clamp(-1, 1) + 1) / 2).transpose(1, 2).reshape(n * t * c, h, w)
    return 1 - metrics.ssim_map_mean(planes(x), planes(y), peak=1.0).mean()


def losses(model, x, generator):
    moments, (w2, w3) = model.encoder(x)
    mean, logvar = moments.chunk(2, dim=1)
    logvar = logvar.clamp(*twin.LOGVAR_RANGE)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)
    y, (v2, v3) = model.decoder(z)
    parts = {"l1": (y - x).abs().mean(), "ssim": ssim_loss(y, x),
             "wl": (v2 - w2).abs().mean() + (v3 - w3).abs().mean(),
             # Per sample, divided by its pixel count: the official training sums the reconstruction loss over
             # pixels, so its KL weight of 1e-6 is relative to that sum, not to a per-pixel mean.
             "kl": 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum() / x.numel()}
    return sum(WEIGHTS[k] * v for k, v in parts.items()), parts


def validate(model, cache, size=128):
    model.eval()
    rows = {}
    with torch.no_grad():
        clips = list(data.VALIDATION)
        for pair in (clips[i:i + 2] for i in range(0, len(clips), 2)):
            x = torch.cat([metrics.from_bytes(np.load(os.path.join(cache, "val", f"{c}-{size}.npy"))) for c in pair])
            y = model.decode(model.encode(x if len(pair) > 1 else x.repeat(2, 1, 1, 1, 1))[0])
            for i, clip in enumerate(pair):  # batches of two: see CLIP_SHAPES
                a, b = metrics.to_bytes(y[i:i + 1]), metrics.to_bytes(x[i:i + 1])
                rows[clip] = (metrics.psnr(a, b), metrics.ssim(a, b))
    model.train()
    return rows


def lr_at(args, step, elapsed):
    warm = min(1.0, (step + 1) / 300)
    frac = min(1.0, elapsed / (args.minutes * 60))
    return args.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))


class Run:
    """Model, EMA copy, optimizer and counters; saved atomically to run/last.pt."""

    def __init__(self, args):
        self.args = args
        torch.manual_seed(args.seed)
        self.config = twin.Config.make(args.base, args.latent, args.flow, args.flow, args.resblocks, args.resblocks)
        self.model = twin.WFVAE(self.config)
        self.ema = twin.WFVAE(self.config)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=1e-4)
        self.step, self.elapsed, self.curve = 0, 0.0, []
        self.generator = torch.Generator().manual_seed(args.seed + 1)
        self.prior = None  # the training behind the --init weights, for the model card

    def start_from(self, model_dir):
        """--init: model and EMA both hold the exported (EMA) weights; optimizer and schedule start afresh."""
        tensors, config = export.read_model(model_dir)
        # Values that do not shape the weights (a converted checkpoint's version stamp, latent scale/shift) may differ.
        loose = {"_class_name", "_diffusers_version", "scale", "shift", "dropout"}
        differ = sorted(k for k in set(config) | set(self.config) if k not in loose and config.get(k) != self.config.get(k))
        if differ:
            raise SystemExit(f"error: {model_dir} is another model than --base/--latent/--flow/--resblocks give"
                             f" ({', '.join(f'{k}: {config.get(k)} vs {self.config.get(k)}' for k in differ)})")
        self.model.load_state(tensors)
        self.ema.load_state(tensors)
        self.prior = export.prior_training(model_dir)

    def save(self, path):
        state = {"config": self.config, "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                 "opt": self.opt.state_dict(), "step": self.step, "elapsed": self.elapsed, "curve": self.curve,
                 "args": vars(self.args), "rng": self.generator.get_state(),
                 "prior": self.prior, "kl_history": bool(self.prior and self.prior.get("kl_history"))}
        tmp = path + ".partial"
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the rename must not reach the disk before the bytes do
        os.replace(tmp, path)

    def load(self, path):
        state = torch.load(path)
        if state["config"] != self.config:
            raise SystemExit(f"error: {path} was trained with another model size; pass the same --base/--latent/--flow")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.elapsed, self.curve = state["step"], state["elapsed"], state["curve"]
        self.generator.set_state(state["rng"])
        self.prior = state.get("prior")

    def update_ema(self):
        # Warm-up: early on the average would still hold most of the random initial weights.
        decay = min(self.args.ema, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for e, p in zip(self.ema.parameters(), self.model.parameters()):
                if p.requires_grad:
                    e.mul_(decay).add_(p, alpha=1 - decay)


def log(run_dir, line):
    print(line, flush=True)
    with open(os.path.join(run_dir, "train.log"), "a") as f:
        f.write(line + "\n")


def record_validation(run, sampler_seen):
    if run.curve and run.curve[-1]["step"] == run.step:
        return  # the final validation right after a periodic one
    rows = validate(run.ema, run.args.cache)
    psnr = float(np.mean([r[0] for r in rows.values()]))
    ssim = float(np.mean([r[1] for r in rows.values()]))
    run.curve.append({"step": run.step, "minutes": round(run.elapsed / 60, 2), "psnr": psnr, "ssim": ssim,
                      "clips": {k: [round(v[0], 3), round(v[1], 4)] for k, v in rows.items()},
                      "clips_seen": sampler_seen})
    worst = min(rows.items(), key=lambda kv: kv[1][0])
    log(run.args.run, f"validation step {run.step}: PSNR {psnr:.2f} dB, SSIM {ssim:.4f} (128x128, EMA; "
                      f"worst {worst[0]} {worst[1][0]:.2f} dB)")


def train(args):
    last = os.path.join(args.run, "last.pt")
    if args.init and (args.resume or os.path.exists(last)):
        raise SystemExit(f"error: --init starts a new run, but {'--resume was given' if args.resume else last + ' exists'};"
                         " pick a new --run folder")
    if not args.resume and os.path.exists(last):
        raise SystemExit(f"error: {last} exists: --resume continues that run; a new run needs a new --run folder")
    if args.reset_ema and not args.resume:
        raise SystemExit("error: --reset-ema restarts the EMA of a resumed run; give it with --resume")
    data.require_cache(args.cache)
    os.makedirs(args.run, exist_ok=True)
    torch.set_num_threads(args.threads)
    run = Run(args)
    if args.init:
        run.start_from(args.init)
        behind = f"{run.prior['steps']:,} steps of training" if run.prior["card"] else "no recorded training (no model card)"
        log(args.run, f"initialised from {args.init} ({behind} behind it)")
    if args.resume:
        if not os.path.isfile(last):
            raise SystemExit(f"error: --resume but {last} does not exist")
        run.load(last)
        if args.reset_ema:
            run.ema.load_state_dict(run.model.state_dict())
        log(args.run, f"resumed at step {run.step} ({run.elapsed / 60:.1f} min){', EMA restarted' if args.reset_ema else ''}")
    sampler = Sampler(args.cache, args.seed + run.step)
    shapes_rng = np.random.default_rng(args.seed + 7 + run.step)
    start, last_val, last_ckpt, seen = time.time() - run.elapsed, run.elapsed, run.elapsed, 0
    window = []
    while run.elapsed < args.minutes * 60:
        n, t, size = CLIP_SHAPES[shapes_rng.integers(len(CLIP_SHAPES))]
        x, notes = sampler.batch(n, t, size)
        for g in run.opt.param_groups:
            g["lr"] = lr_at(args, run.step, run.elapsed)
        total, parts = losses(run.model, x, run.generator)
        run.opt.zero_grad(set_to_none=True)
        if torch.isfinite(total):
            total.backward()
            norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
        if not torch.isfinite(total) or not torch.isfinite(norm):
            # Before the optimizer step: the weights and their EMA are still those of the last good step.
            run.save(os.path.join(args.run, "nonfinite.pt"))
            what = "loss" if not torch.isfinite(total) else "gradient"
            raise SystemExit(f"error: non-finite {what} at step {run.step + 1} ({ {k: float(v) for k, v in parts.items()} }) "
                             f"on batch {notes}; state before it saved to {args.run}/nonfinite.pt")
        run.opt.step()
        run.update_ema()
        run.step += 1
        seen += x.shape[0]
        run.elapsed = time.time() - start
        window.append({k: float(v) for k, v in parts.items()})
        if run.step % 25 == 0:
            avg = {k: np.mean([w[k] for w in window]) for k in window[0]}
            window.clear()
            left = args.minutes * 60 - run.elapsed
            log(args.run, f"step {run.step} {run.elapsed / 60:6.1f} min  l1 {avg['l1']:.4f} ssim {avg['ssim']:.4f} "
                          f"wl {avg['wl']:.4f} kl {avg['kl']:.4f}  lr {lr_at(args, run.step, run.elapsed):.2e}  "
                          f"{run.step / max(run.elapsed, 1):.2f} step/s  {left / 60:.0f} min left")
        if run.elapsed - last_val >= args.val_minutes * 60:
            record_validation(run, seen)
            last_val = run.elapsed
        if run.elapsed - last_ckpt >= args.ckpt_minutes * 60:
            run.save(last)
            last_ckpt = run.elapsed
    record_validation(run, seen)
    run.save(last)
    log(args.run, f"done: {run.step} steps in {run.elapsed / 60:.1f} min; export with --export <dir>")


def main():
    args = parse_args()
    args.run, args.cache = os.path.abspath(args.run), os.path.abspath(args.cache)
    if args.export:
        return export.export(os.path.join(args.run, "last.pt"), args.export, args.cache)
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
