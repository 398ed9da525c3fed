"""Building blocks shared by the VAE and the UNet, written to diffusers v0.21.4's semantics.

Member names are the checkpoint key names (norm1, conv1, time_emb_proj, to_q, to_out.0, ...),
so a module's state_dict() is the checkpoint's tensor map.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class ResnetBlock2D(nn.Module):
    """GroupNorm -> SiLU -> conv -> (+ time embedding) -> GroupNorm -> SiLU -> conv, plus a
    1x1 conv_shortcut when the channel count changes. temb_channels None: no time input (VAE)."""

    def __init__(self, in_channels, out_channels, temb_channels, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        if temb_channels is not None:
            self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x, temb=None):  # x: [B,Cin,H,W], temb: [B,T] -> [B,Cout,H,W]
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, "conv_shortcut"):
            x = self.conv_shortcut(x)
        return x + h


class Downsample2D(nn.Module):
    """Stride-2 3x3 conv. padding 0 (the VAE encoder) pads right and bottom by one first."""

    def __init__(self, channels, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    """Nearest 2x upsampling, then a 3x3 conv."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x, size=None):
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=size, mode="nearest")
        return self.conv(x)


def attention(q, k, v, heads, causal=False, keep=None):
    """Scaled dot-product attention. q: [B,N,H*D], k/v: [B,M,H*D] -> [B,N,H*D]. With a list
    `keep`, the probabilities [B,H,N,M] are appended to it (train_unet.py's attention loss)."""
    b, n, inner = q.shape
    m = k.shape[1]
    d = inner // heads
    q = q.reshape(b, n, heads, d).transpose(1, 2)
    k = k.reshape(b, m, heads, d).transpose(1, 2)
    v = v.reshape(b, m, heads, d).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d))  # [B,H,N,M]
    if causal:
        mask = torch.ones(n, m, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
    # Softmax in float32 (upcast_attention / upcast_softmax): the same in float32 training.
    probs = scores.float().softmax(-1).to(v.dtype)
    if keep is not None:
        keep.append(probs)
    return torch.matmul(probs, v).transpose(1, 2).reshape(b, n, inner)


class Attention(nn.Module):
    """diffusers' Attention: to_q/to_k/to_v, to_out.0 (to_out.1 is dropout, no weights)."""

    def __init__(self, query_dim, heads, dim_head, cross_attention_dim=None, bias=False):
        super().__init__()
        inner = heads * dim_head
        kv_dim = cross_attention_dim or query_dim
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=bias)
        self.to_k = nn.Linear(kv_dim, inner, bias=bias)
        self.to_v = nn.Linear(kv_dim, inner, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim), nn.Dropout(0.0)])
        self.kept = None  # a list: each call's attention probabilities are appended to it

    def forward(self, x, context=None):  # x: [B,N,C], context: [B,M,Ck] -> [B,N,C]
        context = x if context is None else context
        h = attention(self.to_q(x), self.to_k(context), self.to_v(context), self.heads, keep=self.kept)
        return self.to_out[1](self.to_out[0](h))
