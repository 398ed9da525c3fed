#!/usr/bin/env python3
"""Encodes a wrong twin of each two-object scene in a latent cache, for `train_unet.py --corrected`.

A twin is its scene with one mistake of the kind the UNet makes when it draws two different
objects, the caption unchanged: the second object in the first one's colour ("copy colour") or
shape ("copy shape"), or the two colours swapped ("swap colours"). Started from a noised twin,
the UNet is trained to denoise to the right scene, so that it learns to mend a pairing it began
wrongly; the plain training never shows it a noisy image that disagrees with its caption.
"gray one" draws one object without colour (sd.NEUTRAL), so that it must take the caption's
other colour; "gray alike" does the same where the two objects share a colour ("two blue
stars"), so that a model taught both learns "the caption's colour for this object", not "a
colour the other one lacks".

Twins are made only of scenes where there is no doubt which object is wrong: for the first three
mistakes the objects differ in both shape and colour ("two red triangles" for "a red triangle
and a blue triangle" would not say which one should turn blue), for "gray one" in colour, and
for "gray alike" they share it.

Writes to --out: mean.npy and std.npy ([N,4,16,16] float16, as cache_latents.py), source.npy
(the row of --latents each twin is a twin of) and twins.jsonl (the wrong ground truth).

  nice -n 19 python3 train/cache_corrupted.py --vae runs/vae --latents runs/latents --out runs/corrupted
"""
import argparse
import copy
import json
import os
import random
import time

import numpy as np
import torch

import common
import detector
import shapes_data as sd
from cache_latents import load_vae, posterior_arrays

MISTAKES = ("copy colour", "copy shape", "swap colours", "gray one", "gray alike")


def applies(mistake, truth):
    """Whether `mistake` fits this scene of two objects and leaves no doubt which one is wrong."""
    a, b = truth["objects"]
    if mistake == "gray alike":
        return a["colour"] == b["colour"]
    return a["colour"] != b["colour"] and (mistake == "gray one" or a["shape"] != b["shape"])


def twin(truth, mistake, rng):
    """The scene with one mistake; which object takes the other's attribute is drawn from rng."""
    wrong = copy.deepcopy(truth)
    objs = wrong["objects"]
    if rng.random() < 0.5:
        objs.reverse()
    if mistake == "copy colour":
        objs[1]["colour"] = objs[0]["colour"]
    elif mistake == "copy shape":
        objs[1]["shape"] = objs[0]["shape"]
    elif mistake in ("gray one", "gray alike"):
        objs[1]["colour"] = sd.NEUTRAL
    else:
        objs[0]["colour"], objs[1]["colour"] = objs[1]["colour"], objs[0]["colour"]
    return wrong


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vae", required=True, help="the VAE's run folder (the one --latents was encoded with)")
    ap.add_argument("--latents", required=True, help="cache_latents.py's folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--twins", type=int, default=2, help="wrong twins per scene")
    ap.add_argument("--mistakes", default=",".join(MISTAKES[:3]),
                    help=f"comma-separated, drawn at random per twin: {', '.join(MISTAKES)}")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    mistakes = args.mistakes.split(",")
    if not set(mistakes) <= set(MISTAKES):
        raise SystemExit(f"cache_corrupted: --mistakes: {args.mistakes}: each must be one of {', '.join(MISTAKES)}")
    torch.set_num_threads(args.threads)
    meta = json.load(open(os.path.join(args.latents, "meta.json")))
    if os.path.abspath(meta["vae"]) != os.path.abspath(args.vae):
        print(f"cache_corrupted: note: {args.latents} was encoded with {meta['vae']}, not {args.vae}")
    vae = load_vae(args.vae, torch.device("cpu"))
    rows = [json.loads(l) for l in open(os.path.join(args.latents, "captions.jsonl"))]
    jobs = []  # (source row, wrong truth)
    rng = random.Random(0)
    for i, row in enumerate(rows):
        caption = row["caption"]
        if detector.prompt_kind(detector.parse_caption(caption)) not in ("two different", "two alike"):
            continue
        fitting = [m for m in mistakes if applies(m, row["truth"])]
        for _ in range(args.twins if fitting else 0):
            jobs.append((i, twin(row["truth"], rng.choice(fitting), rng)))
    if not jobs:
        raise SystemExit(f"cache_corrupted: {args.latents} holds no two-object scene that --mistakes fits")
    os.makedirs(args.out, exist_ok=True)
    means, stds, t0 = [], [], time.time()
    with torch.no_grad():
        for start in range(0, len(jobs), args.batch):
            chunk = jobs[start:start + args.batch]
            x = torch.from_numpy(np.stack([sd.image_to_tensor_values(sd.render(t)) for _, t in chunk]))
            for out, array in zip((means, stds), posterior_arrays(*vae.encode(x))):
                out.append(array)
            if (start // args.batch) % 20 == 0:
                print(f"{start + len(chunk)}/{len(jobs)} twins, {time.time() - t0:.0f} s", flush=True)
    np.save(os.path.join(args.out, "mean.npy"), np.concatenate(means))
    np.save(os.path.join(args.out, "std.npy"), np.concatenate(stds))
    np.save(os.path.join(args.out, "source.npy"), np.array([i for i, _ in jobs], dtype=np.int64))
    with open(os.path.join(args.out, "twins.jsonl"), "w") as f:
        for i, t in jobs:
            f.write(json.dumps({"source": i, "truth": t}) + "\n")
    common.write_json(os.path.join(args.out, "meta.json"), {"latents": args.latents, "vae": args.vae,
                                                            "twins": len(jobs)})
    print(f"{len(jobs)} twins of {len({i for i, _ in jobs})} scenes in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
