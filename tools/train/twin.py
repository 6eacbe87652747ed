"""PyTorch twin of WF-VAE, written from docs/model.md of this repository.

Module paths and parameter shapes equal the official checkpoint layout (the key manifest the C#
loader checks), so `state_dict()` is written straight to `diffusion_pytorch_model.safetensors`.
Tensors are [N, C, T, H, W]. Per-frame 2D convolutions run as 3D convolutions with a temporal
kernel of 1 on the 4D weight, which saves the fold of T into the batch and computes the same sums.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# The 3D Haar constant the model was trained with (docs/model.md, "Wavelets"): not 1/sqrt(8).
KAPPA = 0.3536
HAAR3D_NAMES = ("h", "g", "hh", "gh", "h_v", "g_v", "hh_v", "gh_v")
HAAR2D_NAMES = ("aa", "ad", "da", "dd")
LOGVAR_RANGE = (-30.0, 20.0)


def haar3d_filters():
    """[8, 1, 2, 2, 2]: sub-band f has sign (-1)^(bt*a + bh*b + bw*c), bits (bt, bh, bw) of f."""
    w = torch.empty(8, 1, 2, 2, 2)
    for f in range(8):
        bt, bh, bw = (f >> 2) & 1, (f >> 1) & 1, f & 1
        for a in range(2):
            for b in range(2):
                for c in range(2):
                    w[f, 0, a, b, c] = KAPPA * (-1) ** (bt * a + bh * b + bw * c)
    return w


def haar2d_filters():
    """[4, 1, 2, 2] in the order aa, ad (row high-pass), da (column high-pass), dd."""
    w = torch.empty(4, 1, 2, 2)
    for g, (sb, sc) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
        for b in range(2):
            for c in range(2):
                w[g, 0, b, c] = 0.5 * (-1) ** (sb * b + sc * c)
    return w


def _init_conv(weight, bias):
    # PyTorch's own default for convolutions, so a fresh twin trains like a fresh official model.
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    fan_in = weight[0].numel()
    nn.init.uniform_(bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))


class Conv2d(nn.Module):
    """Per-frame 2D convolution; keys <p>.weight [co, ci, k, k] and <p>.bias."""

    def __init__(self, ci, co, k=3, stride=1, padding=1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(co, ci, k, k))
        self.bias = nn.Parameter(torch.empty(co))
        self.stride, self.padding = stride, padding
        _init_conv(self.weight, self.bias)

    def forward(self, x):
        return F.conv3d(x, self.weight.unsqueeze(2), self.bias,
                        stride=(1, self.stride, self.stride), padding=(0, self.padding, self.padding))


class CausalConv3d(nn.Module):
    """Replicates frame 0 (kt - 1) times in front, then a plain strided 3D convolution; keys <p>.conv.*."""

    def __init__(self, ci, co, k=3, stride=1, padding=None, bias=True):
        super().__init__()
        p = (k // 2) if padding is None else padding
        self.kt = k
        self.conv = nn.Conv3d(ci, co, k, stride=stride, padding=(0, p, p), bias=bias)

    def forward(self, x):
        if self.kt > 1:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.kt - 1, -1, -1), x], dim=2)
        return self.conv(x)


class Normalize(nn.Module):
    """LayerNorm over channels per voxel (keys <p>.norm.*) or GroupNorm(32) (keys <p>.weight/bias).

    GroupNorm pools over the whole clip, except inside the per-frame ResnetBlock2D (per_frame=True).
    """

    def __init__(self, c, norm_type, per_frame=False):
        super().__init__()
        self.kind = norm_type
        self.per_frame = per_frame
        if norm_type == "layernorm":
            self.norm = nn.LayerNorm(c, eps=1e-6)
        elif norm_type == "groupnorm":
            self.weight = nn.Parameter(torch.ones(c))
            self.bias = nn.Parameter(torch.zeros(c))
        else:
            raise ValueError(f"norm_type {norm_type!r} is not layernorm or groupnorm")

    def forward(self, x):
        if self.kind == "layernorm":
            return self.norm(x.movedim(1, -1)).movedim(-1, 1)
        if not self.per_frame:
            return F.group_norm(x, 32, self.weight, self.bias, 1e-6)
        n, c, t, h, w = x.shape
        y = F.group_norm(x.transpose(1, 2).reshape(n * t, c, h, w), 32, self.weight, self.bias, 1e-6)
        return y.reshape(n, t, c, h, w).transpose(1, 2)


class ResnetBlock(nn.Module):
    """norm1, SiLU, conv1, norm2, SiLU, conv2, plus the input (1x1 shortcut when the width changes)."""

    def __init__(self, ci, co, norm_type, three_d):
        super().__init__()
        conv = (lambda a, b, k: CausalConv3d(a, b, k)) if three_d else \
            (lambda a, b, k: Conv2d(a, b, k, padding=k // 2))
        per_frame = not three_d
        self.norm1 = Normalize(ci, norm_type, per_frame)
        self.conv1 = conv(ci, co, 3)
        self.norm2 = Normalize(co, norm_type, per_frame)
        self.conv2 = conv(co, co, 3)
        if ci != co:
            self.nin_shortcut = conv(ci, co, 1)
        self.same = ci == co

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.same else self.nin_shortcut(x)) + h


class AttnBlock3DFix(nn.Module):
    """Single-head self-attention among the tokens of each frame; frames never attend to each other."""

    def __init__(self, c, norm_type):
        super().__init__()
        self.norm = Normalize(c, norm_type)
        self.q, self.k, self.v, self.proj_out = (CausalConv3d(c, c, 1) for _ in range(4))

    def forward(self, x):
        n, c, t, hh, ww = x.shape
        h = self.norm(x)
        tokens = lambda y: y.reshape(n, c, t, hh * ww).permute(0, 2, 3, 1)  # [n, t, tok, c]
        q, k, v = tokens(self.q(h)), tokens(self.k(h)), tokens(self.v(h))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c), dim=-1)
        o = (a @ v).permute(0, 3, 1, 2).reshape(n, c, t, hh, ww)
        return x + self.proj_out(o)


class Downsample(nn.Module):
    """Per frame: one zero row/column at the bottom/right, then a 3x3 stride-2 convolution."""

    def __init__(self, c):
        super().__init__()
        self.conv = Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Spatial2xTime2x3DDownsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = CausalConv3d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Per frame: nearest 2x, then a 3x3 convolution."""

    def __init__(self, c):
        super().__init__()
        self.conv = Conv2d(c, c, 3)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest"))


