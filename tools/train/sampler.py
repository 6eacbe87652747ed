"""Random training clips from the cache: crops of several sizes and scales, flips, temporal strides,
and still photographs turned into short pans and zooms. Validation footage is never read here.
"""
import glob
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

import data

# Short side of the whole frame after scaling, in pixels: the validation clips are framed at 128 and 256.
SCALE_SIDES = (112, 288)
PHOTO_SHARE = 0.2


class Sampler:
    def __init__(self, cache, seed):
        self.rng = np.random.default_rng(seed)
        self.videos = {}
        for path in sorted(glob.glob(os.path.join(cache, "frames", "*.npy"))):
            name = os.path.splitext(os.path.basename(path))[0]
            if data.SOURCES.get(name, (None, "val"))[1] != "train":
                continue  # a cache written by another version may hold more; only training sources are read
            self.videos[name] = np.load(path, mmap_mode="r")
        self.ranges = {name: self._ranges(name, len(v)) for name, v in self.videos.items()}
        self.photos = [np.load(p) for p in sorted(glob.glob(os.path.join(cache, "photos", "*.npy")))]
        if not self.videos:
            raise RuntimeError(f"no training videos in {cache}/frames")
        lengths = np.array([sum(b - a for a, b in self.ranges[n]) for n in self.videos], dtype=np.float64)
        self.names = list(self.videos)
        self.weights = np.sqrt(lengths) / np.sqrt(lengths).sum()  # many sources, not just the longest

    @staticmethod
    def _ranges(name, n):
        if name == "wanna":
            return [(a, min(b, n)) for a, b in data.WANNA_TRAIN]
        limit = data.SOURCES[name][2]
        return [limit] if limit else [(0, n)]

    def batch(self, n, t, size):
        """[n, 3, t, size, size] float in [-1, 1], plus a description of each clip (for error messages)."""
        clips, notes = [], []
        for _ in range(n):
            clip, note = self.photo(t, size) if self.rng.random() < PHOTO_SHARE and self.photos else self.video(t, size)
            if self.rng.random() < 0.5:
                clip = clip.flip(-1)
            clips.append(clip)
            notes.append(note)
        return torch.stack(clips) / 127.5 - 1, notes

    def video(self, t, size):
        for _ in range(100):
            name = self.names[self.rng.choice(len(self.names), p=self.weights)]
            frames = self.videos[name]
            stride = int(self.rng.choice([1, 1, 2, 3]))
            a, b = self.ranges[name][self.rng.integers(len(self.ranges[name]))]
            span = (t - 1) * stride + 1
            if b - a < span:
                stride, span = 1, t
            if b - a < span:
                continue
            h, w = frames.shape[1:3]
            side = self.rng.uniform(*SCALE_SIDES)
            k = min(1.0, side / min(h, w))
            region = min(h, w, int(math.ceil(size / k)))
            t0 = int(self.rng.integers(a, b - span + 1))
            y0, x0 = int(self.rng.integers(0, h - region + 1)), int(self.rng.integers(0, w - region + 1))
            raw = np.asarray(frames[t0:t0 + span:stride, y0:y0 + region, x0:x0 + region])
            clip = torch.from_numpy(raw.copy()).float().permute(3, 0, 1, 2)  # [3, t, r, r]
            if region != size:
                clip = F.interpolate(clip, size=(size, size), mode="area" if region > size else "bicubic",
                                     **({} if region > size else {"align_corners": False})).clamp(0, 255)
            if self.rng.random() < 0.15:
                clip = clip.flip(1)  # played backwards: still plausible motion
            return clip, f"{name}[{t0}:{t0 + span}:{stride}] y{y0} x{x0} r{region}"
        raise RuntimeError("no training source is long enough for the requested clip length")

    def photo(self, t, size):
        """A still photograph seen by a camera that pans and zooms a little over t frames."""
        i = int(self.rng.integers(len(self.photos)))
        img = torch.from_numpy(self.photos[i]).float().permute(2, 0, 1).unsqueeze(0)  # [1, 3, H, W]
        h, w = img.shape[2:]
        k = min(1.0, max(size, self.rng.uniform(*SCALE_SIDES)) / min(h, w))
        if k < 1:
            img = F.interpolate(img, scale_factor=k, mode="area", recompute_scale_factor=False)
            h, w = img.shape[2:]
        hx, hy = size / w, size / h  # window half-extent in grid units (the grid spans [-1, 1])
        z0, z1 = self.rng.uniform(0.85, 1.0, size=2)
        lim = np.array([1 - hx, 1 - hy])
        c0 = self.rng.uniform(-lim, lim)
        c1 = np.clip(c0 + self.rng.normal(0, 0.04, size=2) * (t - 1) / 8, -lim, lim)
        thetas = []
        for j in range(t):
            f = j / max(1, t - 1)
            z = z0 + (z1 - z0) * f
            cx, cy = c0 + (c1 - c0) * f
            thetas.append([[z * hx, 0, cx], [0, z * hy, cy]])
        theta = torch.tensor(thetas, dtype=torch.float32)
        grid = F.affine_grid(theta, (t, 3, size, size), align_corners=False)
        frames = F.grid_sample(img.expand(t, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                               align_corners=False)
        return frames.permute(1, 0, 2, 3).clamp(0, 255), f"photo{i} pan"
