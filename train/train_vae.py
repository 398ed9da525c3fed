#!/usr/bin/env python3
"""Trains the demo AutoencoderKL on generated shapes images (64x64 -> 16x16x4 latents).

Loss: L1 + L2 reconstruction of x from a posterior sample (pixels away from the background
weighted 1 + --object-weight, pixels next to an edge + --edge-weight), plus a small KL term
keeping the latents near a unit Gaussian (as SD's VAE, without its GAN/perceptual terms:
flat-coloured shapes do not need them). Images are drawn fresh every step from the seeded
stream and cropped at random (--crop; --object-crops of them around an object) to save time.
The learning rate warms up, stays constant and, with --lr-decay-from, decays on a cosine.

  nice -n 19 python3 train/train_vae.py --run-dir runs/vae [--resume] [--steps N] [--threads 2]
"""
import argparse
import os

import torch
import torch.nn.functional as F

import common
from vae_model import AutoencoderKL, vae_config


def grow_from(vae, run_dir):
    """Starts `vae` from another run's weights (fresh optimizer, step 0). `vae` may have more
    layers per block than that run: every resnet the old model lacks gets a zero conv2, which
    makes it an identity (same channels, no shortcut)."""
    added = common.load_grown(vae, run_dir, "vae", ".resnets.", "conv2")
    print(f"initialised from {run_dir}; new identity resnets: {added}", flush=True)


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
    ap.add_argument("--init-from", help="start from this run's VAE weights (step 0, fresh optimizer); the "
                    "config may have more --layers-per-block: the added resnets start as identities")
    ap.add_argument("--object-crops", type=float, default=0.0,
                    help="share of the crops placed around a random object pixel instead of anywhere")
    ap.add_argument("--edge-weight", type=float, default=0.0,
                    help="extra loss weight on pixels within 1 px of an edge in the target (where the 3x3 "
                         "neighbourhood's colour range exceeds 0.1): corners and thin arms are a tiny part "
                         "of the object pixels, and blurred ones turn stars into circles")
    ap.add_argument("--sharpen-from", type=int, default=0,
                    help="--object-crops and --edge-weight apply from this step on (the bundled VAE's "
                         "first 2500 steps had neither)")
    ap.add_argument("--decoder-only", action="store_true",
                    help="train the decoder only: the encoder (and so every cached latent and the UNet "
                         "trained on them) stays exactly as it is; give it again with --resume")
    common.add_lr_schedule_args(ap, warmup=100)
    args = ap.parse_args()
    device = common.setup(args)
    print("args " + " ".join(f"{k}={v}" for k, v in sorted(vars(args).items())), flush=True)

    cfg_path = os.path.join(args.run_dir, "config.json")
    if args.resume:
        import json
        cfg = json.load(open(cfg_path))
    else:
        cfg = vae_config([int(w) for w in args.widths.split(",")], args.layers_per_block, args.groups)
        common.write_json(cfg_path, cfg)
    vae = AutoencoderKL(cfg).to(device)
    if args.init_from and not args.resume:
        grow_from(vae, args.init_from)
    if args.decoder_only:
        # Frozen encoder: its grown resnets keep their zero conv2, so encodings stay bit-identical.
        for p in list(vae.encoder.parameters()) + list(vae.quant_conv.parameters()):
            p.requires_grad_(False)
    trained = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.0)
    if args.resume:
        common.require_same_flag(args.run_dir, "decoder_only", args.decoder_only, "--decoder-only")
    step, _ = common.resume(args, {"vae": vae}, opt, device)
    extra = {"decoder_only": args.decoder_only}
    print(f"vae parameters {sum(p.numel() for p in vae.parameters()) / 1e6:.3f}M, "
          f"trained {sum(p.numel() for p in trained) / 1e6:.3f}M", flush=True)

    stop = common.StopFlag()
    progress = common.Progress(args.log_every, args.steps)
    vae.train()
    while step < args.steps and not stop.stop:
        # Data for step s is images s*B..s*B+B-1 of the stream; seed+1 keeps it apart from the
        # streams other scripts draw.
        x, _, _ = common.image_batch(args.seed + 1, step, args.batch)
        # Background = the median colour of the whole image's border (objects touch a few
        # border pixels at most).
        border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], dim=2)  # [B,3,4*S]
        bg = border.median(dim=2).values[:, :, None, None].to(device)
        if args.crop < x.shape[-1]:
            # One crop offset per image, a multiple of 4 so the latent grid stays aligned.
            n = (x.shape[-1] - args.crop) // 4 + 1
            offs = torch.randint(0, n, (x.shape[0], 2)) * 4
            if args.object_crops and step >= args.sharpen_from:
                # Some crops centred near a random object pixel (+- a quarter crop), so more of
                # the compute goes to shapes' edges and corners than to flat background.
                obj = (x - bg.cpu()).abs().amax(1) > 0.1  # [B,S,S]
                pick = torch.rand(x.shape[0]) < args.object_crops
                jitter = torch.randint(-(args.crop // 4), args.crop // 4 + 1, (x.shape[0], 2))
                u = torch.rand(x.shape[0])
                for i in range(x.shape[0]):
                    ys, xs = torch.nonzero(obj[i], as_tuple=True)
                    if pick[i] and len(ys):
                        k = min(int(u[i] * len(ys)), len(ys) - 1)
                        c = torch.stack([ys[k], xs[k]]) - args.crop // 2 + jitter[i]
                        offs[i] = (torch.div(c, 4, rounding_mode="floor") * 4).clamp(0, (n - 1) * 4)
            x = torch.stack([im[:, oy:oy + args.crop, ox:ox + args.crop] for im, (oy, ox) in zip(x, offs.tolist())])
        x = x.to(device)
        weight = 1.0 + args.object_weight * ((x - bg).abs().amax(1, keepdim=True) > 0.1).float()
        if args.edge_weight and step >= args.sharpen_from:
            local_range = F.max_pool2d(x, 3, 1, 1) + F.max_pool2d(-x, 3, 1, 1)  # 3x3 max - min
            weight = weight + args.edge_weight * (local_range.amax(1, keepdim=True) > 0.1).float()
        lr = common.learning_rate(args, step)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.set_grad_enabled(not args.decoder_only):
            mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        xr = vae.decode(z)
        l1 = (weight * (xr - x).abs()).mean() / weight.mean()
        l2 = (weight * (xr - x).pow(2)).mean() / weight.mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        loss = l1 + l2 + args.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        step += 1
        progress.update(step, loss=loss.item(), l1=l1.item(), l2=l2.item(), kl=kl.item())
        if step % args.save_every == 0:
            common.save_checkpoint(args.run_dir, step, {"vae": vae}, opt, extra)
    common.save_checkpoint(args.run_dir, step, {"vae": vae}, opt, extra)
    print(f"saved {args.run_dir}/ckpt.safetensors at step {step}", flush=True)
    if stop.stop:
        raise SystemExit(143)  # stopped by a signal: a driver script must not go on


if __name__ == "__main__":
    main()
