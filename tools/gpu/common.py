"""What the kit's runner and its steps share."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.abspath(os.path.join(HERE, "..", "train"))
# The engine's fp16 bounds against fp32 references (docs/performance.md), used for cooperative vs scalar fp16.
LATENT_BOUND_FP16, DECODED_BOUND_FP16 = 1e-2, 4e-2


class StepFailed(Exception):
    """A step's own verdict: its message is reported as the step's reason."""


def wfvae(kit, *args):
    return [kit.wfvae, *[str(a) for a in args]]


def last_error(err, out=""):
    """The last nonblank line a failed command printed (the engine's errors are one line)."""
    lines = [line for line in ((err or "") + "\n" + (out or "")).splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def modes_for(kit, modes):
    """The plan's engine configurations this device can run: fp16 on cooperative matrices needs a path, and
    without one it is the scalar fp16 kernel (listed once)."""
    from plan import FP16
    chosen = []
    for m in modes:
        m = m if m[2] != "auto" or getattr(kit, "coop_available", False) else FP16
        if m not in chosen:
            chosen.append(m)
    return chosen


def not_run(kit, modes):
    return [f"{m[0]}: the device has no cooperative-matrix path" for m in modes if m not in modes_for(kit, modes)]


def train_module(name):
    """A module of tools/train (safetensors_io, the twin): the kit reuses them rather than copying them."""
    if TRAIN not in sys.path:
        sys.path.insert(0, TRAIN)
    return __import__(name)
