#!/usr/bin/env python3
"""Checks that the engine computes what the PyTorch modules compute on the exported demo
model: runs `sdvk component` (unet, vae-decode, vae-encode, text-encoder, clip) on random
inputs and compares with our modules loaded from the same float16 files, within 1e-4 of the
reference's max magnitude (both sides compute in float32 on the same float16 weights).

  python3 train/check_export.py --sdvk build/sdvk [--models models]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

import safetensors_io
from check_modules import compare, load_strict
from clip_model import CLIPModel, CLIPTextModel
from tokenizer import SpmTokenizer
from unet_model import UNet2DConditionModel
from vae_model import AutoencoderKL


def run_sdvk(sdvk, kind, model, inputs, tmp):
    inp, out = os.path.join(tmp, kind + "_in.safetensors"), os.path.join(tmp, kind + "_out.safetensors")
    safetensors_io.save(inp, inputs)
    subprocess.run([sdvk, "component", kind, "--model", model, "--input", inp, "--output", out], check=True)
    return safetensors_io.load(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdvk", required=True)
    ap.add_argument("--models", default="models")
    args = ap.parse_args()
    torch.manual_seed(0)
    g = np.random.default_rng(0)
    sd = os.path.join(args.models, "demo-sd")
    clip_dir = os.path.join(args.models, "demo-clip")
    ok = True
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        tok = SpmTokenizer.__new__(SpmTokenizer)
        tcfg = json.load(open(os.path.join(sd, "text_encoder", "config.json")))
        tok.model_path = os.path.join(sd, "tokenizer", "spiece.model")
        tok.bos, tok.eos, tok.pad = tcfg["bos_token_id"], tcfg["eos_token_id"], tcfg["pad_token_id"]
        tok.cache = {}
        ids = tok.windows(["a small red star in the top left corner on a white background", "",
                           "two blue circles"])

        text = load_strict(CLIPTextModel(tcfg), os.path.join(sd, "text_encoder", "model.safetensors")).text_model.eval()
        got = run_sdvk(args.sdvk, "text-encoder", os.path.join(sd, "text_encoder"),
                       {"input_ids": ids.numpy().astype(np.int64)}, tmp)
        want = text(ids)
        for k in ("last_hidden_state", "pooler_output"):
            ok &= compare("text-encoder " + k, torch.from_numpy(got[k]), want[k].numpy())
        context = want["last_hidden_state"]

        ucfg = json.load(open(os.path.join(sd, "unet", "config.json")))
        unet = load_strict(UNet2DConditionModel(ucfg).eval(), os.path.join(sd, "unet", "diffusion_pytorch_model.safetensors"))
        s = ucfg["sample_size"]
        sample = g.standard_normal((3, 4, s, s)).astype(np.float32)
        t = np.array([999.0, 500.0, 1.0], dtype=np.float32)
        got = run_sdvk(args.sdvk, "unet", os.path.join(sd, "unet"),
                       {"sample": sample, "timestep": t, "encoder_hidden_states": context.numpy()}, tmp)
        ok &= compare("unet out", torch.from_numpy(got["out"]),
                      unet(torch.from_numpy(sample), torch.from_numpy(t), context).numpy())

        vcfg = json.load(open(os.path.join(sd, "vae", "config.json")))
        vae = load_strict(AutoencoderKL(vcfg).eval(), os.path.join(sd, "vae", "diffusion_pytorch_model.safetensors"))
        latent = g.standard_normal((1, 4, s, s)).astype(np.float32)
        got = run_sdvk(args.sdvk, "vae-decode", os.path.join(sd, "vae"), {"latent": latent}, tmp)
        ok &= compare("vae decoded", torch.from_numpy(got["decoded"]), vae.decode(torch.from_numpy(latent)).numpy())
        image = np.clip(g.standard_normal((1, 3, 4 * s, 4 * s)), -1, 1).astype(np.float32)
        got = run_sdvk(args.sdvk, "vae-encode", os.path.join(sd, "vae"), {"image": image}, tmp)
        ok &= compare("vae moments", torch.from_numpy(got["moments"]), vae.moments(torch.from_numpy(image)).numpy())

        ccfg = json.load(open(os.path.join(clip_dir, "config.json")))
        clip = load_strict(CLIPModel(ccfg).eval(), os.path.join(clip_dir, "model.safetensors"))
        size = ccfg["vision_config"]["image_size"]
        pixels = g.standard_normal((2, 3, size, size)).astype(np.float32)
        got = run_sdvk(args.sdvk, "clip", clip_dir, {"input_ids": ids.numpy().astype(np.int64), "pixel_values": pixels}, tmp)
        te, ie = clip.text_embeds(ids), clip.image_embeds(torch.from_numpy(pixels))
        ok &= compare("clip text_embeds", torch.from_numpy(got["text_embeds"]), te.numpy())
        ok &= compare("clip image_embeds", torch.from_numpy(got["image_embeds"]), ie.numpy())
    print("the engine matches the PyTorch modules on the exported model" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