class Spatial2xTime2x3DUpsample(nn.Module):
    """Frame 0 alone; frames 1.. interpolated 2x in time; then bilinear 2x in space; then a causal conv."""

    def __init__(self, c, t_interpolation):
        super().__init__()
        self.mode = t_interpolation
        self.conv = CausalConv3d(c, c, 3)

    def forward(self, x):
        if x.shape[2] > 1:
            rest = F.interpolate(x[:, :, 1:], scale_factor=(2, 1, 1), mode=self.mode,
                                 **({"align_corners": False} if self.mode == "trilinear" else {}))
            x = torch.cat([x[:, :, :1], rest], dim=2)
        x = F.interpolate(x, scale_factor=(1, 2, 2), mode="trilinear", align_corners=False)
        return self.conv(x)


class HaarWaveletTransform3D(nn.Module):
    """Eight fixed [1,1,2,2,2] causal filters (frozen parameters <p>.<band>_conv.conv.weight)."""

    def __init__(self):
        super().__init__()
        w = haar3d_filters()
        for f, name in enumerate(HAAR3D_NAMES):
            conv = CausalConv3d(1, 1, 2, stride=2, padding=0, bias=False)
            conv.conv.weight = nn.Parameter(w[f:f + 1].clone(), requires_grad=False)
            setattr(self, name + "_conv", conv)

    def forward(self, x):
        n, c, t, h, w = x.shape
        weight = torch.cat([getattr(self, name + "_conv").conv.weight for name in HAAR3D_NAMES])
        x = torch.cat([x[:, :, :1], x], dim=2).reshape(n * c, 1, t + 1, h, w)
        y = F.conv3d(x, weight, stride=2)  # [n*c, 8, t', h', w']
        return y.reshape(n, c, 8, *y.shape[2:]).transpose(1, 2).reshape(n, 8 * c, *y.shape[2:])


