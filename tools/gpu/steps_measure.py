"""The measuring steps: streamed-vs-whole identity, the engine bench, the PyTorch peer and the streaming decode."""
import json
import os
import statistics
import subprocess
import sys

from common import DECODED_BOUND_FP16, LATENT_BOUND_FP16, StepFailed, last_error, modes_for, not_run, train_module, wfvae

TOP_LAYERS = 15


def weights_file(kit):
    return os.path.join(kit.model, "diffusion_pytorch_model.safetensors")


# ---------------------------------------------------------------- identity


def rel_err(actual, expected):
    """The golden README metric: max |a - e| / rms(e)."""
    import numpy as np
    e = expected.astype(np.float64)
    return float(np.max(np.abs(actual.astype(np.float64) - e)) / np.sqrt(np.mean(e ** 2)))


def identical(a, b):
    """Bit for bit (NaN payloads and signed zeros included)."""
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def identity(kit, rec):
    """Encode whole clip vs 4 frames per push, decode whole clip vs 1 latent per push: the same bits. On a device
    with cooperative matrices, their fp16 output is also compared with the scalar fp16 kernel's."""
    import numpy as np
    st = train_module("safetensors_io")
    frames, height, width = kit.plan["identity_clip"]
    video = os.path.join(kit.work, "identity-video.safetensors")
    rng = np.random.default_rng(7)
    st.write(video, {"video": rng.uniform(-1, 1, (1, 3, frames, height, width)).astype(np.float32)})
    rec["clip"] = f"{frames}x{height}x{width}"
    rec["runs"], failures = [], []
    for label, precision, coop in modes_for(kit, kit.plan["identity_modes"]):
        out = {}
        for name, chunk in (("whole", 0), ("streamed", 4)):
            out["enc_" + name] = os.path.join(kit.work, f"identity-{label}-enc-{name}.safetensors")
            kit.run(wfvae(kit, "encode", "--model", kit.model, "--input", video, "--output", out["enc_" + name],
                          "--chunk", chunk, "--precision", precision, "--quiet"), f"encode {label} chunk {chunk}", env={"WFVAE_COOPMAT": coop})
        for name, chunk in (("whole", 0), ("streamed", 1)):
            out["dec_" + name] = os.path.join(kit.work, f"identity-{label}-dec-{name}.safetensors")
            kit.run(wfvae(kit, "decode", "--model", kit.model, "--input", out["enc_whole"], "--output", out["dec_" + name],
                          "--chunk", chunk, "--precision", precision, "--quiet"), f"decode {label} chunk {chunk}", env={"WFVAE_COOPMAT": coop})
        enc_w, enc_s = st.read(out["enc_whole"])[0], st.read(out["enc_streamed"])[0]
        dec_w, dec_s = st.read(out["dec_whole"])[0]["decoded"], st.read(out["dec_streamed"])[0]["decoded"]
        run = {"mode": label, "encode_identical": identical(enc_w["mean"], enc_s["mean"]) and identical(enc_w["logvar"], enc_s["logvar"]),
               "decode_identical": identical(dec_w, dec_s)}
        if coop == "auto":
            run["cooperative_vs_scalar"] = coop_vs_scalar(kit, video, precision, enc_w["mean"], dec_w, st)
        rec["runs"].append(run)
        if not (run["encode_identical"] and run["decode_identical"]):
            failures.append(f"{label}: streamed output differs from the whole clip")
        if not run.get("cooperative_vs_scalar", {}).get("within_fp16_bounds", True):
            failures.append(f"{label}: cooperative-matrix output is outside the fp16 bounds of the scalar kernel's")
    if failures:
        raise StepFailed("; ".join(failures))


def coop_vs_scalar(kit, video, precision, mean, decoded, st):
    enc = os.path.join(kit.work, "identity-scalar-enc.safetensors")
    dec = os.path.join(kit.work, "identity-scalar-dec.safetensors")
    off = {"WFVAE_COOPMAT": "off"}
    kit.run(wfvae(kit, "encode", "--model", kit.model, "--input", video, "--output", enc, "--chunk", 0, "--precision", precision, "--quiet"), "encode scalar fp16", env=off)
    kit.run(wfvae(kit, "decode", "--model", kit.model, "--input", enc, "--output", dec, "--chunk", 0, "--precision", precision, "--quiet"), "decode scalar fp16", env=off)
    m, d = rel_err(mean, st.read(enc)[0]["mean"]), rel_err(decoded, st.read(dec)[0]["decoded"])
    return {"mean_rel_err": m, "decoded_rel_err": d, "within_fp16_bounds": m <= LATENT_BOUND_FP16 and d <= DECODED_BOUND_FP16}


# ---------------------------------------------------------------- bench


def bench(kit, rec):
    rec["runs"], failures = [], []
    rec["not_run"] = sorted({n for _, _, modes in kit.plan["bench"] for n in not_run(kit, modes)})
    for (frames, height, width), runs, modes in kit.plan["bench"]:
        for label, precision, coop in modes_for(kit, modes):
            row = {"clip": f"{frames}x{height}x{width}", "frames": frames, "height": height, "width": width, "mode": label}
            rec["runs"].append(row)
            path = os.path.join(kit.work, f"bench-{row['clip']}-{label}.json")
            code, out, err = kit.run(wfvae(kit, "bench", "--model", kit.model, "--frames", frames, "--height", height, "--width", width,
                                           "--runs", runs, "--precision", precision, "--json", path),
                                     f"bench {row['clip']} {label}", env={"WFVAE_COOPMAT": coop}, check=False)
            if code != 0:
                row["error"] = last_error(err, out)
                failures.append(f"{row['clip']} {label}: {row['error']}")
                continue
            with open(path) as f:
                row.update(bench_figures(json.load(f)))
    if failures:
        raise StepFailed("; ".join(failures))


