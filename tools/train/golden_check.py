#!/usr/bin/env python3
"""Checks the PyTorch twin against the official-code reference cases (tests/fixtures/golden).

--golden names another folder of cases (config.json, weights, io.safetensors with video/mean/logvar/decoded), e.g.
the engine's outputs on off-golden configs (tests/WfVae.Tests/Tools/TwinConfigVariantTests.cs).

rel_err = max|a - e| / rms(e), float32, one thread; bounds are the engine's fp32 bounds.
Exit 0 when every case passes, 1 when one fails, 2 when the cases cannot be read.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import twin  # noqa: E402

LATENT_BOUND, DECODED_BOUND = 1e-4, 3e-4
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def rel_err(actual, expected):
    expected = expected.astype(np.float64)
    rms = np.sqrt(np.mean(expected ** 2))
    return float(np.max(np.abs(actual.astype(np.float64) - expected)) / rms)


def load_twin(folder, weights_name):
    with open(os.path.join(folder, "config.json")) as f:
        model = twin.WFVAE(json.load(f))
    tensors, _ = safetensors_io.read(os.path.join(folder, weights_name))
    model.load_state(tensors)
    return model.eval()


def check_case(folder):
    # Golden cases name their weights model.safetensors; a case written by `wfvae generate` (the engine tests'
    # off-golden configs) holds the diffusers name.
    weights = "model.safetensors" if os.path.isfile(os.path.join(folder, "model.safetensors")) \
        else "diffusion_pytorch_model.safetensors"
    model = load_twin(folder, weights)
    io, _ = safetensors_io.read(os.path.join(folder, "io.safetensors"))
    with torch.no_grad():
        mean, logvar = model.encode(torch.from_numpy(io["video"]))
        decoded = model.decode(torch.from_numpy(io["mean"]))
    errors = {"mean": rel_err(mean.numpy(), io["mean"]), "logvar": rel_err(logvar.numpy(), io["logvar"]),
              "decoded": rel_err(decoded.numpy(), io["decoded"])}
    ok = errors["mean"] <= LATENT_BOUND and errors["logvar"] <= LATENT_BOUND and errors["decoded"] <= DECODED_BOUND
    return ok, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", default=os.path.join(REPO, "tests", "fixtures", "golden"))
    parser.add_argument("--json", help="write the per-case errors here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = sorted(d for d in os.listdir(args.golden) if os.path.isfile(os.path.join(args.golden, d, "io.safetensors"))) \
        if os.path.isdir(args.golden) else []
    if not cases:
        print(f"golden_check: no cases under {args.golden}", file=sys.stderr)
        return 2
    failed, report = 0, {}
    for case in cases:
        start = time.time()
        ok, errors = check_case(os.path.join(args.golden, case))
        report[case] = dict(errors, ok=ok)
        failed += not ok
        print(f"{case:10s} mean {errors['mean']:.2e}  logvar {errors['logvar']:.2e}  decoded {errors['decoded']:.2e}"
              f"  {'ok' if ok else 'FAIL'}  ({time.time() - start:.1f} s)")
    print(f"twin golden check: {len(cases) - failed}/{len(cases)} cases within {LATENT_BOUND:g} (latents) "
          f"and {DECODED_BOUND:g} (decoded)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
