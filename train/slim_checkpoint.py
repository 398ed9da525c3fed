#!/usr/bin/env python3
"""Copies a finished stage's run folder for committing under train/checkpoints/, without the
optimizer's moments (two thirds of an AdamW checkpoint): weights, EMA, step, RNG and config
stay, so run_all.sh sees the stage as finished and export.py reads it as before. Training on
from a slim copy starts a fresh optimizer (load_checkpoint says so).

  python3 train/slim_checkpoint.py runs/unet_attn16 train/checkpoints/unet_attn16
"""
import argparse
import json
import os
import shutil

import safetensors_io


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("out_dir")
    args = ap.parse_args()
    src = os.path.join(args.run_dir, "ckpt.safetensors")
    tensors = {k: v for k, v in safetensors_io.load(src).items() if not k.startswith("optimizer.")}
    meta = json.loads(safetensors_io.load_metadata(src)["state"])
    meta["optimizer"] = None
    os.makedirs(args.out_dir, exist_ok=True)
    for name in os.listdir(args.run_dir):
        if name.endswith(".json"):
            shutil.copyfile(os.path.join(args.run_dir, name), os.path.join(args.out_dir, name))
    dst = os.path.join(args.out_dir, "ckpt.safetensors")
    safetensors_io.save(dst, tensors, {"state": json.dumps(meta)})
    print(f"{dst}: step {meta['step']}, {os.path.getsize(dst) / 1e6:.1f} MB (was {os.path.getsize(src) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
