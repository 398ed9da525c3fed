"""UNet2DConditionModel (diffusers v0.21.4) in plain PyTorch, with its checkpoint key names.

The subset Stable Diffusion 1.x/2.x uses (and the engine loads): CrossAttnDownBlock2D /
DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D, positional timestep
embedding, per-block head counts, use_linear_projection, transformer_layers_per_block 1.
Diffusers' quirk kept: without num_attention_heads, attention_head_dim is the head count.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from blocks import Attention, Downsample2D, ResnetBlock2D, Upsample2D


def timestep_embedding(t, dim, flip_sin_to_cos=True, shift=0.0, max_period=10000):
    """diffusers' get_timestep_embedding. t: [B] -> [B,dim]."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - shift)
    emb = t.float()[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * 4), nn.Dropout(0.0), nn.Linear(dim * 4, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, dim_head, context_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, dim_head, cross_attention_dim=context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class Transformer2DModel(nn.Module):
    def __init__(self, heads, channels, context_dim, groups, linear_projection, depth=1):
        super().__init__()
        self.linear = linear_projection
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        if linear_projection:
            self.proj_in = nn.Linear(channels, channels)
            self.proj_out = nn.Linear(channels, channels)
        else:
            self.proj_in = nn.Conv2d(channels, channels, 1)
            self.proj_out = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(channels, heads, channels // heads, context_dim) for _ in range(depth)])

    def forward(self, x, context):  # x: [B,C,H,W], context: [B,T,Ctx]
        b, c, h, w = x.shape
        t = self.norm(x)
        if not self.linear:
            t = self.proj_in(t)
        t = t.permute(0, 2, 3, 1).reshape(b, h * w, c)
        if self.linear:
            t = self.proj_in(t)
        for blk in self.transformer_blocks:
            t = blk(t, context)
        if self.linear:
            t = self.proj_out(t)
        t = t.reshape(b, h, w, c).permute(0, 3, 1, 2)
        if not self.linear:
            t = self.proj_out(t)
        return t + x


class DownBlock(nn.Module):
    def __init__(self, cin, cout, temb, layers, groups, eps, downsample, attn):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if i == 0 else cout, cout, temb, groups, eps) for i in range(layers)])
        if attn is not None:
            heads, ctx, linear, depth = attn
            self.attentions = nn.ModuleList(
                [Transformer2DModel(heads, cout, ctx, groups, linear, depth) for _ in range(layers)])
        if downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, padding=1)])

    def forward(self, x, temb, context):
        states = []
        for i, r in enumerate(self.resnets):
            x = r(x, temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, context)
            states.append(x)
        if hasattr(self, "downsamplers"):
            x = self.downsamplers[0](x)
            states.append(x)
        return x, states


class UpBlock(nn.Module):
    def __init__(self, cin, prev, cout, temb, layers, groups, eps, upsample, attn):
        super().__init__()
        res = []
        for i in range(layers):
            skip = cin if i == layers - 1 else cout
            res.append(ResnetBlock2D((prev if i == 0 else cout) + skip, cout, temb, groups, eps))
        self.resnets = nn.ModuleList(res)
        if attn is not None:
            heads, ctx, linear, depth = attn
            self.attentions = nn.ModuleList(
                [Transformer2DModel(heads, cout, ctx, groups, linear, depth) for _ in range(layers)])
        if upsample:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x, skips, temb, context, size=None):
        for i, r in enumerate(self.resnets):
            x = r(torch.cat([x, skips.pop()], dim=1), temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, context)
        if hasattr(self, "upsamplers"):
            x = self.upsamplers[0](x, size)
        return x


class MidBlock(nn.Module):
    def __init__(self, ch, temb, groups, eps, attn):
        super().__init__()
        heads, ctx, linear, depth = attn
        self.attentions = nn.ModuleList([Transformer2DModel(heads, ch, ctx, groups, linear, depth)])
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, temb, groups, eps) for _ in range(2)])

    def forward(self, x, temb, context):
        x = self.resnets[0](x, temb)
        x = self.attentions[0](x, context)
        return self.resnets[1](x, temb)


