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

--source asks whether the model binds one attribute to the other: "blurred" starts from the
right image blurred so that each object is a blob of its colour with no readable shape, "gray"
from the right shapes drawn in one neutral gray. A model that binds draws, from a red blob, the
shape the prompt pairs with red; one that does not pairs them by chance (the "swapped" count).
"noise" is plain text to image (no start image; --strengths is ignored): the yardstick of the
binding experiments in train/README.md.
"""
import argparse
import copy
import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageFilter

import detector
import shapes_data as sd
from adherence import binding, seen_scenes_of_kind

KINDS = ("one object", "two alike", "two different")


def source_image(image, truth, source):
    """The image a run starts from: the right one, its objects blurred to colour blobs, or its
    shapes in gray (sd.NEUTRAL)."""
    if source in ("right", "noise"):
        return image
    if source == "blurred":
        return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(4)))
    gray = copy.deepcopy(truth)
    for o in gray["objects"]:
        o["colour"] = sd.NEUTRAL
    return sd.render(gray)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdvk", default="build/sdvk")
    ap.add_argument("--model", default="", help="pipeline folder (default: sdvk's, the bundled demo)")
    ap.add_argument("--kind", default="two different", choices=KINDS)
    ap.add_argument("--count", type=int, default=16, help="prompts")
    ap.add_argument("--strengths", default="0.3,0.5,0.7,0.85,1.0")
    ap.add_argument("--cfg", type=float, default=3.0)
    ap.add_argument("--source", default="right", choices=("right", "blurred", "gray", "noise"),
                    help="what each run starts from (see above)")
    ap.add_argument("--out", default="runs/decided_when", help="images go here")
    args = ap.parse_args()
    try:
        strengths = [float(s) for s in args.strengths.split(",")]
    except ValueError:
        sys.exit(f"decided_when: --strengths: not a list of numbers: {args.strengths}")
    if any(not 0 < s <= 1 for s in strengths) or args.count < 1:
        sys.exit("decided_when: --strengths must be in (0, 1] and --count at least 1")
    if args.source == "noise":
        strengths = [1.0]
    os.makedirs(args.out, exist_ok=True)
    items = [(truth["caption"], source_image(image, truth, args.source))
             for image, truth in seen_scenes_of_kind(args.kind, args.count)]
    for k, (_, image) in enumerate(items):
        Image.fromarray(image).save(os.path.join(args.out, f"source{k}.png"))
    print(f"{args.kind}: {args.count} prompts x 4 images, guidance {args.cfg:g}, from the {args.source} image")
    for s in strengths:
        right, bound = 0, {}
        for k, (caption, _) in enumerate(items):
            pattern = os.path.join(args.out, f"s{s:g}-p{k}-i{{index}}.png")
            start = [] if args.source == "noise" else \
                ["--init-image", os.path.join(args.out, f"source{k}.png"), "--strength", str(s)]
            cmd = [args.sdvk, "generate", *start, "--prompt", caption, "--batch", "4", "--seed", str(k),
                   "--cfg-scale", str(args.cfg), "--output", pattern, "--overwrite", "--quiet"]
            if args.model:
                cmd += ["--model", args.model]
            if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:
                sys.exit(f"decided_when: sdvk generate failed on prompt {k}: {caption}")
            spec = detector.parse_caption(caption)
            for b in range(4):
                image = np.asarray(Image.open(pattern.replace("{index}", str(b))).convert("RGB"))
                check = detector.check(image, spec)
                right += check["correct"]
                if args.kind == "two different":
                    for key, value in binding(spec, check["detected"]["objects"]).items():
                        bound[key] = bound.get(key, 0) + value
        n = 4 * len(items)
        pairs = "".join(f", {key} {100 * value / n:.0f}%" for key, value in bound.items())
        where = "text to image" if args.source == "noise" else f"strength {s:g} (from about t={min(999, round(1000 * s))})"
        print(f"{where}: whole prompt right "
              f"{right}/{n} = {100 * right / n:.0f}%{pairs}", flush=True)


if __name__ == "__main__":
    main()
