"""The kit's summary: the engine-vs-twin comparison, summary.md and the closing lines on the console."""
import plan as plans

MIB = 1048576.0


def step(summary_steps, name):
    return next((s for s in summary_steps if s["name"] == name), {})


def fmt(v, spec=".3f", none="—"):
    return none if v is None else format(v, spec)


def mib(b):
    return "—" if not b else f"{b / MIB:.0f}"


def comparison(kit):
    """Per clip: the engine's fastest configuration against the twin's reference precision (TF32 on CUDA, fp32 on
    the CPU), speed as twin time / engine time, memory as engine peak / twin peak."""
    bench, peer = step(kit.steps, "bench").get("runs", []), step(kit.steps, "peer").get("clips", [])
    reference = "tf32" if kit.plan["peer_device"] == "cuda" else "fp32"
    rows = []
    for clip in dict.fromkeys(r["clip"] for r in bench):
        engine = [r for r in bench if r["clip"] == clip and "encode_s" in r]
        twin = next((c for c in peer if f"{c['frames']}x{c['height']}x{c['width']}" == clip
                     and c["precision"] == reference and "encode_s" in c), None)
        if not engine or twin is None:
            continue
        best = min(engine, key=lambda r: r["encode_s"] + r["decode_s"])
        twin_total = twin["encode_s"] + twin["decode_s"]
        twin_peak = max(twin.get("encode_peak_bytes") or 0, twin.get("decode_peak_bytes") or 0)
        row = {"clip": clip, "engine_mode": best["mode"], "engine_encode_s": best["encode_s"], "engine_decode_s": best["decode_s"],
               "engine_peak_bytes": best["peak_device_bytes"], "twin_precision": reference, "twin_encode_s": twin["encode_s"],
               "twin_decode_s": twin["decode_s"], "twin_peak_bytes": twin_peak,
               "speedup": twin_total / (best["encode_s"] + best["decode_s"]),
               "speedup_by_mode": {r["mode"]: twin_total / (r["encode_s"] + r["decode_s"]) for r in engine},
               "memory_fraction": best["peak_device_bytes"] / twin_peak if twin_peak else None}
        if kit.plan["targets"]:
            row["speedup_target_met"] = row["speedup"] >= plans.TARGET_SPEEDUP
            row["memory_target_met"] = row["memory_fraction"] is not None and row["memory_fraction"] <= plans.TARGET_MEMORY_FRACTION
        rows.append(row)
    return rows


def markdown(summary):
    s = summary["steps"]
    dev = step(s, "devices")
    lines = [f"# WfVae.Vulkan GPU kit: {summary['kit_mode']}", "",
             f"- started {summary['started_utc']}, {summary.get('elapsed_s', 0):.0f} s of a {summary['budget_s']:.0f} s budget; "
             f"commit {summary.get('repo_commit') or 'unknown'}; host {summary['host']}",
             f"- device: {dev.get('selected', 'not found')}",
             f"- cooperative matrix: {dev.get('cooperative_matrix', '—')}",
             f"- memory: {dev.get('memory') or '—'}"]
    for row in dev.get("nvidia_smi", {}).get("rows", []):
        lines.append(f"- nvidia-smi ({dev['nvidia_smi']['query']}): {row}")
    lines.append(f"- Vulkan loader: {step(s, 'setup').get('loader', '—')}")
    lines += ["", "| step | status | seconds | note |", "|---|---|---:|---|"]
    lines += [f"| {x['name']} | {x['status']} | {x['seconds']:.1f} | {x.get('reason', '')} |" for x in s]
    for section in (verify_md, identity_md, bench_md, peer_md, comparison_md, stream_md):
        lines += section(summary)
    return "\n".join(lines) + "\n"