def _per_block(value, n):
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = dict(cfg)
        ch = cfg["block_out_channels"]
        n = len(ch)
        g, eps, lpb = cfg["norm_num_groups"], cfg["norm_eps"], cfg["layers_per_block"]
        ctx, linear = cfg["cross_attention_dim"], cfg.get("use_linear_projection", False)
        heads = _per_block(cfg.get("num_attention_heads") or cfg["attention_head_dim"], n)
        depth = _per_block(cfg.get("transformer_layers_per_block", 1), n)  # transformer blocks per attention
        temb = ch[0] * 4
        self.flip_sin_to_cos, self.freq_shift = cfg.get("flip_sin_to_cos", True), cfg.get("freq_shift", 0)
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        downs = []
        for i, kind in enumerate(cfg["down_block_types"]):
            attn = (heads[i], ctx, linear, depth[i]) if kind == "CrossAttnDownBlock2D" else None
            downs.append(DownBlock(ch[max(i - 1, 0)], ch[i], temb, lpb, g, eps, i < n - 1, attn))
        self.down_blocks = nn.ModuleList(downs)
        self.mid_block = MidBlock(ch[-1], temb, g, eps, (heads[-1], ctx, linear, depth[-1]))
        rch, rheads, rdepth = list(reversed(ch)), list(reversed(heads)), list(reversed(depth))
        ups = []
        out = rch[0]
        for i, kind in enumerate(cfg["up_block_types"]):
            prev, out = out, rch[i]
            cin = rch[min(i + 1, n - 1)]
            attn = (rheads[i], ctx, linear, rdepth[i]) if kind == "CrossAttnUpBlock2D" else None
            ups.append(UpBlock(cin, prev, out, temb, lpb + 1, g, eps, i < n - 1, attn))
        self.up_blocks = nn.ModuleList(ups)
        self.conv_norm_out = nn.GroupNorm(g, ch[0], eps=eps)
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, sample, timestep, context):
        """sample [B,4,h,w], timestep [B] (or scalar), context [B,T,ctx] -> noise [B,4,h,w]."""
        if timestep.dim() == 0:
            timestep = timestep[None].expand(sample.shape[0])
        t = timestep_embedding(timestep, self.conv_in.out_channels, self.flip_sin_to_cos, self.freq_shift)
        temb = self.time_embedding(t.to(sample.dtype))
        x = self.conv_in(sample)
        skips = [x]
        for b in self.down_blocks:
            x, states = b(x, temb, context)
            skips += states
        x = self.mid_block(x, temb, context)
        for i, b in enumerate(self.up_blocks):
            n = len(b.resnets)
            mine, skips = skips[-n:], skips[:-n]
            size = skips[-1].shape[2:] if skips else None
            x = b(x, mine, temb, context, size)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


def mirrored_up_blocks(down):
    """up_block_types mirroring down_block_types (attention where the down path has it)."""
    return ["CrossAttnUpBlock2D" if d == "CrossAttnDownBlock2D" else "UpBlock2D" for d in reversed(down)]


def unet_config(block_out_channels=(32, 64, 64), layers_per_block=1, heads=4, cross_attention_dim=64,
                norm_num_groups=16, sample_size=16, down=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                                         "DownBlock2D"), transformer_layers=1):
    """A diffusers UNet2DConditionModel config.json (SD 1.x style) for these widths."""
    up = mirrored_up_blocks(down)
    return {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.21.4",
        "act_fn": "silu",
        "addition_embed_type": None,
        "addition_embed_type_num_heads": 64,
        "addition_time_embed_dim": None,
        "attention_head_dim": heads,
        "attention_type": "default",
        "block_out_channels": list(block_out_channels),
        "center_input_sample": False,
        "class_embed_type": None,
        "class_embeddings_concat": False,
        "conv_in_kernel": 3,
        "conv_out_kernel": 3,
        "cross_attention_dim": cross_attention_dim,
        "cross_attention_norm": None,
        "down_block_types": list(down),
        "downsample_padding": 1,
        "dropout": 0.0,
        "dual_cross_attention": False,
        "encoder_hid_dim": None,
        "encoder_hid_dim_type": None,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": 4,
        "layers_per_block": layers_per_block,
        "mid_block_only_cross_attention": None,
        "mid_block_scale_factor": 1,
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "norm_eps": 1e-05,
        "norm_num_groups": norm_num_groups,
        "num_attention_heads": None,
        "num_class_embeds": None,
        "only_cross_attention": False,
        "out_channels": 4,
        "projection_class_embeddings_input_dim": None,
        "resnet_out_scale_factor": 1.0,
        "resnet_skip_time_act": False,
        "resnet_time_scale_shift": "default",
        "sample_size": sample_size,
        "time_cond_proj_dim": None,
        "time_embedding_act_fn": None,
        "time_embedding_dim": None,
        "time_embedding_type": "positional",
        "timestep_post_act": None,
        "transformer_layers_per_block": transformer_layers,
        "up_block_types": list(up),
        "upcast_attention": False,
        "use_linear_projection": False,
    }
