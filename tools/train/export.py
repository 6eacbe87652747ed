"""Writes a training checkpoint's EMA weights as config.json + diffusion_pytorch_model.safetensors + MODEL_CARD.md."""
import json
import os
import re
import sys

import numpy as np
import torch

import data
import safetensors_io
import twin


def read_model(model_dir):
    """(tensors, config) of an exported model folder."""
    try:
        with open(os.path.join(model_dir, "config.json")) as f:
            config = json.load(f)
        tensors, _ = safetensors_io.read(os.path.join(model_dir, "diffusion_pytorch_model.safetensors"))
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read the model in {model_dir}: {e}")
    return tensors, config


def prior_training(model_dir):
    """The training behind an exported model (steps, hours, schedule, curve), read back from the card this file
    wrote; a folder without one (weights from `wfvae convert` or `generate`) has none recorded ("card": False)."""
    try:
        with open(os.path.join(model_dir, "MODEL_CARD.md")) as f:
            card = f.read()
    except OSError:
        card = ""
    # Both card forms start so: "- 5,059 steps in 6.52 h of wall time on ..." and "- ... of wall time in all: ...".
    total = re.search(r"^- ([\d,]+) steps in ([\d.]+) h of wall time", card, re.M)
    lr = re.search(r"AdamW \(lr ([\d.e-]+), cosine over the (\d+)-minute", card)
    # A fine-tuned model's card tells its stages ("in all: A, then B"); the schedule line names only the last one's.
    chain = re.search(r"^- [\d,]+ steps in [\d.]+ h of wall time in all: (.*?); the curve's last", card, re.M)
    curve = [{"step": int(a), "minutes": float(b), "psnr": float(c), "ssim": float(d)}
             for a, b, c, d in re.findall(r"^ {4}[ ]*(\d+)[ ]+([\d.]+)[ ]+([\d.]+)[ ]+([\d.]+)$", card, re.M)]
    return {"model": model_dir, "card": total is not None,
            "kl_history": "the first ~1,700 steps weighed it per pixel mean" in card,
            "stages": chain.group(1) if chain else None,
            "steps": int(total.group(1).replace(",", "")) if total else 0,
            "hours": float(total.group(2)) if total else 0.0, "curve": curve if total else [],
            "schedule": f"lr {lr.group(1)}, cosine over {lr.group(2)} minutes" if lr else "no schedule recorded"}


def _history(state):
    """(total steps, the training lines, the whole curve, the schedule sentence), earlier training (--init) included."""
    args, prior = state["args"], state.get("prior")
    schedule = (f"AdamW (lr {args['lr']}, cosine over the {args['minutes']:.0f}-minute budget of the run; a run resumed"
                f" with a longer budget picks the longer cosine up where it stands, a warm restart), EMA {args['ema']}")
    own = (f"{state['step']:,} steps in {state['elapsed'] / 3600:.2f} h of wall time on the CPU"
           f" ({args['threads']} threads, torch {torch.__version__}, float32), seed {args['seed']}")
    if not prior:
        return state["step"], [f"- {own}."], state["curve"], schedule
    steps, minutes = prior["steps"], prior["hours"] * 60
    curve = prior["curve"] + [dict(c, step=c["step"] + steps, minutes=c["minutes"] + minutes) for c in state["curve"]]
    before = (prior["stages"] if prior.get("stages")
              else f"{steps:,} steps in {prior['hours']:.2f} h ({prior['schedule']})" if prior["card"]
              else "weights with no recorded training (their folder has no model card)")
    lines = [f"- {steps + state['step']:,} steps in {prior['hours'] + state['elapsed'] / 3600:.2f} h of wall time in all:"
             f" {before}, then (`train.py --init {prior['model']}`) {own}, starting from those weights with a fresh"
             f" optimizer; the curve's last {len(state['curve'])} rows are that fine-tuning."]
    return steps + state["step"], lines, curve, schedule


def _validation_clips():
    """One line per validation clip, saying how far training stayed from it."""
    lines = []
    for clip, (src, first_frame) in data.VALIDATION.items():
        held = ("from a video training never read" if data.SOURCES[src][1] == "val"
                else "held-out frames of a video whose other frames trained the model")
        lines.append(f"- `{clip}`: {src} frames {first_frame}-{first_frame + data.VAL_FRAMES - 1}, {held}")
    return lines


