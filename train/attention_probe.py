#!/usr/bin/env python3
"""Where does the UNet look for each object's words? For prompts of two different objects, each
with its own right image (VAE mean latent, noised to timestep t), one conditional UNet pass;
at the 8x8 cross-attention layers (heads averaged), the attention mass of each object's colour
word and shape word that falls on the latent cells under its own object's box, against the
mass on the other object's box. "own share" = own / (own + other): 50% means the word is
looked up as much at the other object as at its own, so the colour cannot follow its shape.

  python3 train/attention_probe.py [--models models] [--count 32] [--timesteps 900,700,500,300]
"""
import argparse

import numpy as np
import torch

import shapes_data as sd
from adherence import seen_scenes_of_kind
from evaluate import Pipeline
from unet_model import BasicTransformerBlock

GRID = 8  # the attention layers measured: 8x8 cells, 8 pixels of the 64x64 image each


def cells_under(obj):
    """[GRID*GRID] bool: cells whose centre lies inside the object's box."""
    (cx, cy), half = obj["center"], obj["side"] / 2
    centres = (np.arange(GRID) + 0.5) * (sd.SIZE / GRID)
    inside_x = np.abs(centres - cx) <= half
    inside_y = np.abs(centres - cy) <= half
    return torch.from_numpy((inside_y[:, None] & inside_x[None, :]).reshape(-1))


def cases(count):
    """[(caption, image, [(token position, own cells, other cells, "colour"|"shape")])]."""
    out = []
    for image, truth in seen_scenes_of_kind("two different", count):
        caption = truth["caption"]
        words = caption.split()
        a, b = truth["objects"]  # in the caption's order
        cells = [cells_under(a), cells_under(b)]
        words_of = []
        for attr in ("colour", "shape"):
            if a[attr] == b[attr]:
                continue  # the same word for both objects says nothing
            for k, o in enumerate((a, b)):
                words_of.append((1 + words.index(o[attr]), cells[k], cells[1 - k], attr))  # 1 + : after bos
        out.append((caption, image, words_of))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models")
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--timesteps", default="900,700,500,300")
    args = ap.parse_args()
    torch.set_num_threads(2)
    pipe = Pipeline(args.models)
    maps = []  # attention probabilities [B,H,N,M] of the cross-attention layers of one pass
    for m in pipe.unet.modules():
        if isinstance(m, BasicTransformerBlock):
            m.attn2.kept = maps
    items = cases(args.count)
    for t in (int(s) for s in args.timesteps.split(",")):
        share = {"colour": [], "shape": []}
        for n, (caption, image, words_of) in enumerate(items):
            with torch.no_grad():
                pixels = torch.from_numpy(sd.image_to_tensor_values(image))[None]
                x0 = pipe.vae.encode(pixels)[0] * pipe.scale
                noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(n))
                a = pipe.acp[t]
                ids = pipe.tok.windows([caption])
                maps.clear()
                pipe.unet(a.sqrt() * x0 + (1 - a).sqrt() * noise, torch.tensor([float(t)]),
                          pipe.text(ids)["last_hidden_state"])
            at_grid = [p.mean(1) for p in maps if p.shape[2] == GRID * GRID]  # heads averaged
            probs = torch.stack(at_grid).mean(0)[0]  # [64 cells, 77 tokens], layers averaged
            for pos, own, other, attr in words_of:
                col = probs[:, pos]
                mass_own, mass_other = col[own].sum().item(), col[other].sum().item()
                share[attr].append(mass_own / max(mass_own + mass_other, 1e-12))
        print(f"t={t}: own share of the word's attention on the two boxes: colour words "
              f"{100 * np.mean(share['colour']):.0f}% ({len(share['colour'])}), shape words "
              f"{100 * np.mean(share['shape']):.0f}% ({len(share['shape'])})", flush=True)


if __name__ == "__main__":
    main()