class InverseHaarWaveletTransform3D(nn.Module):
    def __init__(self):
        super().__init__()
        w = haar3d_filters()
        for f, name in enumerate(HAAR3D_NAMES):
            self.register_buffer(name, w[f:f + 1].clone())

    def forward(self, y):
        n, c8, t, h, w = y.shape
        c = c8 // 8
        weight = torch.cat([getattr(self, name) for name in HAAR3D_NAMES])  # [8, 1, 2, 2, 2]
        y = y.reshape(n, 8, c, t, h, w).transpose(1, 2).reshape(n * c, 8, t, h, w)
        r = F.conv_transpose3d(y, weight, stride=2)[:, :, 1:]
        return r.reshape(n, c, 2 * t - 1, 2 * h, 2 * w)


class HaarWaveletTransform2D(nn.Module):
    def __init__(self):
        super().__init__()
        w = haar2d_filters()
        for g, name in enumerate(HAAR2D_NAMES):
            self.register_buffer(name, w[g:g + 1].clone())

    def forward(self, x):
        n, c, t, h, w = x.shape
        weight = torch.cat([getattr(self, name) for name in HAAR2D_NAMES]).unsqueeze(2)  # [4,1,1,2,2]
        y = F.conv3d(x.reshape(n * c, 1, t, h, w), weight, stride=(1, 2, 2))
        return y.reshape(n, c, 4, *y.shape[2:]).transpose(1, 2).reshape(n, 4 * c, *y.shape[2:])


class InverseHaarWaveletTransform2D(nn.Module):
    def __init__(self):
        super().__init__()
        w = haar2d_filters()
        for g, name in enumerate(HAAR2D_NAMES):
            self.register_buffer(name, w[g:g + 1].clone())

    def forward(self, y):
        n, c4, t, h, w = y.shape
        c = c4 // 4
        weight = torch.cat([getattr(self, name) for name in HAAR2D_NAMES]).unsqueeze(2)
        y = y.reshape(n, 4, c, t, h, w).transpose(1, 2).reshape(n * c, 4, t, h, w)
        r = F.conv_transpose3d(y, weight, stride=(1, 2, 2))
        return r.reshape(n, c, t, 2 * h, 2 * w)


