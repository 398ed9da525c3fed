#!/usr/bin/python3
"""Builds tests/data/lora/: two LoRA files for the tiny SD pipeline (tests/data/pipeline/tiny-sd)
and two for the tiny SDXL pipeline (tests/data/pipeline-sdxl/tiny-sdxl, files prefixed sdxl_),
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
  sdxl_kohya / sdxl_peft / sdxl_merged: the same for SDXL, kohya keys as its SDXL trainer writes
                     them: lora_te1_ / lora_te2_ for the two text encoders and the UNet's layers
                     under the original checkpoint's names (lora_unet_input_blocks_4_1_...),
                     written out by hand below, not derived by the code under test.

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

SDXL_MODEL = os.path.join(ROOT, "tests", "data", "pipeline-sdxl", "tiny-sdxl")
# (component, diffusers module, kohya module (the original UNet name for the UNet), rank, alpha)
SDXL_KOHYA_LAYERS = [
    ("unet", "down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q",
     "input_blocks.4.1.transformer_blocks.1.attn1.to_q", 4, 2.0),
    ("unet", "down_blocks.2.attentions.1.transformer_blocks.0.attn2.to_k",
     "input_blocks.8.1.transformer_blocks.0.attn2.to_k", 4, None),
    ("unet", "mid_block.attentions.0.proj_in", "middle_block.1.proj_in", 2, 1.0),        # linear in SDXL
    ("unet", "up_blocks.1.resnets.2.conv1", "output_blocks.5.0.in_layers.2", 3, 3.0),    # 3x3 conv: LoCon
    ("unet", "up_blocks.0.attentions.2.transformer_blocks.1.ff.net.0.proj",
     "output_blocks.2.1.transformer_blocks.1.ff.net.0.proj", 8, 4.0),
    ("unet", "up_blocks.1.upsamplers.0.conv", "output_blocks.5.2.conv", 2, None),         # after the attention
    ("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj", None, 4, 8.0),
    ("text_encoder_2", "text_model.encoder.layers.1.self_attn.out_proj", None, 4, 2.0),
    ("text_encoder_2", "text_model.encoder.layers.2.mlp.fc1", None, 4, None),  # the last layer: pooled output only
]
SDXL_PEFT_LAYERS = [
    ("unet", "down_blocks.2.attentions.0.transformer_blocks.1.attn1.to_v", None, 4, None),
    ("text_encoder_2", "text_model.encoder.layers.0.self_attn.k_proj", None, 4, None),
]
SDXL_COMPONENT_FILES = dict(COMPONENT_FILES, text_encoder_2="text_encoder_2/model.safetensors")
KOHYA_PREFIX = {"unet": "lora_unet_", "text_encoder": "lora_te_"}
SDXL_KOHYA_PREFIX = {"unet": "lora_unet_", "text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}


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


def build(model_dir, files, sets, prefixes, out_prefix, seed):
    """Writes <out_prefix>kohya, <out_prefix>peft and <out_prefix>merged for one model."""
    model = {c: safetensors_io.load(os.path.join(model_dir, f)) for c, f in files.items()}
    gen = torch.Generator().manual_seed(seed)
    reference = {}
    for fmt, layers in sets:
        out = {}
        for component, module, kohya_module, rank, alpha in layers:
            name = module + ".weight"
            w = torch.from_numpy(model[component][name].astype(np.float32))
            down, up = lora_pair(w, rank, gen)
            if fmt == "kohya":
                down, up = down.half(), up.half()  # as trainers save them; the merge reads these values
                key = prefixes[component] + (kohya_module or module).replace(".", "_")
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
        safetensors_io.save(os.path.join(OUT, out_prefix + fmt + ".safetensors"), out)
    safetensors_io.save(os.path.join(OUT, out_prefix + "merged.safetensors"), reference,
                        metadata={"kohya_weight": str(WEIGHTS["kohya"]), "peft_weight": str(WEIGHTS["peft"])})
    print(f"wrote {OUT}/{out_prefix}*: {len(reference)} merged tensors")


def main():
    os.makedirs(OUT, exist_ok=True)
    with_kohya_name = lambda layers: [(c, m, None, r, a) for c, m, r, a in layers]  # noqa: E731
    build(MODEL, COMPONENT_FILES, (("kohya", with_kohya_name(KOHYA_LAYERS)), ("peft", with_kohya_name(PEFT_LAYERS))),
          KOHYA_PREFIX, "", 1234)
    build(SDXL_MODEL, SDXL_COMPONENT_FILES, (("kohya", SDXL_KOHYA_LAYERS), ("peft", SDXL_PEFT_LAYERS)),
          SDXL_KOHYA_PREFIX, "sdxl_", 4321)


if __name__ == "__main__":
    main()
