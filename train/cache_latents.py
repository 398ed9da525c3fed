#!/usr/bin/env python3
"""Encodes a fixed set of training images with the trained VAE, once, for UNet training.

Writes to --out: mean.npy and std.npy ([N,4,16,16] float16, the posterior of each image),
captions.jsonl (caption + ground truth per image, same order), and meta.json with the
scaling factor (1 / std of sampled latents, as Stable Diffusion chose 0.18215) and the VAE's
reconstruction error on whole 64x64 images (the VAE trains on crops) and the share of the
first 512 reconstructions the detector reads exactly right (the ceiling of the pipeline).

  nice -n 19 python3 train/cache_latents.py --vae runs/vae --out runs/latents [--count 20000]
"""
import argparse
import json
import os
import time

import numpy as np
import torch

import common
import detector
import shapes_data as sd
from vae_model import AutoencoderKL


def load_vae(run_dir, device):
    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    vae = AutoencoderKL(cfg).to(device)
    common.load_checkpoint(run_dir, {"vae": vae}, None, device)
    return vae.eval()


def posterior_arrays(mean, logvar):
    """The VAE posterior as a latent cache stores it: (mean, std), float16 numpy."""
    return mean.cpu().numpy().astype(np.float16), torch.exp(0.5 * logvar).cpu().numpy().astype(np.float16)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vae", required=True, help="the VAE's run folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    vae = load_vae(args.vae, device)
    os.makedirs(args.out, exist_ok=True)
    means, stds, l1s = [], [], []
    detected, checked = 0, 0
    t0 = time.time()
    with open(os.path.join(args.out, "captions.jsonl.tmp"), "w") as f, torch.no_grad():
        for start in range(0, args.count, args.batch):
            n = min(args.batch, args.count - start)
            imgs, truths = [], []
            for i in range(start, start + n):
                image, truth = sd.sample(args.seed, i, "train")
                imgs.append(sd.image_to_tensor_values(image))
                truths.append(truth)
                f.write(json.dumps({"index": i, "caption": truth["caption"], "truth": truth}) + "\n")
            x = torch.from_numpy(np.stack(imgs)).to(device)
            mean, logvar = vae.encode(x)
            for out, array in zip((means, stds), posterior_arrays(mean, logvar)):
                out.append(array)
            if start < 512:  # reconstruction check on the first images
                rec = vae.decode(mean)
                l1s.append(float((rec - x).abs().mean()))
                # The detector on reconstructions: a ceiling for the whole pipeline's adherence.
                rec8 = ((rec.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
                for im, t in zip(rec8, truths):
                    spec = {"background": t["background"], "objects": [
                        {k: o[k] for k in ("shape", "colour", "size", "position")} for o in t["objects"]]}
                    detected += detector.check(im, spec)["correct"]
                    checked += 1
            if (start // args.batch) % 20 == 0:
                print(f"{start + n}/{args.count} images, {time.time() - t0:.0f} s", flush=True)
    mean = np.concatenate(means)
    std = np.concatenate(stds)
    sampled = mean.astype(np.float32) + std.astype(np.float32) * np.random.default_rng(0).standard_normal(mean.shape)
    meta = {
        "count": args.count, "seed": args.seed, "vae": args.vae,
        "scaling_factor": float(1.0 / sampled.std()),
        "latent_mean": float(sampled.mean()),
        "recon_l1_whole_images": float(np.mean(l1s)),
        "detector_correct_on_reconstructions": detected / max(checked, 1),
        "mean_std": float(std.astype(np.float32).mean()),
    }
    np.save(os.path.join(args.out, "mean.npy"), mean)
    np.save(os.path.join(args.out, "std.npy"), std)
    os.replace(os.path.join(args.out, "captions.jsonl.tmp"), os.path.join(args.out, "captions.jsonl"))
    common.write_json(os.path.join(args.out, "meta.json"), meta)
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
