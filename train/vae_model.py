"""AutoencoderKL (diffusers v0.21.4) in plain PyTorch, with its checkpoint key names.

Config keys read: in_channels, out_channels, latent_channels, block_out_channels,
layers_per_block, norm_num_groups (down/up block types must be DownEncoderBlock2D /
UpDecoderBlock2D, the only ones AutoencoderKL checkpoints use and the engine loads).
"""
import torch
import torch.nn.functional as F
from torch import nn

from blocks import Downsample2D, ResnetBlock2D, Upsample2D

EPS = 1e-6  # the VAE's GroupNorm eps


class VaeAttention(nn.Module):
    """The mid-block self-attention: one head over all pixels, with its own group_norm and a
    residual (diffusers 0.21 key names to_q/to_k/to_v/to_out.0)."""

    def __init__(self, channels, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=EPS)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels), nn.Dropout(0.0)])

    def forward(self, x):  # [B,C,H,W]
        b, c, h, w = x.shape
        t = self.group_norm(x).reshape(b, c, h * w).transpose(1, 2)  # [B,HW,C]
        q, k, v = self.to_q(t), self.to_k(t), self.to_v(t)
        probs = (torch.matmul(q, k.transpose(1, 2)) * (c ** -0.5)).float().softmax(-1).to(v.dtype)
        o = self.to_out[0](torch.matmul(probs, v))
        return x + o.transpose(1, 2).reshape(b, c, h, w)


class MidBlock(nn.Module):
    def __init__(self, channels, groups):
        super().__init__()
        self.attentions = nn.ModuleList([VaeAttention(channels, groups)])
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, None, groups, EPS) for _ in range(2)])

    def forward(self, x):
        x = self.resnets[0](x)
        x = self.attentions[0](x)
        return self.resnets[1](x)


class EncoderBlock(nn.Module):
    def __init__(self, cin, cout, layers, groups, downsample):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, EPS) for i in range(layers)])
        if downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, padding=0)])

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        if hasattr(self, "downsamplers"):
            x = self.downsamplers[0](x)
        return x


class DecoderBlock(nn.Module):
    def __init__(self, cin, cout, layers, groups, upsample):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, EPS) for i in range(layers)])
        if upsample:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        if hasattr(self, "upsamplers"):
            x = self.upsamplers[0](x)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = cfg["block_out_channels"]
        g, lpb = cfg["norm_num_groups"], cfg["layers_per_block"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            [EncoderBlock(ch[max(i - 1, 0)], ch[i], lpb, g, i < len(ch) - 1) for i in range(len(ch))])
        self.mid_block = MidBlock(ch[-1], g)
        self.conv_norm_out = nn.GroupNorm(g, ch[-1], eps=EPS)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg["latent_channels"], 3, padding=1)

    def forward(self, x):  # [B,3,H,W] -> [B,2*latent,H/2^(L-1),...]
        x = self.conv_in(x)
        for b in self.down_blocks:
            x = b(x)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = list(reversed(cfg["block_out_channels"]))
        g, lpb = cfg["norm_num_groups"], cfg["layers_per_block"]
        self.conv_in = nn.Conv2d(cfg["latent_channels"], ch[0], 3, padding=1)
        self.mid_block = MidBlock(ch[0], g)
        self.up_blocks = nn.ModuleList(
            [DecoderBlock(ch[max(i - 1, 0)], ch[i], lpb + 1, g, i < len(ch) - 1) for i in range(len(ch))])
        self.conv_norm_out = nn.GroupNorm(g, ch[-1], eps=EPS)
        self.conv_out = nn.Conv2d(ch[-1], cfg["out_channels"], 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = dict(cfg)
        lat = cfg["latent_channels"]
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv2d(2 * lat, 2 * lat, 1)
        self.post_quant_conv = nn.Conv2d(lat, lat, 1)

    def moments(self, image):  # image [B,3,H,W] in [-1,1] -> [B,2*latent,h,w] (mean, logvar)
        return self.quant_conv(self.encoder(image))

    def encode(self, image):
        """(mean, logvar) with logvar clamped to [-30, 20] as diffusers does."""
        mean, logvar = self.moments(image).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, latent):  # latent (unscaled) -> image in about [-1,1]
        return self.decoder(self.post_quant_conv(latent))


def vae_config(block_out_channels=(32, 64, 64), layers_per_block=1, norm_num_groups=16, latent_channels=4,
               sample_size=64, scaling_factor=0.18215):
    """A diffusers AutoencoderKL config.json for these widths."""
    n = len(block_out_channels)
    return {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": "0.21.4",
        "act_fn": "silu",
        "block_out_channels": list(block_out_channels),
        "down_block_types": ["DownEncoderBlock2D"] * n,
        "force_upcast": True,
        "in_channels": 3,
        "latent_channels": latent_channels,
        "layers_per_block": layers_per_block,
        "norm_num_groups": norm_num_groups,
        "out_channels": 3,
        "sample_size": sample_size,
        "scaling_factor": scaling_factor,
        "up_block_types": ["UpDecoderBlock2D"] * n,
    }
