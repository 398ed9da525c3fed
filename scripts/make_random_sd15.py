#!/usr/bin/python3
"""Writes an SD 1.5-sized diffusers pipeline folder with random float16 weights: the released
configs (UNet 860 M, VAE 84 M, CLIP ViT-L text encoder 123 M parameters, 2.1 GB in all), the
bundled CLIP tokenizer and a PNDM scheduler. For measuring `generate` on file-backed weights of
the real size (peak RSS against the weights, load time) without a download; the images are
noise.

  /usr/bin/python3 scripts/make_random_sd15.py --out /tmp/sd15-random
  ./build/sdvk generate --model /tmp/sd15-random --prompt x --steps 1 --width 256 --height 256 --json

Weights: N(0, 0.02), norms 1 / 0, built module by module with train/'s PyTorch modules (their
parameter names are the checkpoints'), so no more than one network is in memory at a time.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "train"))
import clip_model  # noqa: E402
import safetensors_io  # noqa: E402
import unet_model  # noqa: E402
import vae_model  # noqa: E402

UNET = {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.21.4", "act_fn": "silu",
        "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": False,
        "cross_attention_dim": 768,
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
        "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
VAE = {"_class_name": "AutoencoderKL", "_diffusers_version": "0.21.4", "act_fn": "silu",
       "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
       "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
       "sample_size": 512, "scaling_factor": 0.18215, "up_block_types": ["UpDecoderBlock2D"] * 4}
TEXT = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_act": "quick_gelu",
        "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
        "max_position_embeddings": 77, "vocab_size": 49408, "layer_norm_eps": 1e-05, "bos_token_id": 49406,
        "eos_token_id": 49407, "pad_token_id": 1, "projection_dim": 768, "torch_dtype": "float16"}
SCHEDULER = {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
             "steps_offset": 1, "clip_sample": False}


def randomise(module, gen):
    """N(0, 0.02) for weights, 1 / 0 for norms, as sdvk's random_component does."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


def write(folder, filename, config, module, gen, prefix=""):
    os.makedirs(folder, exist_ok=True)
    randomise(module, gen)
    tensors = {prefix + k: v.detach().half().numpy() for k, v in module.state_dict().items()}
    safetensors_io.save(os.path.join(folder, filename), tensors)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    count = sum(int(np.prod(v.shape)) for v in tensors.values())
    print(f"{folder}: {count / 1e6:.0f} M parameters")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = args.out
    gen = torch.Generator().manual_seed(1)
    torch.set_grad_enabled(False)
    write(os.path.join(out, "unet"), "diffusion_pytorch_model.safetensors", UNET,
          unet_model.UNet2DConditionModel(UNET), gen)
    write(os.path.join(out, "vae"), "diffusion_pytorch_model.safetensors", VAE, vae_model.AutoencoderKL(VAE), gen)
    write(os.path.join(out, "text_encoder"), "model.safetensors", TEXT, clip_model.ClipTextTransformer(TEXT), gen,
          prefix="text_model.")
    shutil.copytree(os.path.join(ROOT, "models", "clip-tokenizer"), os.path.join(out, "tokenizer"), dirs_exist_ok=True)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SCHEDULER, f, indent=1)
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.21.4",
             "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(index, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
