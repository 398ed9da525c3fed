#!/usr/bin/python3
"""Builds tests/data/lora/: two LoRA files for the tiny SD pipeline (tests/data/pipeline/tiny-sd)
and the weights PyTorch gets by merging each into the model, the independent reference that
test_lora compares sdvk's merge with.

  kohya.safetensors  kohya / AUTOMATIC1111 keys (lora_unet_*, lora_te_*; lora_down/lora_up/alpha):
                     linear layers, a 1x1 conv (proj_in), a 3x3 conv ("LoCon"), alpha != rank on
                     some layers and no alpha on others; float16 as trainers save them.
  peft.safetensors   diffusers / PEFT keys (unet.<module>.lora_A.weight / lora_B.weight,
                     text_encoder.<module>...), no alpha, float32.
  merged.safetensors "<file>/<component>/<tensor>" -> W + weight * (alpha / rank) * up @ down in
                     float32, computed by torch.matmul from the model's stored weights, for
                     kohya at weight 0.7 and peft at weight 1.0.

Run with Debian's python3-torch: /usr/bin/python3 scripts/make_lora_reference.py
"""
import os
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "train"))
import safetensors_io  # noqa: E402

MODEL = os.path.join(ROOT, "tests", "data", "pipeline", "tiny-sd")
OUT = os.path.join(ROOT, "tests", "data", "lora")
WEIGHTS = {"kohya": 0.7, "peft": 1.0}

# (component, module, rank, alpha or None)
KOHYA_LAYERS = [
    ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", 4, 2.0),
    ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k", 4, None),  # [32, 64] cross-attention
    ("unet", "down_blocks.0.attentions.0.proj_in", 2, 1.0),                            # 1x1 conv
    ("unet", "up_blocks.1.resnets.0.conv1", 3, 3.0),                                   # 3x3 conv: LoCon
    ("unet", "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj", 8, 4.0),
    ("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj", 4, 8.0),
    ("text_encoder", "text_model.encoder.layers.1.mlp.fc1", 4, None),
]
PEFT_LAYERS = [
    ("unet", "up_blocks.1.attentions.2.transformer_blocks.0.attn1.to_v", 4, None),
    ("unet", "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0", 2, None),
    ("text_encoder", "text_model.encoder.layers.0.self_attn.k_proj", 4, None),
]
COMPONENT_FILES = {"unet": "unet/diffusion_pytorch_model.safetensors", "text_encoder": "text_encoder/model.safetensors"}


def lora_pair(w, rank, gen):
    """down [rank, in...] and up [out, rank, (1, 1)] for weight w, as a conv LoRA stores them for convs."""
    out = w.shape[0]
    down_shape = (rank,) + tuple(w.shape[1:])
    up_shape = (out, rank) + ((1, 1) if w.ndim == 4 else ())
    down = torch.randn(down_shape, generator=gen) * 0.3
    up = torch.randn(up_shape, generator=gen) * 0.3
    return down, up


def merged(w, down, up, rank, alpha, weight):
    scale = weight * ((alpha if alpha is not None else rank) / rank)
    delta = torch.matmul(up.reshape(up.shape[0], rank).double(), down.reshape(rank, -1).double())
    return (w.double() + scale * delta.reshape(w.shape)).float()


def main():
    os.makedirs(OUT, exist_ok=True)
    model = {c: safetensors_io.load(os.path.join(MODEL, f)) for c, f in COMPONENT_FILES.items()}
    gen = torch.Generator().manual_seed(1234)
    reference = {}
    for fmt, layers in (("kohya", KOHYA_LAYERS), ("peft", PEFT_LAYERS)):
        out = {}
        for component, module, rank, alpha in layers:
            name = module + ".weight"
            w = torch.from_numpy(model[component][name].astype(np.float32))
            down, up = lora_pair(w, rank, gen)
            if fmt == "kohya":
                down, up = down.half(), up.half()  # as trainers save them; the merge reads these values
                key = ("lora_unet_" if component == "unet" else "lora_te_") + module.replace(".", "_")
                out[key + ".lora_down.weight"] = down.numpy()
                out[key + ".lora_up.weight"] = up.numpy()
                if alpha is not None:
                    out[key + ".alpha"] = np.array(alpha, dtype=np.float16)
            else:
                key = component + "." + module
                out[key + ".lora_A.weight"] = down.numpy()
                out[key + ".lora_B.weight"] = up.numpy()
            reference[f"{fmt}/{component}/{name}"] = merged(w, down.float(), up.float(), rank, alpha,
                                                             WEIGHTS[fmt]).numpy()
        safetensors_io.save(os.path.join(OUT, fmt + ".safetensors"), out)
    safetensors_io.save(os.path.join(OUT, "merged.safetensors"), reference,
                        metadata={"kohya_weight": str(WEIGHTS["kohya"]), "peft_weight": str(WEIGHTS["peft"])})
    print(f"wrote {OUT}: {len(reference)} merged tensors")


if __name__ == "__main__":
    main()