class Config:
    """The checkpoint's config.json; only the released layout's block and wavelet choices are built."""

    DEFAULTS = {"latent_dim": 8, "base_channels": 128, "encoder_num_resblocks": 2,
                "encoder_energy_flow_hidden_size": 64, "decoder_num_resblocks": 2,
                "decoder_energy_flow_hidden_size": 128, "attention_type": "AttnBlock3DFix",
                "use_attention": True, "norm_type": "groupnorm", "t_interpolation": "nearest",
                "connect_res_layer_num": 1}
    FIXED = {"l1_dowmsample_block": "Downsample", "l1_downsample_wavelet": "HaarWaveletTransform2D",
             "l2_dowmsample_block": "Spatial2xTime2x3DDownsample",
             "l2_downsample_wavelet": "HaarWaveletTransform3D", "l1_upsample_block": "Upsample",
             "l1_upsample_wavelet": "InverseHaarWaveletTransform2D",
             "l2_upsample_block": "Spatial2xTime2x3DUpsample",
             "l2_upsample_wavelet": "InverseHaarWaveletTransform3D"}

    def __init__(self, values):
        if values.get("_class_name", "WFVAEModel") != "WFVAEModel":
            raise ValueError(f"config: _class_name {values['_class_name']!r} is not WFVAEModel")
        for key, want in self.FIXED.items():
            if values.get(key, want) != want:
                raise ValueError(f"config: {key} = {values[key]!r} is not supported (only {want!r})")
        v = dict(self.DEFAULTS, **values)
        if v["use_attention"] and v["attention_type"] != "AttnBlock3DFix":  # unread without attention, as officially
            raise ValueError(f"config: attention_type {v['attention_type']!r} is not AttnBlock3DFix")
        if v["t_interpolation"] not in ("trilinear", "nearest"):
            raise ValueError(f"config: t_interpolation {v['t_interpolation']!r} is not trilinear or nearest")
        self.values = values
        self.L, self.B = int(v["latent_dim"]), int(v["base_channels"])
        self.ne, self.nd = int(v["encoder_num_resblocks"]), int(v["decoder_num_resblocks"])
        self.Ee, self.Ed = int(v["encoder_energy_flow_hidden_size"]), int(v["decoder_energy_flow_hidden_size"])
        self.r = int(v["connect_res_layer_num"])
        self.attention = bool(v["use_attention"])
        self.norm, self.t_interp = v["norm_type"], v["t_interpolation"]

    @staticmethod
    def make(base_channels, latent_dim, ee, ed, ne=2, nd=2, r=1, attention=True):
        """A config.json dict with exactly the official key set (WF-VAE-L-16Chn's), other values given."""
        values = {"_class_name": "WFVAEModel", "_diffusers_version": "0.30.2",
                  "attention_type": "AttnBlock3DFix", "base_channels": base_channels,
                  "connect_res_layer_num": r, "decoder_energy_flow_hidden_size": ed,
                  "decoder_num_resblocks": nd, "dropout": 0.0, "encoder_energy_flow_hidden_size": ee,
                  "encoder_num_resblocks": ne, "latent_dim": latent_dim, "norm_type": "layernorm",
                  "scale": [0.18215] * 4, "shift": [0] * 4, "t_interpolation": "trilinear",
                  "use_attention": attention}
        values.update(Config.FIXED)
        return dict(sorted(values.items()))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        B, Ee, n = cfg.B, cfg.Ee, cfg.norm
        self.wavelet_transform_in = HaarWaveletTransform3D()
        self.wavelet_transform_l1 = HaarWaveletTransform2D()
        self.wavelet_transform_l2 = HaarWaveletTransform3D()
        self.down1 = nn.Sequential(Conv2d(24, B), *[ResnetBlock(B, B, n, False) for _ in range(cfg.ne)],
                                   Downsample(B))
        self.connect_l1 = Conv2d(12, Ee)
        self.connect_l2 = Conv2d(24, Ee)
        self.down2 = nn.Sequential(Conv2d(B + Ee, 2 * B),
                                   *[ResnetBlock(2 * B, 2 * B, n, True) for _ in range(cfg.ne)],
                                   Spatial2xTime2x3DDownsample(2 * B))
        mid = [ResnetBlock(2 * B + Ee, 4 * B, n, True)]
        if cfg.attention:
            mid.append(AttnBlock3DFix(4 * B, n))
        mid.append(ResnetBlock(4 * B, 4 * B, n, True))
        self.mid = nn.Sequential(*mid)
        self.norm_out = Normalize(4 * B, n)
        self.conv_out = CausalConv3d(4 * B, 2 * cfg.L, 3)

    def forward(self, x):
        """Returns the moments [2L, t, H/8, W/8] and the inflow sub-bands (W2, W3) for the wavelet loss."""
        w1 = self.wavelet_transform_in(x)
        w2 = self.wavelet_transform_l1(w1[:, :3])
        w3 = self.wavelet_transform_l2(w2[:, :3])
        h = torch.cat([self.down1(w1), self.connect_l1(w2)], dim=1)
        h = torch.cat([self.down2(h), self.connect_l2(w3)], dim=1)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h))), (w2, w3)


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        B, Ed, n, nd, r = cfg.B, cfg.Ed, cfg.norm, cfg.nd, cfg.r
        self.Ed = Ed
        self.conv_in = CausalConv3d(cfg.L, 4 * B, 3)
        mid = [ResnetBlock(4 * B, 4 * B, n, True)]
        if cfg.attention:
            mid.append(AttnBlock3DFix(4 * B, n))
        mid.append(ResnetBlock(4 * B, 4 * B + Ed, n, True))
        self.mid = nn.Sequential(*mid)
        self.connect_l2 = nn.Sequential(*[ResnetBlock(Ed, Ed, n, True) for _ in range(r)], Conv2d(Ed, 24))
        self.up2 = nn.Sequential(*[ResnetBlock(4 * B, 4 * B, n, True) for _ in range(nd)],
                                 Spatial2xTime2x3DUpsample(4 * B, cfg.t_interp),
                                 ResnetBlock(4 * B, 4 * B + Ed, n, True))
        self.connect_l1 = nn.Sequential(*[ResnetBlock(Ed, Ed, n, True) for _ in range(r)], Conv2d(Ed, 12))
        self.up1 = nn.Sequential(ResnetBlock(4 * B, 2 * B, n, True),
                                 *[ResnetBlock(2 * B, 2 * B, n, True) for _ in range(nd - 1)],
                                 Upsample(2 * B), ResnetBlock(2 * B, 2 * B, n, True))
        self.layer = nn.Sequential(ResnetBlock(2 * B, B, n, True), ResnetBlock(B, B, n, True))
        self.norm_out = Normalize(B, n)
        self.conv_out = Conv2d(B, 24)
        self.inverse_wavelet_transform_out = InverseHaarWaveletTransform3D()
        self.inverse_wavelet_transform_l1 = InverseHaarWaveletTransform2D()
        self.inverse_wavelet_transform_l2 = InverseHaarWaveletTransform3D()

    @staticmethod
    def _add_low(coeffs, low):
        return torch.cat([coeffs[:, :3] + low, coeffs[:, 3:]], dim=1)

    def forward(self, z):
        """Returns the video and the outflow sub-bands (W2 hat, W3 hat) for the wavelet loss."""
        h = self.mid(self.conv_in(z))
        w3 = self.connect_l2(h[:, -self.Ed:])
        l2 = self.inverse_wavelet_transform_l2(w3)
        h = self.up2(h[:, :-self.Ed])
        w2 = self._add_low(self.connect_l1(h[:, -self.Ed:]), l2)
        l1 = self.inverse_wavelet_transform_l1(w2)
        h = self.layer(self.up1(h[:, :-self.Ed]))
        w1 = self._add_low(self.conv_out(F.silu(self.norm_out(h))), l1)
        return self.inverse_wavelet_transform_out(w1), (w2, w3)


class WFVAE(nn.Module):
    def __init__(self, config_values):
        super().__init__()
        self.config = Config(config_values)
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    def encode(self, x):
        """x [N, 3, T, H, W] in [-1, 1] -> (mean, logvar) [N, L, t, H/8, W/8]."""
        moments, _ = self.encoder(x)
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z):
        return self.decoder(z)[0]

    def learned_state(self):
        """state_dict() with every tensor as float32 numpy, fixed filters included (official layout)."""
        return {k: v.detach().float().cpu().numpy() for k, v in self.state_dict().items()}

    def load_state(self, tensors):
        """Loads a {key: numpy} dict; every key must be present with the exact shape, no extra keys."""
        own = self.state_dict()
        missing = sorted(set(own) - set(tensors))
        extra = sorted(set(tensors) - set(own))
        wrong = sorted(k for k in own if k in tensors and tuple(own[k].shape) != tuple(tensors[k].shape))
        if missing or extra or wrong:
            raise ValueError(f"checkpoint does not match the config: missing {missing[:5]}, "
                             f"unexpected {extra[:5]}, wrong shape {wrong[:5]}")
        self.load_state_dict({k: torch.from_numpy(tensors[k].astype("float32")) for k in own})