def _card(state, config, params, curve_final, cache):
    steps, trained, curve, schedule = _history(state)
    first = curve[0]
    # A checkpoint saved after the last validation (a run killed between the two) holds later weights than the figures.
    stale = (f" (validated at step {curve_final['step']:,} of this run; the weights are from step {state['step']:,})"
             if curve_final["step"] != state["step"] else "")
    # Only the lineage of the first shipped model had that early weighting; checkpoints from before train.py recorded
    # it (no key) are all of that lineage.
    kl_history = ("; the first ~1,700 steps weighed it per pixel mean, 2.5e5x stronger, which kept the posterior noisy"
                  if state.get("kl_history", True) else "")
    lines = [
        "# WfVae.Vulkan default model",
        "",
        f"Status: trained ({steps:,} steps on real footage; validation {curve_final['psnr']:.2f} dB PSNR at 128x128{stale})",
        "",
        f"A small WF-VAE trained by this project on real footage from Debian packages, with `tools/train/train.py`"
        f" (the PyTorch twin of the engine's model). Same architecture and key layout as the published"
        f" WF-VAE-L-16Chn, at a smaller width: base_channels {config['base_channels']}, latent_dim"
        f" {config['latent_dim']}, energy-flow width {config['encoder_energy_flow_hidden_size']}/"
        f"{config['decoder_energy_flow_hidden_size']}, {config['encoder_num_resblocks']}/"
        f"{config['decoder_num_resblocks']} resblocks, LayerNorm, trilinear, attention on. {params:,} values in its weights file"
        f" (the learned weights and the fixed wavelet filters)."
        f" Compression 8x8 in space and 4x in time: 17 frames of 128x128 RGB become 5 x 16 x 16 x {config['latent_dim']} values.",
        "",
        "## Training",
        "",
        *trained,
        f"- Clips of 9-17 frames, 64-128 px crops of frames scaled to a short side of 112-288 px, flips, temporal"
        f" strides 1-3, reversed playback, and still photographs as short pans/zooms (20 %).",
        f"- Loss: L1 + 0.2 (1 - SSIM) + 0.1 wavelet loss (decoder outflow vs encoder inflow sub-bands) + 1e-6 KL"
        f" (per sample and relative to its pixel count, as the official training weighs KL against a per-sample sum"
        f"{kl_history});"
        f" {schedule}, gradient clipping at 1.0."
        f" The exported weights are the EMA weights.",
        "- LPIPS (the paper's perceptual term) needs VGG weights that cannot be obtained on these machines;"
        " it was not used, so textures are smoother than in the published model.",
        "",
        "## Data",
        "",
        "Footage from Debian's archive (`tools/train/data.py fetch`): opencv-doc (examples/data videos and"
        " photographs, box.mp4), python3-mecavideo (data/video), openboard-common (wannaworktogether.mp4).",
        "",
        "| source | role | licence |",
        "|---|---|---|",
    ]
    for name, (path, role, limit, licence) in data.SOURCES.items():
        if name == "wanna":
            role = f"train (frames {data.WANNA_TRAIN[0][1]}-{data.WANNA_TRAIN[1][0]} held out)"
        elif limit:
            role = f"train frames {limit[0]}-{limit[1]}, rest held out"
        lines.append(f"| `{os.path.basename(path)}` | {role} | {licence} |")
    lines += ["", "Validation clips (17 frames each, never read by training; scaled to cover the size and centre-cropped;"
                  " vtest is one fixed camera, so its background, though not these frames, was seen):", ""]
    lines += _validation_clips()
    lines += ["", "## Quality (validation clips, 128x128, the twin in PyTorch, mean over clips)", "",
              f"- PSNR {curve_final['psnr']:.2f} dB, SSIM {curve_final['ssim']:.4f}{stale}"
              f" (at the first validation, step {first['step']}: {first['psnr']:.2f} dB).",
              "- The engine's own figures (fp32, fp16, streamed) are in docs/quality.md (`build.ps1 quality`).",
              "", "Curve (step, minutes, PSNR dB, SSIM):", ""]
    lines += [f"    {c['step']:6d} {c['minutes']:7.1f} {c['psnr']:6.2f} {c['ssim']:.4f}" for c in curve]
    return "\n".join(lines) + "\n"


def _write_text(path, text):
    """Whole or not at all: a temporary beside the file, renamed over it."""
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def export(checkpoint, out_dir, cache):
    if not os.path.isfile(checkpoint):
        print(f"error: no checkpoint at {checkpoint}", file=sys.stderr)
        return 2
    state = torch.load(checkpoint)
    config = state["config"]
    model = twin.WFVAE(config)
    model.load_state_dict(state["ema"])
    tensors = model.learned_state()
    bad = [k for k, v in tensors.items() if not np.isfinite(v).all()]
    if bad:
        print(f"error: non-finite weights in {checkpoint}: {', '.join(bad[:5])}; not exported", file=sys.stderr)
        return 1
    if not state["curve"]:
        print(f"error: {checkpoint} has no validation yet; train longer before exporting", file=sys.stderr)
        return 1
    params = sum(v.size for v in tensors.values())
    card = _card(state, config, params, state["curve"][-1], cache)
    os.makedirs(out_dir, exist_ok=True)
    safetensors_io.write(os.path.join(out_dir, "diffusion_pytorch_model.safetensors"), tensors, {"format": "pt"})
    _write_text(os.path.join(out_dir, "config.json"), json.dumps(config, indent=2) + "\n")
    _write_text(os.path.join(out_dir, "MODEL_CARD.md"), card)
    untrained = os.path.join(out_dir, "UNTRAINED.txt")
    if os.path.exists(untrained):
        os.unlink(untrained)
    print(f"exported step {state['step']} to {out_dir} ({params:,} values)")
    return 0
