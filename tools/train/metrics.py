"""Pixel mapping and quality metrics, defined as the engine defines them (src/WfVae.Media/ImageMetrics.cs).

Pixels: byte = round((clamp(x, -1, 1) + 1) / 2 * 255). PSNR of a clip: from the mean per-frame MSE over
all R, G, B bytes, peak 255. SSIM: 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, per channel over
the valid window positions, averaged over R, G, B, then over frames.
"""
import math

import torch
import torch.nn.functional as F


def to_bytes(x):
    """[..., 3, T, H, W] model values in [-1, 1] -> float tensor of byte values 0..255 (rounded)."""
    return torch.round((x.clamp(-1, 1) + 1) / 2 * 255)


def from_bytes(frames_uint8):
    """numpy uint8 [T, H, W, 3] -> [1, 3, T, H, W] float in [-1, 1]."""
    x = torch.from_numpy(frames_uint8.copy()).float().permute(3, 0, 1, 2).unsqueeze(0)
    return x / 255 * 2 - 1


def psnr(a, b):
    """a, b: byte-valued tensors of one clip. Returns dB (inf when equal)."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def _gauss(device=None):
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5 ** 2))
    return (g / g.sum()).to(device)


def _blur(x, g):
    # x [M, 1, H, W]; valid positions only, separable
    x = F.conv2d(x, g.view(1, 1, 1, 11).to(x.dtype))
    return F.conv2d(x, g.view(1, 1, 11, 1).to(x.dtype))


def ssim_map_mean(a, b, peak=255.0):
    """a, b: [M, H, W] planes (any scale with the given peak). Returns SSIM per plane [M]."""
    g = _gauss(a.device)
    a, b = a.unsqueeze(1), b.unsqueeze(1)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = _blur(a, g), _blur(b, g)
    vx = _blur(a * a, g) - mx * mx
    vy = _blur(b * b, g) - my * my
    cov = _blur(a * b, g) - mx * my
    s = (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def ssim(a, b):
    """a, b: byte-valued [1, 3, T, H, W]. Mean over frames of the mean over R, G, B."""
    t = a.shape[2]
    planes = lambda x: x[0].permute(1, 0, 2, 3).reshape(t * 3, *x.shape[3:]).double()
    return ssim_map_mean(planes(a), planes(b)).mean().item()
