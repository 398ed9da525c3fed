#!/usr/bin/env python3
"""How well a VAE checkpoint keeps what the detector reads: fresh whole 64x64 images from
shapes_data (seen split and held-out shape+colour pairs), encoded to the posterior mean,
decoded, rounded to uint8 and checked against their full ground truth with detector.check.

Prints per split: fully right % (every object's shape, colour, size, position, the object
count and the background), per-attribute %, plain L1 in [-1,1] units, and the misses'
shape confusions (truth -> read). The same images always (a function of --seed and index;
seed 7 is a stream no training script draws).

  python3 train/eval_vae.py --vae runs/vae [--count 256] [--splits train,heldout] [--json out.json]
"""
import argparse
import json
import os
import time
from collections import Counter

import numpy as np
import torch

import common
import detector
import shapes_data as sd
from vae_model import AutoencoderKL

ATTRS = ("count", "shape", "colour", "size", "position", "background")


def load_vae(run_dir, device):
    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    vae = AutoencoderKL(cfg).to(device)
    common.load_checkpoint(run_dir, {"vae": vae}, None, device)
    return vae.eval()


def full_spec(truth):
    return {"background": truth["background"],
            "objects": [{k: o[k] for k in ("shape", "colour", "size", "position")} for o in truth["objects"]]}


def evaluate(vae, device, seed, count, split, batch=64):
    """{"correct", "count", "attributes": {name: [right, stated]}, "l1", "confusions"}."""
    correct, l1_sum, n_seen = 0, 0.0, 0
    attrs = {k: [0, 0] for k in ATTRS}
    confusions = Counter()
    with torch.no_grad():
        for start in range(0, count, batch):
            n = min(batch, count - start)
            samples = [sd.sample(seed, i, split) for i in range(start, start + n)]
            x = torch.from_numpy(np.stack([sd.image_to_tensor_values(im) for im, _ in samples])).to(device)
            mean, _ = vae.encode(x)
            rec = vae.decode(mean)
            l1_sum += float((rec.clamp(-1, 1) - x).abs().mean()) * n
            n_seen += n
            rec8 = ((rec.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            for im, (_, truth) in zip(rec8, samples):
                r = detector.check(im, full_spec(truth))
                correct += r["correct"]
                for k, (a, b) in r["attributes"].items():
                    attrs[k][0] += a
                    attrs[k][1] += b
                if not r["correct"]:
                    found = r["detected"]["objects"]
                    for o in truth["objects"]:
                        # the detected object nearest the true centre
                        near = min(found, key=lambda f: (f["center"][0] - o["center"][0]) ** 2 +
                                   (f["center"][1] - o["center"][1]) ** 2, default=None)
                        got = near["shape"] if near is not None else "missing"
                        if got != o["shape"]:
                            confusions[f"{o['shape']}->{got}"] += 1
    return {"correct": correct, "count": n_seen, "attributes": attrs, "l1": l1_sum / max(n_seen, 1),
            "confusions": dict(confusions.most_common())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vae", required=True, help="a VAE run folder (config.json + ckpt.safetensors)")
    ap.add_argument("--count", type=int, default=256, help="images per split")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--splits", default="train,heldout")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    vae = load_vae(args.vae, device)
    step = json.loads(__import__("safetensors_io").load_metadata(
        os.path.join(args.vae, "ckpt.safetensors"))["state"])["step"]
    results = {"vae": args.vae, "step": step}
    for split in args.splits.split(","):
        t0 = time.time()
        r = evaluate(vae, device, args.seed, args.count, split)
        results[split] = r
        per = " ".join(f"{k} {100.0 * a / max(b, 1):.1f}" for k, (a, b) in r["attributes"].items())
        print(f"{args.vae} step {step} {split}: fully right {r['correct']}/{r['count']} = "
              f"{100.0 * r['correct'] / r['count']:.1f}%  L1 {r['l1']:.4f}  [{per}]  ({time.time() - t0:.0f} s)")
        if r["confusions"]:
            print("  shape misses: " + ", ".join(f"{k} {v}" for k, v in r["confusions"].items()))
    if args.json:
        common.write_json(args.json, results)


if __name__ == "__main__":
    main()