def verify_md(summary):
    v = step(summary["steps"], "verify")
    if not v.get("runs"):
        return []
    out = ["", "## verify: golden cases (rel_err = max|a − e| / rms(e); fp32 bounds 1e-4 / 3e-4, fp16 1e-2 / 4e-2)", "",
           "| case | mode | mean | logvar | decoded | result |", "|---|---|---:|---:|---:|---|"]
    out += [f"| {r['case']} | {r['mode']} | {fmt(r.get('mean'), '.2e')} | {fmt(r.get('logvar'), '.2e')} | {fmt(r.get('decoded'), '.2e')} | "
            f"{'ok' if r['ok'] else 'FAIL ' + r.get('error', '')} |" for r in v["runs"]]
    out += ["", f"Cooperative-matrix self-check: {v.get('cooperative_matrix_self_check', 'not run (no fp16 run on a cooperative-matrix path)')}"]
    out += [f"Not run: {n}" for n in v.get("not_run", [])]
    return out


def identity_md(summary):
    i = step(summary["steps"], "identity")
    if not i.get("runs"):
        return []
    out = ["", f"## identity: streamed vs whole clip ({i['clip']}, encode 4 frames per push, decode 1 latent per push)", "",
           "| mode | encode bit-identical | decode bit-identical | cooperative vs scalar fp16 (mean / decoded rel_err) |", "|---|---|---|---|"]
    for r in i["runs"]:
        c = r.get("cooperative_vs_scalar")
        coop = f"{c['mean_rel_err']:.2e} / {c['decoded_rel_err']:.2e} ({'within' if c['within_fp16_bounds'] else 'OUTSIDE'} the fp16 bounds)" if c else "—"
        out.append(f"| {r['mode']} | {'yes' if r['encode_identical'] else 'NO'} | {'yes' if r['decode_identical'] else 'NO'} | {coop} |")
    return out


