#!/usr/bin/env python3
"""Times the PyTorch twin (twin.py) on the engine's benchmark clips: the peer of `wfvae bench --peer torch`
and of the GPU kit (tools/gpu/kit.py).

usage: peer.py --request <file.json | ->        one JSON result on stdout, progress on stderr

request: {"weights": <.safetensors>, "config": <config.json>, "device": "cpu" | "cuda", "threads": n,
          "runs": n, "golden": <folder of reference cases> | null, "golden_cases": [names] | null, "seed": n,
          "clips": [{"frames": T, "height": H, "width": W, "precision": "fp32" | "tf32" | "bf16"}]}

The twin first passes the golden check (golden_check.py, on the CPU) when "golden" is given. Each clip then
runs once as a warm-up (cuDNN autotuning included) and `runs` times timed; the figures are medians. Peak
memory: on CUDA torch.cuda.max_memory_allocated (weights, input and activations); on the CPU the weights
and input plus the growth of the resident set during one encode and one decode, in a child process whose malloc
hands large blocks back to the system (see cpu_peaks).
Exit 0 ok; 1 the golden check or a clip failed; 2 bad request; 3 PyTorch or numpy cannot be imported.
"""
import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PRECISIONS = ("fp32", "tf32", "bf16")


def log(message):
    print(f"peer: {message}", file=sys.stderr, flush=True)


def fail(code, message):
    print(json.dumps({"ok": False, "error": message}))
    return code


def read_request(path):
    text = sys.stdin.read() if path == "-" else open(path).read()
    r = json.loads(text)
    for key in ("weights", "config", "clips"):
        if key not in r:
            raise ValueError(f"request has no '{key}'")
    if r.get("device", "cpu") not in ("cpu", "cuda"):
        raise ValueError(f"device '{r['device']}' is not cpu or cuda")
    for c in r["clips"]:
        c.setdefault("precision", "fp32")
        if c["precision"] not in PRECISIONS:
            raise ValueError(f"precision '{c['precision']}' is not one of {', '.join(PRECISIONS)}")
        if c["precision"] == "tf32" and r.get("device", "cpu") == "cpu":
            raise ValueError("tf32 is a CUDA setting; use fp32 on the CPU")
        if min(int(c[k]) for k in ("frames", "height", "width")) < 1:
            raise ValueError(f"clip {c} has a size below 1")
    return r


def golden_check(folder, subset=None):
    """The reference cases (all, or the named ones) through the twin on the CPU; raises on the first case outside
    the fp32 bounds."""
    import golden_check as g
    cases = sorted(d for d in os.listdir(folder) if os.path.isfile(os.path.join(folder, d, "io.safetensors"))
                   and (subset is None or d in subset))
    if not cases:
        raise ValueError(f"no reference cases under {folder}")
    start, worst = time.perf_counter(), {"mean": 0.0, "logvar": 0.0, "decoded": 0.0}
    for case in cases:
        ok, errors = g.check_case(os.path.join(folder, case))
        worst = {k: max(worst[k], errors[k]) for k in worst}
        if not ok:
            raise AssertionError(f"the twin failed its golden check on case '{case}' "
                                 + ", ".join(f"{k} {v:.2e}" for k, v in errors.items())
                                 + f" (bounds {g.LATENT_BOUND:g} latents, {g.DECODED_BOUND:g} decoded)")
    log(f"golden check: {len(cases)}/{len(cases)} cases within the fp32 bounds")
    return {"cases": len(cases), "passed": len(cases), "seconds": time.perf_counter() - start, "worst": worst}


def set_tf32(torch, on):
    """TF32 for cuDNN convolutions and cuBLAS products (the paper's "float32" setting on NVIDIA GPUs)."""
    if hasattr(torch.backends, "fp32_precision"):  # torch >= 2.9 deprecates allow_tf32
        mode = "tf32" if on else "ieee"
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
    else:
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def rss_growth(run):
    """Bytes the resident set grew by during run(): VmHWM, reset through /proc/self/clear_refs, minus VmRSS before."""
    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS")
    run()
    return max(0, status("VmHWM") - base)


