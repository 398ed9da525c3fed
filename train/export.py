#!/usr/bin/env python3
"""Writes the trained demo model in the layouts the engine loads, in float16:

  models/demo-sd/    diffusers StableDiffusionPipeline folder
    model_index.json
    scheduler/scheduler_config.json   PNDM, SD 1.x settings (scaled_linear 0.00085..0.012), the
                                      UNet run's prediction type (epsilon or v_prediction); DDIM
                                      with zero terminal SNR and trailing timesteps for a run
                                      trained with --zero-terminal-snr
    text_encoder/config.json, model.safetensors      CLIPTextModel (the CLIP text tower, or the
                                                     UNet run's EMA copy of it when that run
                                                     trained it: --train-text-encoder)
    tokenizer/spiece.model, tokenizer_config.json    SentencePiece (pad 0, unk 1, bos 2, eos 3)
    unet/config.json, diffusion_pytorch_model.safetensors   EMA weights of runs/unet_zbind2 (else unet_zbind, unet_mix, unet_two, unet_text, unet; or --unet)
    vae/config.json, diffusion_pytorch_model.safetensors    scaling_factor the UNet was trained with
  models/demo-clip/  transformers CLIPModel folder (config.json, model.safetensors,
                     preprocessor_config.json, spiece.model, tokenizer_config.json)

A component whose run has no checkpoint yet is skipped (and said so); model_index.json is
written only when the whole pipeline is there.

  python3 train/export.py [--runs runs] [--out models]
"""
import argparse
import json
import os
import shutil

import numpy as np
import torch

import common
from common import write_json
import safetensors_io
from clip_model import CLIPModel, load_trained_text_tower, text_encoder_config
from unet_model import UNet2DConditionModel
from vae_model import AutoencoderKL

SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.21.4",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
}
# For a UNet trained with train_unet.py --zero-terminal-snr: diffusers 0.21.4 rescales the
# betas in DDIM (and LCM) only, and trailing timesteps start sampling at t = 999, pure noise.
ZERO_SNR_SCHEDULER = {k: v for k, v in SCHEDULER.items() if k != "skip_prk_steps"} | {
    "_class_name": "DDIMScheduler",
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "thresholding": False,
    "timestep_spacing": "trailing",
}


def fp16_tensors(state, prefix_filter=None):
    out = {}
    for k, v in state.items():
        if prefix_filter and not any(k.startswith(p) for p in prefix_filter):
            continue
        a = v.detach().cpu().float().numpy()
        if not np.isfinite(a.astype(np.float16)).all():
            raise SystemExit(f"{k}: does not fit float16")
        out[k] = a.astype(np.float16)
    return out


