"""The kit's steps. Each takes the kit (commands, plan, paths) and its step record, and writes its figures into
the record as they are measured, so that a step cut short by its time bound still reports what it had."""
import glob
import json
import os
import re
import shutil

import vulkan_env
from common import StepFailed, last_error, modes_for, not_run, wfvae
from steps_measure import bench, identity, peer, stream

RESULT = re.compile(r"^(mean|logvar|decoded)\s+rel_err\s+(\S+)\s+\(bound\s+(\S+)\)\s+(ok|FAIL)", re.M)
DEVICE_LINE = re.compile(r"^([* ]) \[(\d+)\] (.*) \((DiscreteGpu|IntegratedGpu|VirtualGpu|Cpu|Other), ")


# ---------------------------------------------------------------- setup, devices


def setup(kit, rec):
    args = kit.args
    debs = glob.glob(os.path.join(args.payload, "deb", "*.deb"))
    loader = args.loader or ("bundled" if args.rehearse and debs else "auto")
    kit.wfvae = vulkan_env.prepare(kit.env, args.payload, kit.work, loader, rec, args.wfvae)
    rec["wfvae"] = kit.wfvae
    manifest = os.path.join(args.payload, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            rec["payload_manifest"] = json.load(f)
    kit.run(wfvae(kit, "help"), "wfvae help")


def devices(kit, rec):
    code, out, err = kit.run(wfvae(kit, "devices"), "wfvae devices", check=False)
    if code != 0 and rec_loader_bundled(kit) and os.geteuid() == 0 and not kit.args.rehearse and shutil.which("dpkg"):
        rec["first_try"] = last_error(err, out)
        rec["loader_fallback"] = vulkan_env.install_into_root(kit.args.payload)
        code, out, err = kit.run(wfvae(kit, "devices"), "wfvae devices (after the fallback)", check=False)
    if code != 0:
        raise StepFailed(f"wfvae devices: {last_error(err, out)}; ICD manifests: {vulkan_env.icd_manifests(kit.env) or 'none'}")
    rec["devices"], selected, coop = [], None, None
    lines = out.splitlines()
    for i, line in enumerate(lines):
        m = DEVICE_LINE.match(line)
        if not m:
            continue
        nxt, memory = (lines[i + 1:i + 3] + ["", ""])[:2]
        d = {"index": int(m.group(2)), "name": m.group(3), "kind": m.group(4), "line": line[2:].strip(),
             "cooperative_matrix": nxt.strip().removeprefix("cooperative matrix: "),
             "memory": memory.strip().removeprefix("memory: ") if memory.strip().startswith("memory: ") else ""}
        rec["devices"].append(d)
        if m.group(1) == "*":
            selected = d
    if selected is None:
        raise StepFailed("wfvae devices marked no device as chosen")
    rec["selected"] = selected["line"]
    rec["cooperative_matrix"] = selected["cooperative_matrix"]
    rec["memory"] = selected["memory"]
    kit.coop_available = selected["cooperative_matrix"].startswith(("KHR", "NV"))
    kit.device_kind = selected["kind"]
    nvidia_smi(kit, rec)
    if not kit.args.rehearse and selected["kind"] in ("Cpu", "Other"):
        raise StepFailed(f"Vulkan chose a CPU device ({selected['name']}): the GPU's Vulkan driver was not found "
                         f"(ICD manifests: {vulkan_env.icd_manifests(kit.env) or 'none'})")


def rec_loader_bundled(kit):
    return next((s.get("loader", "") for s in kit.steps if s["name"] == "setup"), "").startswith("bundled")


def nvidia_smi(kit, rec):
    if not shutil.which("nvidia-smi"):
        return
    query = "name,driver_version,memory.total,clocks.max.sm,power.limit"
    code, out, _ = kit.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], "nvidia-smi", check=False)
    if code == 0:
        rec["nvidia_smi"] = {"query": query, "rows": [line.strip() for line in out.splitlines() if line.strip()]}


# ---------------------------------------------------------------- verify


def golden_cases(kit, subset):
    root = os.path.join(kit.repo, "tests", "fixtures", "golden")
    cases = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "io.safetensors")))
    return [os.path.join(root, c) for c in cases if subset is None or c in subset]


def verify(kit, rec):
    plan = kit.plan
    cases = golden_cases(kit, plan["verify_cases"])
    modes = modes_for(kit, plan["verify_modes"])
    rec["modes"] = [m[0] for m in modes]
    rec["not_run"] = not_run(kit, plan["verify_modes"])
    rec["runs"], failures = [], []
    for label, precision, coop in modes:
        for case in cases:
            code, out, err = kit.run(wfvae(kit, "verify", "--case", case, "--precision", precision),
                                     f"verify {os.path.basename(case)} {label}", env={"WFVAE_COOPMAT": coop}, check=False)
            run = {"case": os.path.basename(case), "mode": label, "ok": code == 0}
            run.update({m.group(1): float(m.group(2)) for m in RESULT.finditer(out)})
            convs = re.search(r"^convs:\s+(.*)$", out, re.M)
            run["convs"] = convs.group(1) if convs else None
            if code not in (0, 1) or len(RESULT.findall(out)) != 3:
                run["error"] = last_error(err, out)
            rec["runs"].append(run)
            if not run["ok"]:
                failures.append(f"{run['case']} {label}: {run.get('error') or 'outside the bounds'}")
            if coop == "auto" and "cooperative_matrix_self_check" not in rec and run["convs"]:
                rec["cooperative_matrix_self_check"] = run["convs"]
    check = rec.get("cooperative_matrix_self_check", "")
    if "self-check failed" in check:
        failures.append(f"the cooperative-matrix self-check failed: {check}")
    if failures:
        raise StepFailed(f"{len(failures)} failure(s): " + "; ".join(failures[:4]))


# ---------------------------------------------------------------- weights


def weights(kit, rec):
    folder = os.path.join(kit.work, "model")
    model = kit.plan["model"]
    source = ["--preset", model["preset"]] if "preset" in model else ["--config", os.path.join(kit.repo, model["config"])]
    kit.run(wfvae(kit, "generate", *source, "--output", folder, "--force", "--quiet"), "wfvae generate")
    kit.model = folder
    with open(os.path.join(folder, "config.json")) as f:
        kit.config = json.load(f)
    rec["model"] = model.get("preset") or model["config"]
    rec["weights_bytes"] = os.path.getsize(os.path.join(folder, "diffusion_pytorch_model.safetensors"))


ORDER = [
    ("setup", setup, ()),
    ("devices", devices, ("setup",)),
    ("verify", verify, ("devices",)),
    ("weights", weights, ("setup",)),
    ("identity", identity, ("devices", "weights")),
    ("bench", bench, ("devices", "weights")),
    ("peer", peer, ("weights",)),
    ("stream", stream, ("devices", "weights")),
]
