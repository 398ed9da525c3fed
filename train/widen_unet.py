#!/usr/bin/env python3
"""Widens a trained UNet 2x (every block's channels doubled) so that it starts out computing
what the old one did, and writes it as a finished run that `train_unet.py --init-from` trains
on (config.json + ckpt.safetensors: the EMA weights as both "unet" and "ema", the EMA text
tower, RNG; no optimizer), which export.py exports as it is.

  python3 train/widen_unet.py runs/unet_mix runs/unet_mix_x2

Every widened axis maps old channel i to new channels 2i and 2i+1 (the same map holds across
the up blocks' concatenations, and keeps each GroupNorm group the duplicates of one old group;
LayerNorm statistics over duplicated channels are unchanged). A layer that produces a widened
axis copies its old weights to both; a layer that reads one splits each old weight w into
w*r and w*(1-r), r drawn per weight from [0.25, 0.75], so the sum is unchanged and the two
copies get different gradients (equal halves would keep them equal forever). Attention heads
keep their count and double their width: q.k doubles over duplicated entries while the
softmax scale falls by sqrt(2), so to_q is scaled by 1/sqrt(2). The sinusoidal timestep
embedding is ch[0] wide: the old frequencies are the even ones of the new, so linear_1 reads
its old columns at those positions and zero at the others. Nothing is written unless the
widened UNet's output is within 1e-5 (relative) of the old one's on random inputs.
"""
import argparse
import json
import math
import os
import shutil

import numpy as np
import torch

import common
import safetensors_io
from unet_model import UNet2DConditionModel


def widen_axis(w, axis, read, rng):
    """Doubles `axis` of array w: copied (a layer writing it) or split in random shares (a
    layer reading it)."""
    wide = np.repeat(w, 2, axis=axis)
    if not read:
        return wide
    share = rng.uniform(0.25, 0.75, size=w.shape).astype(w.dtype)
    return wide * np.stack([share, 1 - share], axis=axis + 1).reshape(wide.shape)


def timestep_columns(w, old_dim):
    """time_embedding.linear_1.weight [out, old_dim] -> [out, 2*old_dim]: the old embedding's
    cos/sin halves at frequency i are the new one's at frequency 2i."""
    half = old_dim // 2
    out = np.zeros((w.shape[0], 2 * old_dim), dtype=w.dtype)
    for part in range(2):  # flip_sin_to_cos: [cos | sin]
        out[:, part * old_dim + 2 * np.arange(half)] = w[:, part * half + np.arange(half)]
    return out


def geglu_rows(w):
    """GEGLU proj [2*inner, ...]: each half (value, gate) widened on its own."""
    value, gate = np.split(w, 2, axis=0)
    return np.concatenate([np.repeat(value, 2, axis=0), np.repeat(gate, 2, axis=0)], axis=0)


def widen_tensor(key, w, new_shape, rng):
    """Checkpoint tensor `key` widened to `new_shape`: axis 0 is what a layer writes, axis 1
    what it reads (conv and linear weights alike); a doubled axis is widened, any other change
    is an error."""
    if "time_embedding.linear_1.weight" in key:
        return timestep_columns(np.repeat(w, 2, axis=0), w.shape[1])
    if ".ff.net.0.proj." in key:
        w = geglu_rows(w)
        return widen_axis(w, 1, True, rng) if w.ndim > 1 else w
    for axis in range(w.ndim):
        if new_shape[axis] == 2 * w.shape[axis]:
            w = widen_axis(w, axis, read=axis == 1, rng=rng)
        elif new_shape[axis] != w.shape[axis]:
            raise SystemExit(f"widen_unet: {key}: {tuple(w.shape)} does not widen to {tuple(new_shape)}")
    if key.endswith("to_q.weight"):
        w = w / math.sqrt(2)
    return w


def max_difference(cfg, old, wide_cfg, wide):
    """Largest output difference of the two UNets (state dicts of tensors) on random latents,
    timesteps and contexts, relative to the old one's largest output."""
    nets = []
    for c, state in ((cfg, old), (wide_cfg, wide)):
        net = UNet2DConditionModel(c).eval()
        net.load_state_dict(state)
        nets.append(net)
    gen = torch.Generator().manual_seed(0)
    size = cfg["sample_size"]
    x = torch.randn(4, cfg["in_channels"], size, size, generator=gen)
    context = torch.randn(4, 77, cfg["cross_attention_dim"], generator=gen)
    t = torch.tensor([999, 700, 300, 10])
    with torch.no_grad():
        a, b = (net(x, t, context) for net in nets)
    return float((a - b).abs().max() / a.abs().max())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", help="a train_unet.py run")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0, help="for the random shares")
    args = ap.parse_args()
    cfg = json.load(open(os.path.join(args.run_dir, "config.json")))
    wide_cfg = dict(cfg, block_out_channels=[2 * c for c in cfg["block_out_channels"]])
    tensors = safetensors_io.load(os.path.join(args.run_dir, "ckpt.safetensors"))
    old = common.module_state(args.run_dir, "ema", tensors)
    shapes = {k: v.shape for k, v in UNet2DConditionModel(wide_cfg).state_dict().items()}
    if set(old) != set(shapes):
        raise SystemExit(f"widen_unet: {args.run_dir}'s EMA weights do not match its config.json")
    rng = np.random.default_rng(args.seed)
    wide = {k: torch.from_numpy(widen_tensor(k, v.numpy(), shapes[k], rng).astype(v.numpy().dtype))
            for k, v in old.items()}
    drift = max_difference(cfg, old, wide_cfg, wide)
    if drift > 1e-5:
        raise SystemExit(f"widen_unet: the widened UNet's output differs by {drift:.1e} relative: not written")
    out = {k: v for k, v in tensors.items() if k.startswith("modules.ema_text.") or k == "torch_rng"}
    for name in ("unet", "ema"):  # a finished run holds both
        out.update({f"modules.{name}.{k}": v.numpy() for k, v in wide.items()})
    os.makedirs(args.out_dir, exist_ok=True)
    common.write_json(os.path.join(args.out_dir, "config.json"), wide_cfg)
    for name in os.listdir(args.run_dir):
        if name.endswith(".json") and name != "config.json":
            shutil.copyfile(os.path.join(args.run_dir, name), os.path.join(args.out_dir, name))
    state = common.checkpoint_state(args.run_dir)
    meta = {"step": state["step"], "extra": dict(state["extra"], widened_from=args.run_dir), "optimizer": None}
    safetensors_io.save(os.path.join(args.out_dir, "ckpt.safetensors"), out, {"state": json.dumps(meta)})
    print(f"{args.out_dir}: block_out_channels {wide_cfg['block_out_channels']}, "
          f"{sum(v.numel() for v in old.values()) / 1e6:.2f}M -> {sum(v.numel() for v in wide.values()) / 1e6:.2f}M "
          f"parameters, output within {drift:.1e} relative")


if __name__ == "__main__":
    main()
