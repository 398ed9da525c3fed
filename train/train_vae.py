#!/usr/bin/env python3
"""Trains the demo AutoencoderKL on generated shapes images (64x64 -> 16x16x4 latents).

Loss: L1 + L2 reconstruction of x from a posterior sample (pixels away from the background
weighted 1 + --object-weight), plus a small KL term keeping the
latents near a unit Gaussian (as SD's VAE, without its GAN/perceptual terms: flat-coloured
shapes do not need them). Images are drawn fresh every step from the seeded stream and
cropped at random (--crop) to save time.

  nice -n 19 python3 train/train_vae.py --run-dir runs/vae [--resume] [--steps N] [--threads 2]
"""
import argparse
import os

import torch

import common
from vae_model import AutoencoderKL, vae_config


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(ap, steps=3000, batch=16, lr=4e-4)
    ap.add_argument("--kl-weight", type=float, default=1e-4)
    ap.add_argument("--widths", default="32,64,64", help="block_out_channels")
    ap.add_argument("--layers-per-block", type=int, default=1)
    ap.add_argument("--groups", type=int, default=16)
    ap.add_argument("--object-weight", type=float, default=4.0,
                    help="extra loss weight on pixels away from the background colour: objects are a "
                         "small part of each image, and with plain averaging their colours came out "
                         "washed out after 500 steps")
    ap.add_argument("--crop", type=int, default=32,
                    help="train on random CROPxCROP crops (the convs are local: 4x the images per second "
                         "at 32); 64 = whole images")
    args = ap.parse_args()
    device = common.setup(args)

    cfg_path = os.path.join(args.run_dir, "config.json")
    if args.resume:
        import json
        cfg = json.load(open(cfg_path))
    else:
        cfg = vae_config([int(w) for w in args.widths.split(",")], args.layers_per_block, args.groups)
        common.write_json(cfg_path, cfg)
    vae = AutoencoderKL(cfg).to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
    step, _ = common.resume(args, {"vae": vae}, opt, device)
    print(f"vae parameters {sum(p.numel() for p in vae.parameters()) / 1e6:.3f}M", flush=True)

    stop = common.StopFlag()
    progress = common.Progress(args.log_every, args.steps)
    vae.train()
    while step < args.steps and not stop.stop:
        # Data for step s is images s*B..s*B+B-1 of the stream; seed+1 keeps it apart from the
        # streams other scripts draw.
        x, _ = common.image_batch(args.seed + 1, step, args.batch)
        # Background = the median colour of the whole image's border (objects touch a few
        # border pixels at most).
        border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], dim=2)  # [B,3,4*S]
        bg = border.median(dim=2).values[:, :, None, None].to(device)
        if args.crop < x.shape[-1]:
            # One crop offset per image, a multiple of 4 so the latent grid stays aligned.
            n = (x.shape[-1] - args.crop) // 4 + 1
            offs = torch.randint(0, n, (x.shape[0], 2)) * 4
            x = torch.stack([im[:, oy:oy + args.crop, ox:ox + args.crop] for im, (oy, ox) in zip(x, offs.tolist())])
        x = x.to(device)
        weight = 1.0 + args.object_weight * ((x - bg).abs().amax(1, keepdim=True) > 0.1).float()
        # A short warm-up avoids the early blow-ups AdamW can have at full rate.
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, (step + 1) / 100)
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        xr = vae.decode(z)
        l1 = (weight * (xr - x).abs()).mean() / weight.mean()
        l2 = (weight * (xr - x).pow(2)).mean() / weight.mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        loss = l1 + l2 + args.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        progress.update(step, loss=loss.item(), l1=l1.item(), l2=l2.item(), kl=kl.item())
        if step % args.save_every == 0:
            common.save_checkpoint(args.run_dir, step, {"vae": vae}, opt)
    common.save_checkpoint(args.run_dir, step, {"vae": vae}, opt)
    print(f"saved {args.run_dir}/ckpt.safetensors at step {step}", flush=True)
    if stop.stop:
        raise SystemExit(143)  # stopped by a signal: a driver script must not go on


if __name__ == "__main__":
    main()
