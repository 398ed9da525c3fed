#!/usr/bin/env python3
"""Zero-shot accuracy of a CLIP for colour and shape on images from shapes_data.py, through
`sdvk classify` (the number the README quotes).

Usage:
  python3 train/shapes_data.py --out runs/zs --count 300 --seed 1 --png 300
  python3 train/zero_shot.py --data runs/zs [--sdvk build/sdvk] [--clip models/demo-clip]
        [--colour-template "a {} shape"] [--shape-template "a {}" | --shape-template FILE]

An image counts as right when the top label is its object's colour (shape); images of two
objects count when the top label is either object's, against a chance of (distinct values) / labels.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes_data import COLOURS, SHAPES  # noqa: E402


def classify(args, labels, template, images):
    flag = "--templates" if os.path.isfile(template) else "--template"  # a file: a prompt ensemble
    cmd = [args.sdvk, "classify", "--json", "--top", "1", "--labels", ",".join(labels), flag, template]
    if args.clip:
        cmd += ["--clip", args.clip]
    out = subprocess.run(cmd + images, check=True, capture_output=True, text=True).stdout
    return {r["image"]: r["top"][0]["label"] for r in json.loads(out)["results"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder from shapes_data.py --png N")
    ap.add_argument("--sdvk", default="build/sdvk")
    ap.add_argument("--clip", default="")
    ap.add_argument("--colour-template", default="a {} shape")
    ap.add_argument("--shape-template", default="a {}")
    args = ap.parse_args()
    truth = {}
    for path in glob.glob(os.path.join(args.data, "captions_*.jsonl")):
        split = os.path.basename(path)[len("captions_"):-len(".jsonl")]
        for line in open(path):
            r = json.loads(line)
            png = os.path.join(args.data, f"{split}_{r['index']:05d}.png")
            if os.path.exists(png):
                truth[png] = r["truth"]["objects"]
    images = sorted(truth)
    if not images:
        sys.exit(f"no images with captions in {args.data} (run shapes_data.py with --png N)")
    for what, labels, template in (("colour", list(COLOURS), args.colour_template),
                                   ("shape", SHAPES, args.shape_template)):
        top = classify(args, labels, template, images)
        for n_objects in (1, 2):
            subset = [p for p in images if len(truth[p]) == n_objects]
            if not subset:
                continue
            right = sum(top[p] in {o[what] for o in truth[p]} for p in subset)
            chance = sum(len({o[what] for o in truth[p]}) for p in subset) / len(labels) / len(subset)
            print(f"{what:6s} {n_objects} object(s): {right}/{len(subset)} = {100 * right / len(subset):.1f}% "
                  f"(chance {100 * chance:.1f}%, template \"{template}\")")


if __name__ == "__main__":
    main()