def bench_figures(b):
    keep = ["device", "precision", "cooperative_matrix", "runs", "encode_s", "decode_s", "encode_runs_s", "decode_runs_s",
            "encode_frames_per_s", "decode_frames_per_s", "encode_gflop", "decode_gflop", "encode_gflop_per_s",
            "decode_gflop_per_s", "peak_device_bytes", "encode_peak_device_bytes", "decode_peak_device_bytes", "weight_bytes",
            "device_peak_gflop_per_s"]
    row = {k: b[k] for k in keep if k in b}
    row["encoder_layers"] = b.get("encoder_layers", [])[:TOP_LAYERS]
    row["decoder_layers"] = b.get("decoder_layers", [])[:TOP_LAYERS]
    return row


# ---------------------------------------------------------------- peer


def peer(kit, rec):
    plan = kit.plan
    sizes = [size for size, _, _ in plan["bench"]]
    clips = [{"frames": t, "height": h, "width": w, "precision": p} for (t, h, w) in sizes for p in plan["peer_precisions"]]
    request = {"weights": weights_file(kit), "config": os.path.join(kit.model, "config.json"), "device": plan["peer_device"],
               # The engine's thread count: llvmpipe runs one thread per core unless LP_NUM_THREADS says otherwise.
               "threads": int(os.environ.get("LP_NUM_THREADS") or os.cpu_count()), "runs": plan["peer_runs"],
               "golden": os.path.join(kit.repo, "tests", "fixtures", "golden"), "golden_cases": plan["golden_cases"], "clips": clips}
    path = os.path.join(kit.work, "peer-request.json")
    with open(path, "w") as f:
        json.dump(request, f)
    python = os.environ.get("WFVAE_PYTHON") or sys.executable
    # PyTorch gets the caller's environment, not the engine's loader paths.
    code, out, err = kit.run([python, os.path.join(kit.repo, "tools", "train", "peer.py"), "--request", path], "peer.py",
                             check=False, base_env=dict(os.environ, PYTHONUNBUFFERED="1"))
    answer = next((json.loads(line) for line in reversed(out.splitlines()) if line.startswith("{")), None)
    if answer is None:
        raise StepFailed(f"peer.py exited with code {code} without a result: {last_error(err, out)}")
    rec.update({k: v for k, v in answer.items() if k != "ok"})
    if not answer.get("ok"):
        errors = [answer["error"]] if "error" in answer else \
            [f"{c['frames']}x{c['height']}x{c['width']} {c['precision']}: {c['error']}" for c in answer.get("clips", []) if "error" in c]
        raise StepFailed("; ".join(errors) or f"peer.py exited with code {code}")


# ---------------------------------------------------------------- stream


def stream(kit, rec):
    """A long latent stream decoded one latent per push: frames/s and per-chunk latency at steady state."""
    import numpy as np
    st = train_module("safetensors_io")
    s = kit.plan["stream"]
    label, precision, coop = modes_for(kit, [s["mode"]])[0]
    channels = int(kit.config.get("latent_dim", 8))
    latents = os.path.join(kit.work, "stream-latents.safetensors")
    rng = np.random.default_rng(11)
    st.write(latents, {"mean": rng.standard_normal((1, channels, s["latents"], s["height"] // 8, s["width"] // 8)).astype(np.float32)})
    stats_path = os.path.join(kit.work, "stream-stats.json")
    rec.update(mode=label, size=f"{s['width']}x{s['height']}", latents=s["latents"])
    # Frames go to stdout as raw float32 and are thrown away: the figure is the engine's, not a disk's.
    kit.run(wfvae(kit, "decode", "--model", kit.model, "--input", latents, "--raw", "f32", "--output", "-", "--chunk", 1,
                  "--precision", precision, "--stats", stats_path, "--quiet"), "streaming decode",
            env={"WFVAE_COOPMAT": coop}, stdout=subprocess.DEVNULL)
    with open(stats_path) as f:
        stats = json.load(f)
    rec.update(stream_figures(stats))


def stream_figures(stats):
    chunks = stats["chunks"]
    # The first two pushes fill the causal caches (and build pipelines); the last is the flush.
    steady = chunks[2:-1] if len(chunks) > 4 else chunks
    latencies = sorted(c["latency_ms"] for c in steady)
    frames = sum(c["frames_out"] for c in steady)
    return {
        "frames_out": stats["frames_out"], "elapsed_ms": stats["elapsed_ms"],
        "frames_per_s_overall": 1000.0 * stats["frames_out"] / stats["elapsed_ms"] if stats["elapsed_ms"] else None,
        "steady_chunks": len(steady),
        "frames_per_s_steady": 1000.0 * frames / sum(latencies) if sum(latencies) else None,
        "chunk_latency_ms_median": statistics.median(latencies) if latencies else None,
        "chunk_latency_ms_p90": latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))] if latencies else None,
        "first_chunk_latency_ms": chunks[0]["latency_ms"] if chunks else None,
        "chunk_latency_ms": [c["latency_ms"] for c in chunks],
        "peak_device_bytes": stats.get("peak_device_bytes"),
    }
