#!/usr/bin/env python3
"""What does the model make of a prompt before it has seen any image? Decodes the predicted
clean image (x0) of the first sampling step, guidance 3, for seen prompts that place both of
two different objects, one row per prompt and one column per seed. A model that reads the
prompt shows each object where the prompt puts it, in the same place for every seed; one that
reads the starting noise as a faint image shows blobs that change with the seed.

  python3 train/first_step.py --models models --out runs/first_step.png [--prompts 4 --seeds 8]

The first step is taken at t = 951 for SD's schedule (where PNDM's "leading" spacing starts at
20 steps; 961 at the engine's default 25), at t = 999 for the DDIM with zero terminal SNR that
export.py writes for a --zero-terminal-snr run.
"""
import argparse
import json
import os

import numpy as np
import torch
from PIL import Image

import detector
from decided_when import seen_scenes_of_kind
from evaluate import Pipeline
from train_unet import sd_alphas_cumprod


def placed_prompts(count):
    """The first `count` seen two-object prompts that give both objects a place."""
    out = []
    for _, truth in seen_scenes_of_kind("two different", 64):
        objects = detector.parse_caption(truth["caption"])["objects"]
        if all(o["position"] for o in objects):
            out.append(truth["caption"])
        if len(out) == count:
            return out
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models", help="export.py's folder (demo-sd, demo-clip)")
    ap.add_argument("--out", required=True, help="PNG grid")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--cfg", type=float, default=3.0)
    args = ap.parse_args()
    pipe = Pipeline(args.models)
    scheduler = json.load(open(os.path.join(args.models, "demo-sd", "scheduler", "scheduler_config.json")))
    zero_snr = bool(scheduler.get("rescale_betas_zero_snr"))
    acp = sd_alphas_cumprod(zero_terminal_snr=zero_snr)
    t = 999 if zero_snr else 951
    a = acp[t]
    rows = []
    with torch.no_grad():
        for prompt in placed_prompts(args.prompts):
            print(prompt)
            ctx = pipe.text(pipe.tok.windows([prompt, ""]))["last_hidden_state"]
            row = []
            for seed in range(args.seeds):
                x = torch.randn(1, 4, pipe.latent_size, pipe.latent_size, generator=torch.Generator().manual_seed(seed))
                cond, uncond = pipe.unet(torch.cat([x, x]), torch.full((2,), float(t)), ctx).chunk(2)
                out = uncond + args.cfg * (cond - uncond)
                x0 = a.sqrt() * x - (1 - a).sqrt() * out if pipe.v_prediction else (x - (1 - a).sqrt() * out) / a.sqrt()
                image = pipe.vae.decode(x0 / pipe.scale)
                row.append(((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[0].permute(1, 2, 0).numpy())
            rows.append(np.concatenate(row, 1))
    Image.fromarray(np.concatenate(rows, 0)).save(args.out)
    print(f"first step at t = {t}: {args.out}")


if __name__ == "__main__":
    main()
