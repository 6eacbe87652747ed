#!/usr/bin/env python3
"""Training and validation footage from Debian packages, decoded once into a compact cache.

    python3 tools/train/data.py fetch [--cache DIR]

downloads the packages with `apt-get download` (nothing is installed), extracts them with `dpkg -x`
into DIR/packages, decodes every video with ffmpeg into DIR/frames/<name>.npy (uint8 [T, H, W, 3],
short side at most STORE_SIDE), the photographs into DIR/photos/<name>.npy, and cuts the fixed
validation clips into DIR/val/<clip>-<size>.{npy,mkv} (17 frames, lossless FFV1 for `wfvae recon`).
The validation clips come from footage that training never reads (see SOURCES and VALIDATION).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_CACHE = os.path.join(REPO, "artifacts", "train-cache")
PACKAGES = ("opencv-doc", "python3-mecavideo", "openboard-common")
STORE_SIDE = 288
VAL_FRAMES = 17
VAL_SIZES = (128, 256)
OPENCV = "usr/share/doc/opencv-doc/examples/data"
MECA = "usr/share/pymecavideo/data/video"

# name: (path inside the extracted packages, role, frame range used for training, licence)
# "val" sources are never read by training; "train" sources may hold out a range for validation.
SOURCES = {
    "megamind": (f"{OPENCV}/Megamind.avi", "train", None, "OpenCV sample data (BSD-3-Clause)"),
    "megamind_bugy": (f"{OPENCV}/Megamind_bugy.avi", "train", None, "OpenCV sample data (BSD-3-Clause)"),
    "vtest": (f"{OPENCV}/vtest.avi", "train", (0, 640), "OpenCV sample data (BSD-3-Clause)"),
    "tree": (f"{OPENCV}/tree.avi", "val", None, "OpenCV sample data (BSD-3-Clause)"),
    "box": ("usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz", "train", None, "OpenCV docs (BSD-3-Clause)"),
    "cup": ("usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz", "val", None, "OpenCV docs (BSD-3-Clause)"),
    "wanna": ("usr/share/openboard/library/videos/wannaworktogether.mp4", "train", None,
              "OpenBoard library (Creative Commons, 'Wanna Work Together?')"),
    "force_constante": (f"{MECA}/Force_constante.avi", "train", None, "pymecavideo, B. Markey (CC-BY-SA-3.0)"),
    "principe_inertie": (f"{MECA}/Principe_inertie.avi", "val", None, "pymecavideo, B. Markey (CC-BY-SA-3.0)"),
    "balle_jbart": (f"{MECA}/balle-jbart.mp4", "val", None, "pymecavideo data (CC-BY-SA-3.0)"),
    "balle1": (f"{MECA}/balle1-vp9.avi", "train", None, "pymecavideo data (CC-BY-SA-3.0)"),
    "g1": (f"{MECA}/g1.avi", "train", None, "pymecavideo data (CC-BY-SA-3.0)"),
    "g2": (f"{MECA}/g2.avi", "train", None, "pymecavideo data (CC-BY-SA-3.0)"),
    "magnet": (f"{MECA}/Effet_force_magnetique.ogv", "train", None, "pymecavideo data (CC-BY-SA-3.0)"),
    "mars": (f"{MECA}/retroMars2018.avi", "train", None, "pymecavideo data (CC-BY-SA-3.0)"),
}
# The wannaworktogether segment 1600..2100 is held out (validation 1800..1816, the rest a margin so that
# no training clip shares a shot with it).
WANNA_TRAIN = ((0, 1600), (2100, 5402))

# clip name: (source, first frame). Every clip is 17 frames, scaled to cover the size and centre-cropped.
VALIDATION = {
    "tree": ("tree", 20),
    "cup": ("cup", 40),
    "principe_inertie": ("principe_inertie", 4),
    "balle_jbart": ("balle_jbart", 100),
    "vtest_end": ("vtest", 700),
    "wanna_1800": ("wanna", 1800),
}


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.decode(errors='replace')[-600:]}")
    return result.stdout


def fetch_packages(cache):
    root = os.path.join(cache, "packages")
    done = os.path.join(root, ".extracted")  # written last: a fetch cut short is done again
    if os.path.isfile(done):
        return root
    os.makedirs(root, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        os.chmod(tmp, 0o777)  # apt's sandbox user must be able to write here
        print(f"data: apt-get download {' '.join(PACKAGES)}", flush=True)
        run(["apt-get", "download", *PACKAGES], cwd=tmp)
        for deb in glob.glob(os.path.join(tmp, "*.deb")):
            run(["dpkg", "-x", deb, root])
    open(done, "w").close()
    return root


def probe_size(path):
    out = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
               "-of", "json", path])
    s = json.loads(out)["streams"][0]
    return int(s["width"]), int(s["height"])


def decode(path, short_side=STORE_SIDE):
    """All frames as uint8 [T, H, W, 3], downscaled (area) so the short side is at most short_side."""
    if path.endswith(".gz"):
        tmp = tempfile.NamedTemporaryFile(suffix=".mp4", delete=False)
        run(["sh", "-c", f"gzip -dc '{path}' > '{tmp.name}'"])
        try:
            return decode(tmp.name, short_side)
        finally:
            os.unlink(tmp.name)
    w, h = probe_size(path)
    k = min(1.0, short_side / min(w, h))
    ow, oh = max(2, int(round(w * k / 2)) * 2), max(2, int(round(h * k / 2)) * 2)
    raw = run(["ffmpeg", "-v", "error", "-i", path, "-vf", f"scale={ow}:{oh}:flags=area", "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(-1, oh, ow, 3)


def cover_crop(frames, size):
    """Scale (area) so the frame covers size x size, then centre-crop: the demo's and recon's framing."""
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    h, w = x.shape[2:]
    k = size / min(h, w)
    nh, nw = max(size, round(h * k)), max(size, round(w * k))
    x = F.interpolate(x, size=(nh, nw), mode="area" if k < 1 else "bicubic", align_corners=None if k < 1 else False)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[:, :, top:top + size, left:left + size].round().clamp(0, 255)
    return x.permute(0, 2, 3, 1).to(torch.uint8).numpy()


def write_ffv1(frames, path):
    t, h, w, _ = frames.shape
    proc = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                           "-r", "25", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "bgr0", path],
                          input=frames.tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {path}: {proc.stderr.decode(errors='replace')[-400:]}")


def build_cache(cache):
    root = fetch_packages(cache)
    frames_dir, photos_dir, val_dir = (os.path.join(cache, d) for d in ("frames", "photos", "val"))
    for d in (frames_dir, photos_dir, val_dir):
        os.makedirs(d, exist_ok=True)
    full = {}
    for name, (rel, role, _, _) in SOURCES.items():
        path = os.path.join(root, rel)
        full[name] = decode(path, short_side=100000)  # native size, for the validation crops
        print(f"data: {name:18s} {full[name].shape[0]:5d} frames {full[name].shape[2]}x{full[name].shape[1]} ({role})",
              flush=True)
        if role == "train":
            np.save(os.path.join(frames_dir, name + ".npy"), decode(path))
    for clip, (source, first) in VALIDATION.items():
        frames = full[source][first:first + VAL_FRAMES]
        if frames.shape[0] != VAL_FRAMES:
            raise RuntimeError(f"validation clip {clip}: {source} has only {full[source].shape[0]} frames")
        for size in VAL_SIZES:
            crop = cover_crop(frames, size)
            np.save(os.path.join(val_dir, f"{clip}-{size}.npy"), crop)
            write_ffv1(crop, os.path.join(val_dir, f"{clip}-{size}.mkv"))
    for path in sorted(glob.glob(os.path.join(root, OPENCV, "*.jpg")) + glob.glob(os.path.join(root, OPENCV, "*.png"))):
        img = decode(path, short_side=400)
        if min(img.shape[1:3]) >= 200:
            np.save(os.path.join(photos_dir, os.path.splitext(os.path.basename(path))[0] + ".npy"), img[0])
    with open(os.path.join(cache, "manifest.json"), "w") as f:
        json.dump({"sources": {k: {"path": v[0], "role": v[1], "licence": v[3]} for k, v in SOURCES.items()},
                   "wanna_train_ranges": WANNA_TRAIN, "vtest_train_range": SOURCES["vtest"][2],
                   "validation": VALIDATION, "val_frames": VAL_FRAMES, "val_sizes": VAL_SIZES}, f, indent=2)
    print(f"data: cache ready in {cache}", flush=True)


def require_cache(cache):
    """Exits with the command that builds the cache when it is missing."""
    if not os.path.isfile(os.path.join(cache, "manifest.json")):
        print(f"error: no training data cache in {cache}; build it with:\n"
              f"  python3 tools/train/data.py fetch --cache {cache}", file=sys.stderr)
        sys.exit(2)


def main():
    parser = argparse.ArgumentParser(description="fetch and cache the training footage")
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("--cache", default=DEFAULT_CACHE)
    args = parser.parse_args()
    for tool in ("apt-get", "dpkg", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found (Debian: apt-get install ffmpeg)", file=sys.stderr)
            return 2
    build_cache(os.path.abspath(args.cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