def bench_md(summary):
    b = step(summary["steps"], "bench")
    rows = b.get("runs", [])
    if not rows:
        return []
    out = ["", "## bench: whole-clip encode and decode (median after a warm-up; peak device memory includes the weights)", "",
           "| clip | mode | encode s | decode s | encode frames/s | decode frames/s | encode GFLOP/s | decode GFLOP/s | peak MiB encode / decode |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "encode_s" not in r:
            out.append(f"| {r['clip']} | {r['mode']} | {r.get('error', 'not run')} | | | | | | |")
            continue
        out.append(f"| {r['clip']} | {r['mode']} | {r['encode_s']:.3f} | {r['decode_s']:.3f} | {r['encode_frames_per_s']:.1f} | "
                   f"{r['decode_frames_per_s']:.1f} | {r['encode_gflop_per_s']:.0f} | {r['decode_gflop_per_s']:.0f} | "
                   f"{mib(r.get('encode_peak_device_bytes'))} / {mib(r.get('decode_peak_device_bytes'))} |")
    out += [f"Not run: {n}" for n in b.get("not_run", [])]
    done = [r for r in rows if "encode_s" in r]
    if done:
        big = max(done, key=lambda r: (r["frames"] * r["height"] * r["width"], -(r["encode_s"] + r["decode_s"])))
        out += ["", f"Slowest layers, {big['clip']} {big['mode']} (GPU timestamps of the profiled warm-up; "
                f"measured FMA peak {big.get('device_peak_gflop_per_s', 0):.0f} GFLOP/s):", "",
                "| part | layer | GPU ms | GFLOP/s | % of peak |", "|---|---|---:|---:|---:|"]
        for part in ("encoder", "decoder"):
            out += [f"| {part} | {l['name']} | {l['gpu_ms']:.2f} | {l['gflop_per_s']:.0f} | {l['percent_of_peak']:.1f} |"
                    for l in big.get(f"{part}_layers", [])[:8]]
    return out


def peer_md(summary):
    p = step(summary["steps"], "peer")
    if not p.get("clips"):
        return []
    g = p.get("golden", {})
    out = ["", f"## peer: the PyTorch twin (torch {p.get('torch')}, {p.get('device_name')}, {p.get('threads')} threads, "
           f"cuDNN benchmark {'on' if p.get('cudnn_benchmark') else 'off'}); golden check {g.get('passed', 0)}/{g.get('cases', 0)} cases", "",
           "| clip | precision | encode s | decode s | peak MiB encode / decode |", "|---|---|---:|---:|---:|"]
    for c in p["clips"]:
        clip = f"{c['frames']}x{c['height']}x{c['width']}"
        if "encode_s" not in c:
            out.append(f"| {clip} | {c['precision']} | {c.get('error', 'not run')} | | |")
            continue
        out.append(f"| {clip} | {c['precision']} | {c['encode_s']:.3f} | {c['decode_s']:.3f} | "
                   f"{mib(c.get('encode_peak_bytes'))} / {mib(c.get('decode_peak_bytes'))} |")
    kinds = {c.get("peak_kind") for c in p["clips"] if c.get("peak_kind")}
    out += ["", f"Twin memory: {', '.join(sorted(kinds)) or '—'}."]
    return out


def comparison_md(summary):
    rows = summary.get("comparison", [])
    if not rows:
        return []
    out = ["", "## engine vs twin (speed = twin time / engine time for encode + decode; memory = engine peak / twin peak)", "",
           "| clip | engine (fastest mode) | twin | speed | memory | targets (≥ 1.5x, ≤ 0.25) |", "|---|---|---|---:|---:|---|"]
    for r in rows:
        targets = "—" if "speedup_target_met" not in r else \
            f"speed {'met' if r['speedup_target_met'] else 'missed'}, memory {'met' if r['memory_target_met'] else 'missed'}"
        out.append(f"| {r['clip']} | {r['engine_mode']}: {r['engine_encode_s']:.3f} + {r['engine_decode_s']:.3f} s, {mib(r['engine_peak_bytes'])} MiB | "
                   f"{r['twin_precision']}: {r['twin_encode_s']:.3f} + {r['twin_decode_s']:.3f} s, {mib(r['twin_peak_bytes'])} MiB | "
                   f"{r['speedup']:.2f}x | {fmt(r['memory_fraction'], '.2f')} | {targets} |")
    paper = [f"{h}x{w}: encode {p['encode_s']} s, decode {p['decode_s']} s, {p['encode_gib']} / {p['decode_gib']} GiB"
             for (h, w), p in plans.PAPER_H100.items()]
    out += ["", "For context, the paper's H100 \"float32\" figures for WF-VAE-L at 33 frames: " + "; ".join(paper) + "."]
    return out


def stream_md(summary):
    st = step(summary["steps"], "stream")
    if "frames_out" not in st:
        return []
    return ["", f"## stream: decode of {st['latents']} latents at {st['size']}, one latent per push ({st['mode']})", "",
            f"- steady state ({st['steady_chunks']} pushes): {fmt(st['frames_per_s_steady'], '.1f')} frames/s, "
            f"latency per push median {fmt(st['chunk_latency_ms_median'], '.1f')} ms, p90 {fmt(st['chunk_latency_ms_p90'], '.1f')} ms "
            f"(target on an H100: ≥ {plans.TARGET_STREAM_FPS:.0f} frames/s)",
            f"- whole stream: {st['frames_out']} frames in {st['elapsed_ms'] / 1000:.2f} s ({fmt(st['frames_per_s_overall'], '.1f')} frames/s), "
            f"first push {fmt(st['first_chunk_latency_ms'], '.0f')} ms, peak device memory {mib(st.get('peak_device_bytes'))} MiB"]


def console(kit):
    lines = ["", "GPU kit summary (" + kit.args.mode + "):"]
    lines += [f"  {s['name']:9s} {s['status']:8s} {s['seconds']:7.1f} s  {s.get('reason', '')}" for s in kit.steps]
    for r in comparison(kit):
        lines.append(f"  {r['clip']}: engine {r['engine_mode']} {r['speedup']:.2f}x the twin's speed ({r['twin_precision']}), "
                     f"memory {fmt(r['memory_fraction'], '.2f')} of the twin's")
    st = step(kit.steps, "stream")
    if "frames_per_s_steady" in st:
        lines.append(f"  stream {st['size']}: {fmt(st['frames_per_s_steady'], '.1f')} frames/s at steady state")
    lines.append(f"  results: {kit.out}/summary.json, summary.md, kit.log")
    return "\n".join(lines)
