#!/usr/bin/env python3
"""At which noise level does a model decide what a prompt asks? Image-to-image from each prompt's
own right image (`sdvk generate --init-image --strength S`): at strength S the engine noises the
image to about timestep 1000 x S and denoises from there, so the whole-prompt accuracy at S says
how much of the prompt is still undecided from that noise level down. If images started at 0.5
come back right and those started at 0.85 do not, the errors are made in the noisiest steps.

  python3 train/decided_when.py --sdvk build/sdvk [--model models/demo-sd] [--kind "two different"]
      [--count 16] [--strengths 0.3,0.5,0.7,0.85,1.0] [--out runs/decided_when]

Prompts: the first --count of the seen prompt stream (seed 1000, as adherence.py's) of the given
kind, each with the image the data generator draws for it; 4 images per prompt and strength,
guidance 3.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
from PIL import Image

import detector
from adherence import seen_scenes_of_kind

KINDS = ("one object", "two alike", "two different")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdvk", default="build/sdvk")
    ap.add_argument("--model", default="", help="pipeline folder (default: sdvk's, the bundled demo)")
    ap.add_argument("--kind", default="two different", choices=KINDS)
    ap.add_argument("--count", type=int, default=16, help="prompts")
    ap.add_argument("--strengths", default="0.3,0.5,0.7,0.85,1.0")
    ap.add_argument("--cfg", type=float, default=3.0)
    ap.add_argument("--out", default="runs/decided_when", help="images go here")
    args = ap.parse_args()
    try:
        strengths = [float(s) for s in args.strengths.split(",")]
    except ValueError:
        sys.exit(f"decided_when: --strengths: not a list of numbers: {args.strengths}")
    if any(not 0 < s <= 1 for s in strengths) or args.count < 1:
        sys.exit("decided_when: --strengths must be in (0, 1] and --count at least 1")
    os.makedirs(args.out, exist_ok=True)
    items = [(truth["caption"], image) for image, truth in seen_scenes_of_kind(args.kind, args.count)]
    for k, (_, image) in enumerate(items):
        Image.fromarray(image).save(os.path.join(args.out, f"source{k}.png"))
    print(f"{args.kind}: {args.count} prompts x 4 images, guidance {args.cfg:g}")
    for s in strengths:
        right = 0
        for k, (caption, _) in enumerate(items):
            pattern = os.path.join(args.out, f"s{s:g}-p{k}-i{{index}}.png")
            cmd = [args.sdvk, "generate", "--init-image", os.path.join(args.out, f"source{k}.png"),
                   "--strength", str(s), "--prompt", caption, "--batch", "4", "--seed", str(k),
                   "--cfg-scale", str(args.cfg), "--output", pattern, "--overwrite", "--quiet"]
            if args.model:
                cmd += ["--model", args.model]
            if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:
                sys.exit(f"decided_when: sdvk generate failed on prompt {k}: {caption}")
            spec = detector.parse_caption(caption)
            for b in range(4):
                image = np.asarray(Image.open(pattern.replace("{index}", str(b))).convert("RGB"))
                right += detector.check(image, spec)["correct"]
        print(f"strength {s:g} (from about t={min(999, round(1000 * s))}): whole prompt right "
              f"{right}/{4 * len(items)} = {100 * right / (4 * len(items)):.0f}%", flush=True)


if __name__ == "__main__":
    main()