def tokenizer_config(context):
    return {"tokenizer_class": "SentencePieceTokenizer", "model_file": "spiece.model", "bos_token": "<s>",
            "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "model_max_length": context}


def save_component(folder, weights_file, tensors, config, step):
    """One model folder: its float16 weights (trained steps in the metadata) and config.json."""
    os.makedirs(folder, exist_ok=True)
    safetensors_io.save(os.path.join(folder, weights_file), tensors, {"format": "pt", "trained_steps": step})
    write_json(os.path.join(folder, "config.json"), config)


def first_run(runs, names):
    """RUNS/NAME for the first of `names` that has a checkpoint, else None."""
    for name in names:
        run = os.path.join(runs, name)
        if os.path.exists(os.path.join(run, "ckpt.safetensors")):
            return run
    return None


# The UNet the pipeline ships: the first of these runs that has a checkpoint (unet_zbind2:
# unet_zbind trained on 2400 steps more with its recipe; unet_zbind:
# unet_mix trained on with v-prediction, zero terminal SNR, then the binding loss at the
# noisiest steps; unet_mix: unet_two trained on with 70%, then 40%, of each batch two different
# objects; unet_two: unet_text trained on with half of each batch two different objects;
# unet_text, trained with the text tower; unet), unless --unet names another run.
UNET_RUNS = ("unet_zbind2", "unet_zbind", "unet_mix", "unet_two", "unet_text", "unet")
# The scorer: the first of these runs that has a checkpoint (clip_attr5: clip_attr2 trained on
# with shapes in colours off the palette too (clip_attr3, clip_attr4, then clip_attr5), so that
# its shape sense carries over to held-out pairs; clip_attr2: clip_count2 trained on with a supervised
# loss on what each image holds, which teaches its vision tower shape;
# clip_count2: clip_bind trained on with twins of one object more or fewer, then with altered
# twins too; clip_bind, clip_twins
# trained on with moved and swapped twins, its text tower too, so usable only with a UNet that
# trained its own text encoder; clip_twins, the position fine-tune with the text tower
# frozen), else runs/clip itself, unless --scorer names another run.
SCORER_RUNS = ("clip_attr5", "clip_attr4", "clip_attr2", "clip_count2", "clip_bind", "clip_twins")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--out", default="models")
    ap.add_argument("--unet", default="", help=f"UNet run folder name in --runs (default: the first of {UNET_RUNS} there)")
    ap.add_argument("--scorer", default="", help=f"scorer's CLIP run folder name in --runs (default: {SCORER_RUNS[0]} "
                    "if there, else clip)")
    args = ap.parse_args()
    cpu = torch.device("cpu")
    sd_dir = os.path.join(args.out, "demo-sd")
    clip_dir = os.path.join(args.out, "demo-clip")
    spm = os.path.join(args.runs, "tokenizer", "spiece.model")
    if args.unet:
        unet_run = os.path.join(args.runs, args.unet)
        if not os.path.exists(os.path.join(unet_run, "ckpt.safetensors")):
            raise SystemExit(f"export: --unet {args.unet}: no {unet_run}/ckpt.safetensors")
    else:
        unet_run = first_run(args.runs, UNET_RUNS) or os.path.join(args.runs, "unet")
    # A UNet run with --train-text-encoder trained its own copy of the text tower: the pipeline
    # takes that (EMA) one, and the scorer's text tower is free to differ.
    text_trained = os.path.exists(os.path.join(unet_run, "ckpt.safetensors")) and \
        common.checkpoint_state(unet_run)["extra"].get("text_encoder_trained", False)
    have = {}

    # CLIP: the whole model for scoring, and its text tower as the pipeline's text encoder.
    clip_run = os.path.join(args.runs, "clip")
    if os.path.exists(os.path.join(clip_run, "ckpt.safetensors")):
        cfg = json.load(open(os.path.join(clip_run, "config.json")))
        clip = CLIPModel(cfg)
        step, _ = common.load_checkpoint(clip_run, {"clip": clip}, None, cpu)
        state = clip.state_dict()
        text_state, text_step = state, step
        # Unless the UNet trained its own text encoder, the scorer's fine-tune must have kept
        # the text tower the UNet was trained on.
        tuned_run = first_run(args.runs, (args.scorer,) if args.scorer else SCORER_RUNS)
        if args.scorer and not tuned_run:
            raise SystemExit(f"export: --scorer {args.scorer}: no {args.runs}/{args.scorer}/ckpt.safetensors")
        if tuned_run:
            tuned = CLIPModel(cfg)
            step, _ = common.load_checkpoint(tuned_run, {"clip": tuned}, None, cpu)
            state = tuned.state_dict()
            changed = [k for k in state if k.startswith("text_model.") and not torch.equal(state[k], text_state[k])]
            if changed and not text_trained:
                raise SystemExit(f"export: {tuned_run} changed the text tower ({changed[0]}...): "
                                 f"the UNet was trained on {clip_run}'s")
            print(f"scorer from {tuned_run} (step {step}); text tower "
                  f"{'its own' if changed else 'identical to ' + clip_run + chr(39) + 's'}")
        save_component(clip_dir, "model.safetensors", fp16_tensors(state), dict(cfg, torch_dtype="float16"), step)
        write_json(os.path.join(clip_dir, "preprocessor_config.json"), {
            "crop_size": {"height": 64, "width": 64}, "do_center_crop": True, "do_normalize": True,
            "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_processor_type": "CLIPImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
            "resample": 3, "size": {"shortest_edge": 64}})
        shutil.copyfile(spm, os.path.join(clip_dir, "spiece.model"))
        context = cfg["text_config"]["max_position_embeddings"]
        write_json(os.path.join(clip_dir, "tokenizer_config.json"), tokenizer_config(context))
        text_cfg = cfg
        if text_trained:
            tuned, text_step = load_trained_text_tower(unet_run, cfg, cpu)
            text_cfg, text_state = tuned.config, tuned.state_dict()
            print(f"text encoder from {unet_run}'s EMA (step {text_step}), trained with the UNet")
        save_component(os.path.join(sd_dir, "text_encoder"), "model.safetensors", fp16_tensors(text_state, ["text_model."]),
                       dict(text_encoder_config(text_cfg), torch_dtype="float16"), text_step)
        tk = os.path.join(sd_dir, "tokenizer")
        os.makedirs(tk, exist_ok=True)
        shutil.copyfile(spm, os.path.join(tk, "spiece.model"))
        write_json(os.path.join(tk, "tokenizer_config.json"), tokenizer_config(context))
        have["clip"] = step
    else:
        print(f"no {clip_run}/ckpt.safetensors: CLIP and text_encoder not exported")

    vae_run = os.path.join(args.runs, "vae")
    # The scaling factor the UNet was trained with: its run keeps the latent cache's meta.json
    # (a fresh clone has the committed run but no cache).
    meta_path = os.path.join(unet_run, "latents_meta.json")
    if os.path.exists(os.path.join(vae_run, "ckpt.safetensors")) and os.path.exists(meta_path):
        cfg = json.load(open(os.path.join(vae_run, "config.json")))
        vae = AutoencoderKL(cfg)
        step, _ = common.load_checkpoint(vae_run, {"vae": vae}, None, cpu)
        meta = json.load(open(meta_path))
        cfg = dict(cfg, scaling_factor=round(meta["scaling_factor"], 5))
        save_component(os.path.join(sd_dir, "vae"), "diffusion_pytorch_model.safetensors",
                       fp16_tensors(vae.state_dict()), cfg, step)
        have["vae"] = step
    else:
        print(f"no {vae_run}/ckpt.safetensors or {meta_path}: VAE not exported")

    if os.path.exists(os.path.join(unet_run, "ckpt.safetensors")):
        cfg = json.load(open(os.path.join(unet_run, "config.json")))
        unet, ema = UNet2DConditionModel(cfg), UNet2DConditionModel(cfg)
        step, extra = common.load_checkpoint(unet_run, {"unet": unet, "ema": ema}, None, cpu)
        prediction = extra.get("prediction", "epsilon")  # train_unet.py --prediction
        scheduler = ZERO_SNR_SCHEDULER if extra.get("zero_terminal_snr") else dict(SCHEDULER, prediction_type=prediction)
        save_component(os.path.join(sd_dir, "unet"), "diffusion_pytorch_model.safetensors",
                       fp16_tensors(ema.state_dict()), cfg, step)
        have["unet"] = step
        print(f"unet from {unet_run} (step {step}, predicts {prediction})")
    else:
        print(f"no {unet_run}/ckpt.safetensors: UNet not exported")

    if {"clip", "vae", "unet"} <= set(have):
        os.makedirs(os.path.join(sd_dir, "scheduler"), exist_ok=True)
        write_json(os.path.join(sd_dir, "scheduler", "scheduler_config.json"),
                   scheduler)
        write_json(os.path.join(sd_dir, "model_index.json"), {
            "_class_name": "StableDiffusionPipeline",
            "_diffusers_version": "0.21.4",
            "feature_extractor": [None, None],
            "requires_safety_checker": False,
            "safety_checker": [None, None],
            "scheduler": ["diffusers", scheduler["_class_name"]],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["sdvk", "SentencePieceTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        })
    total = 0
    for root, _, files in os.walk(args.out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"exported {have} (trained steps); {args.out}/ holds {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
