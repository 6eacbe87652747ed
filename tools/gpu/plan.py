"""What the GPU kit runs in each mode: sizes, repetitions, time bounds. One table, so that the sizing is read
(and changed) in one place.

A lent GPU machine gives about 15 minutes in all, its start (1-2 minutes) included; the kit must finish in under
8 minutes of device time, so the GPU plan keeps its steps within 330 s and orders every step's work by
importance: what does not fit its bound is cut, not the steps after it.
"""

# (label, --precision, WFVAE_COOPMAT): the engine configurations the kit compares. "auto" lets the device's
# cooperative-matrix path run (after its self-check); "off" forces the scalar fp16 kernel.
FP32 = ("fp32", "fp32", "off")
FP16 = ("fp16", "fp16", "off")
FP16_COOPMAT = ("fp16-coopmat", "fp16", "auto")

# Seconds each step may take at most; a step also never runs past the kit's overall budget.
GPU_BOUNDS = {"setup": 20, "devices": 15, "verify": 60, "weights": 30, "identity": 45, "bench": 100, "peer": 70,
              "stream": 25}
QUICK_BOUNDS = {"setup": 20, "devices": 15, "verify": 35, "weights": 30, "identity": 30, "bench": 60, "peer": 50,
                "stream": 20}

PLANS = {
    # An H100-class GPU: the sizes (WF-VAE-L-16Chn, 33 frames at 256x256 and 512x512).
    "gpu": {
        "budget_s": 330, "bounds": GPU_BOUNDS, "model": {"preset": "wfvae-l-16chn"},
        "verify_cases": None, "verify_modes": [FP32, FP16_COOPMAT, FP16],
        "identity_clip": (9, 256, 256), "identity_modes": [FP32, FP16_COOPMAT],
        # Most important first: a bench cut short by its bound still has the 256x256 rows.
        "bench": [((33, 256, 256), 3, [FP16_COOPMAT, FP16, FP32]), ((33, 512, 512), 2, [FP16_COOPMAT, FP16, FP32])],
        "peer_device": "cuda", "peer_precisions": ["tf32", "bf16"], "peer_runs": 3, "golden_cases": None,
        "stream": {"height": 512, "width": 512, "latents": 25, "mode": FP16_COOPMAT},
        "targets": True,
    },
    # A second try on the same kind of machine: fewer sizes and single runs, under half the time.
    "gpu-quick": {
        "budget_s": 200, "bounds": QUICK_BOUNDS, "model": {"preset": "wfvae-l-16chn"},
        "verify_cases": ["long", "groupnorm"], "verify_modes": [FP32, FP16_COOPMAT],
        "identity_clip": (9, 256, 256), "identity_modes": [FP16_COOPMAT],
        "bench": [((33, 256, 256), 1, [FP16_COOPMAT, FP32]), ((33, 512, 512), 1, [FP16_COOPMAT])],
        "peer_device": "cuda", "peer_precisions": ["tf32"], "peer_runs": 1, "golden_cases": None,
        "stream": {"height": 512, "width": 512, "latents": 13, "mode": FP16_COOPMAT},
        "targets": True,
    },
    # The rehearsal on this kind of machine (lavapipe on 2 cores, the twin on the CPU): the same steps on
    # sizes a CPU driver finishes in minutes.
    "rehearse": {
        # Every wfvae process loads 1.2 GB of weights into lavapipe and compiles its pipelines on the CPU: minutes
        # each on a loaded 2-core machine, hence generous bounds.
        "budget_s": 3600, "bounds": {k: v * 16 for k, v in GPU_BOUNDS.items()}, "model": {"preset": "wfvae-l-16chn"},
        "verify_cases": None, "verify_modes": [FP32, FP16_COOPMAT, FP16],
        "identity_clip": (5, 32, 32), "identity_modes": [FP32, FP16_COOPMAT],
        "bench": [((5, 32, 32), 1, [FP32, FP16_COOPMAT, FP16]), ((1, 32, 32), 1, [FP32])],
        "peer_device": "cpu", "peer_precisions": ["fp32"], "peer_runs": 1, "golden_cases": None,
        "stream": {"height": 32, "width": 32, "latents": 5, "mode": FP32},
        "targets": False,
    },
    # The rehearsal the test suite runs: a small random model (the golden case small16's config) and a
    # subset of the reference cases, every step still taken.
    "rehearse-quick": {
        "budget_s": 600, "bounds": {k: v * 4 for k, v in GPU_BOUNDS.items()},
        "model": {"config": "tests/fixtures/golden/small16/config.json"},
        "verify_cases": ["image"], "verify_modes": [FP32, FP16_COOPMAT, FP16],
        "identity_clip": (5, 16, 16), "identity_modes": [FP32],
        "bench": [((5, 16, 16), 1, [FP32, FP16_COOPMAT, FP16])],
        "peer_device": "cpu", "peer_precisions": ["fp32"], "peer_runs": 1, "golden_cases": ["image"],
        "stream": {"height": 16, "width": 16, "latents": 5, "mode": FP32},
        "targets": False,
    },
}

# Targets of issue #12 on an H100 (checked only in the GPU plans; compare within one run).
TARGET_SPEEDUP = 1.5          # engine encode+decode throughput over the twin in TF32
TARGET_MEMORY_FRACTION = 0.25  # engine peak memory over the twin's
TARGET_STREAM_FPS = 30.0       # streaming decode at 512x512

# The paper's H100 "float32" figures for WF-VAE-L at 33 frames, for the report's context only.
PAPER_H100 = {
    (256, 256): {"encode_s": 0.051, "decode_s": 0.147, "encode_gib": 2.7, "decode_gib": 6.0},
    (512, 512): {"encode_s": 0.187, "decode_s": 0.627, "encode_gib": 7.0, "decode_gib": 19.3},
}


def choose(quick, rehearse):
    return ("rehearse" if rehearse else "gpu") + ("-quick" if quick else "")