def cpu_peaks(request, clip):
    """Peak bytes of one encode and one decode on the CPU, measured in a child process whose malloc returns every
    block over 64 KiB to the system when it is freed (MALLOC_MMAP_THRESHOLD_), so the resident set follows the live
    tensors; the timed runs keep the default allocator. Weights and inputs are counted on top of the growth."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    probe = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-probe", json.dumps(dict(request, clips=[clip]))],
                           env=env, capture_output=True, text=True)
    if probe.returncode != 0:  # no /proc (not Linux), a sandbox without clear_refs: times still count
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit code {probe.returncode}"
        log(f"memory probe failed, no CPU peak memory: {reason}")
        return {"encode_peak_bytes": None, "decode_peak_bytes": None, "peak_error": reason}
    return json.loads(probe.stdout)


def memory_probe(request):
    import torch
    if request.get("threads"):
        torch.set_num_threads(int(request["threads"]))
    clip = request["clips"][0]
    dtype = torch.bfloat16 if clip["precision"] == "bf16" else torch.float32
    model = load_twin(request).to(dtype=dtype)
    video = random_clip(torch, clip, int(request.get("seed", 1234))).to(dtype=dtype)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    out = {}
    with torch.no_grad():
        out["encode_peak_bytes"] = weights + video.numel() * video.element_size() + rss_growth(lambda: out.update(mean=model.encode(video)[0]))
        mean = out.pop("mean")
        out["decode_peak_bytes"] = weights + mean.numel() * mean.element_size() + rss_growth(lambda: model.decode(mean))
    print(json.dumps(out))
    return 0


def random_clip(torch, clip, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, clip["frames"], clip["height"], clip["width"]), generator=g) * 2 - 1


def time_clip(torch, model, device, clip, runs, seed):
    """Warm-up, then `runs` timed encodes and decodes of one random clip; medians, and on CUDA the peaks."""
    dtype = torch.bfloat16 if clip["precision"] == "bf16" else torch.float32
    if device == "cuda":
        set_tf32(torch, clip["precision"] == "tf32")
    video = random_clip(torch, clip, seed).to(device=device, dtype=dtype)
    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def timed(step):
        """One synchronised run of step(): seconds, and on CUDA its peak allocation."""
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        step()
        sync()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() if cuda else 0

    enc, dec, enc_peak, dec_peak = [], [], 0, 0
    with torch.no_grad():
        mean, _ = model.encode(video)
        model.decode(mean)
        sync()
        for _ in range(runs):
            seconds, peak = timed(lambda: model.encode(video))
            enc.append(seconds)
            enc_peak = max(enc_peak, peak)
            seconds, peak = timed(lambda: model.decode(mean))
            dec.append(seconds)
            dec_peak = max(dec_peak, peak)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return dict(clip, encode_s=statistics.median(enc), decode_s=statistics.median(dec), encode_runs_s=enc,
                decode_runs_s=dec, encode_peak_bytes=enc_peak, decode_peak_bytes=dec_peak,
                peak_kind="torch.cuda.max_memory_allocated" if cuda else "", weight_bytes=weight_bytes)


def load_twin(request):
    import safetensors_io
    import twin
    with open(request["config"]) as f:
        model = twin.WFVAE(json.load(f))
    tensors, _ = safetensors_io.read(request["weights"])
    model.load_state(tensors)
    return model.eval()


def run_clips(torch, request, master):
    """Clips grouped by dtype so that only one copy of the weights is on the device while a clip is measured."""
    device, runs, results, failed = request.get("device", "cpu"), int(request.get("runs", 3)), [], False
    for dtype_name in ("fp32", "bf16"):
        clips = [c for c in request["clips"] if (c["precision"] == "bf16") == (dtype_name == "bf16")]
        if not clips:
            continue
        model = master if device == "cpu" and dtype_name == "fp32" else \
            copy.deepcopy(master).to(device=device, dtype=torch.bfloat16 if dtype_name == "bf16" else torch.float32)
        for clip in clips:
            label = f"{clip['frames']}x{clip['height']}x{clip['width']} {clip['precision']}"
            try:
                r = time_clip(torch, model, device, clip, runs, int(request.get("seed", 1234)))
                if device == "cpu":
                    r.update(cpu_peaks(request, clip), peak_kind="weights and input + resident-set growth (malloc probe)")
                log(f"{label}: encode {r['encode_s']:.3f} s, decode {r['decode_s']:.3f} s")
            except (RuntimeError, MemoryError, OSError) as e:  # out of memory, an unsupported kernel: report, go on
                failed = True
                r = dict(clip, error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                log(f"{label}: {r['error']}")
            results.append(r)
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    return results, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--request", help="request JSON file, or - for stdin")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)  # the child of cpu_peaks: one clip's request
    args = parser.parse_args()
    if args.memory_probe:
        sys.path.insert(0, HERE)
        return memory_probe(json.loads(args.memory_probe))
    if not args.request:
        return fail(2, "give --request <file.json | ->")
    try:
        request = read_request(args.request)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return fail(2, f"bad request: {e}")
    sys.path.insert(0, HERE)
    try:
        import numpy  # noqa: F401
        import torch
    except ImportError as e:
        return fail(3, f"{sys.executable} cannot import PyTorch ({e}); install python3-torch (Debian) or "
                       "torch, or point WFVAE_PYTHON at a python that has it")
    if request.get("threads"):
        torch.set_num_threads(int(request["threads"]))
    device = request.get("device", "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        return fail(1, f"torch {torch.__version__} sees no CUDA device")
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    result = {"ok": True, "torch": torch.__version__, "python": sys.executable, "weights": request["weights"], "device": device,
              "device_name": torch.cuda.get_device_name() if device == "cuda" else "cpu",
              "threads": torch.get_num_threads(), "cudnn_benchmark": device == "cuda"}
    try:
        if request.get("golden"):
            result["golden"] = golden_check(request["golden"], request.get("golden_cases"))
        master = load_twin(request)
    except AssertionError as e:
        return fail(1, str(e))
    except (OSError, ValueError, KeyError) as e:
        return fail(1, f"cannot load the twin: {e}")
    result["clips"], failed = run_clips(torch, request, master)
    result["ok"] = not failed
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
