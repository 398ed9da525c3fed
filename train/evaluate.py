#!/usr/bin/env python3
"""Prompt adherence of the exported demo model, measured in PyTorch (a check of the training
while the engine's own pipeline is not there yet): generates images for captions of seen and
held-out shape+colour combinations with DDIM + classifier-free guidance, checks each image
with the programmatic detector against what its caption states, and reports attribute and
whole-prompt accuracy, the mean CLIP cosine, and the same after --best-of N CLIP reranking.

  python3 train/evaluate.py --models models [--count 24] [--steps 25] [--cfg 5] [--best-of 4] [--grid out.png]
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import detector
from adherence import prompt_set, tally
from check_modules import load_strict
from clip_model import CLIPModel, CLIPTextModel
from tokenizer import SpmTokenizer
from train_clip import normalise
from train_unet import sd_alphas_cumprod
from unet_model import UNet2DConditionModel
from vae_model import AutoencoderKL


class Pipeline:
    def __init__(self, models):
        sd_dir, clip_dir = os.path.join(models, "demo-sd"), os.path.join(models, "demo-clip")
        ucfg = json.load(open(os.path.join(sd_dir, "unet", "config.json")))
        self.unet = load_strict(UNet2DConditionModel(ucfg).eval(),
                                os.path.join(sd_dir, "unet", "diffusion_pytorch_model.safetensors"))
        vcfg = json.load(open(os.path.join(sd_dir, "vae", "config.json")))
        self.vae = load_strict(AutoencoderKL(vcfg).eval(),
                               os.path.join(sd_dir, "vae", "diffusion_pytorch_model.safetensors"))
        self.scale = vcfg["scaling_factor"]
        # The pipeline's own text encoder: since the UNet trains with its text tower, it is no
        # longer the scorer's.
        tcfg = json.load(open(os.path.join(sd_dir, "text_encoder", "config.json")))
        self.text = load_strict(CLIPTextModel(tcfg), os.path.join(sd_dir, "text_encoder", "model.safetensors")).text_model.eval()
        ccfg = json.load(open(os.path.join(clip_dir, "config.json")))
        self.clip = load_strict(CLIPModel(ccfg).eval(), os.path.join(clip_dir, "model.safetensors"))
        self.tok = SpmTokenizer.__new__(SpmTokenizer)
        t = ccfg["text_config"]
        self.tok.model_path = os.path.join(clip_dir, "spiece.model")
        self.tok.bos, self.tok.eos, self.tok.pad, self.tok.cache = t["bos_token_id"], t["eos_token_id"], t["pad_token_id"], {}
        self.latent_size = ucfg["sample_size"]
        self.acp = sd_alphas_cumprod()
        scheduler = json.load(open(os.path.join(sd_dir, "scheduler", "scheduler_config.json")))
        self.v_prediction = scheduler.get("prediction_type", "epsilon") == "v_prediction"

    @torch.no_grad()
    def generate(self, prompts, seeds, steps=25, cfg=5.0):
        """DDIM (eta 0, 'leading' spacing, steps_offset 1, as SD's scheduler configs; the model's
        prediction type) -> uint8 images."""
        ids = self.tok.windows(list(prompts) + [""] * len(prompts))
        ctx = self.text(ids)["last_hidden_state"]
        x = torch.stack([torch.randn(4, self.latent_size, self.latent_size, generator=torch.Generator().manual_seed(s))
                         for s in seeds])
        ratio = 1000 // steps
        ts = (np.arange(steps) * ratio + 1)[::-1]
        for i, t in enumerate(ts):
            a = self.acp[t]
            a_prev = self.acp[ts[i + 1]] if i + 1 < len(ts) else self.acp[0]
            out = self.unet(torch.cat([x, x]), torch.full((2 * len(x),), float(t)), ctx)
            cond, uncond = out.chunk(2)
            out = uncond + cfg * (cond - uncond)
            if self.v_prediction:  # v = sqrt(a) noise - sqrt(1-a) x0
                x0 = a.sqrt() * x - (1 - a).sqrt() * out
                e = (1 - a).sqrt() * x + a.sqrt() * out
            else:
                e = out
                x0 = (x - (1 - a).sqrt() * e) / a.sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e
        img = self.vae.decode(x / self.scale)
        img = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return img.permute(0, 2, 3, 1).numpy()

    @torch.no_grad()
    def clip_cosine(self, images, prompts):
        px = normalise(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1)
        ie = F.normalize(self.clip.image_embeds(px), dim=-1)
        te = F.normalize(self.clip.text_embeds(self.tok.windows(list(prompts))), dim=-1)
        return (ie * te).sum(-1).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models")
    ap.add_argument("--count", type=int, default=24, help="prompts per set (seen, held-out)")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=5.0)
    ap.add_argument("--best-of", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grid", default="", help="save the first images of each set here (PNG)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline(args.models)
    rows = []
    report = {}
    for split in ("train", "heldout"):
        prompts = prompt_set(split, args.count)
        first, best = [], []
        cos_first, cos_best = [], []
        for i, p in enumerate(prompts):
            seeds = [10 * i + k for k in range(args.best_of)]
            imgs = pipe.generate([p] * len(seeds), seeds, args.steps, args.cfg)
            cos = pipe.clip_cosine(imgs, [p] * len(seeds))
            spec = detector.parse_caption(p)
            first.append(detector.check(imgs[0], spec))
            k = int(np.argmax(cos))
            best.append(detector.check(imgs[k], spec))
            cos_first.append(float(cos[0]))
            cos_best.append(float(cos[k]))
            if i < 8:
                rows.append(imgs[0])
        name = "seen" if split == "train" else "held-out"
        w1, a1 = tally(first)
        wb, ab = tally(best)
        report[name] = {"whole": w1, "attributes": a1, "clip": float(np.mean(cos_first)),
                        f"whole_best_of_{args.best_of}": wb, f"attributes_best_of_{args.best_of}": ab,
                        f"clip_best_of_{args.best_of}": float(np.mean(cos_best))}
        print(f"{name}: whole-prompt {w1:.3f} (best of {args.best_of}: {wb:.3f}), CLIP {np.mean(cos_first):.3f} "
              f"(best of {args.best_of}: {np.mean(cos_best):.3f})")
        print("  attributes " + ", ".join(f"{k} {v:.3f}/{ab[k]:.3f}" for k, v in a1.items() if v is not None))
    print(json.dumps(report))
    if args.grid:
        g = Image.new("RGB", (64 * 8, 64 * ((len(rows) + 7) // 8)))
        for i, im in enumerate(rows):
            g.paste(Image.fromarray(im), ((i % 8) * 64, (i // 8) * 64))
        g.save(args.grid)


if __name__ == "__main__":
    main()
