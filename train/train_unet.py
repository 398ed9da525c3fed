#!/usr/bin/env python3
"""Trains the demo UNet2DConditionModel in the VAE's latent space with the Stable Diffusion
recipe: epsilon prediction (or v: --prediction), scaled_linear betas 0.00085..0.012 over 1000
steps, uniform timesteps, 10% of captions replaced by the empty caption (classifier-free guidance), and
conditioning on the frozen CLIP text tower's last_hidden_state over the full 77-token window
(as the engine will compute it: bos + ids + eos + pad). Keeps an EMA of the weights (what
export.py writes). The training noise carries extra low-frequency energy (--offset-noise,
--pyramid-noise; see training_noise): without it this small latent lets the model take
background and layout from the noise rather than the prompt.

  nice -n 19 python3 train/train_unet.py --run-dir runs/unet --latents runs/latents --clip runs/clip \
      --tokenizer runs/tokenizer/spiece.model [--resume]
"""
import argparse
import copy
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

import common
import detector
import safetensors_io
import shapes_data
from binding_probe import BindingProbe
from clip_model import CLIPModel, with_text_layers
from tokenizer import SpmTokenizer
from unet_model import BasicTransformerBlock, UNet2DConditionModel, mirrored_up_blocks, unet_config

DEFAULT_DOWN = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
PREDICTIONS = ("epsilon", "v_prediction")  # diffusers' scheduler prediction_type names
BINDING_PROBE_LR = 1e-3  # --binding-loss: the probe starts from scratch and must keep up with the tower


def sd_alphas_cumprod(steps=1000, beta_start=0.00085, beta_end=0.012, zero_terminal_snr=False):
    """SD's scaled_linear schedule; with zero_terminal_snr, diffusers' rescale_betas_zero_snr
    (Lin et al. 2023): sqrt(alpha_bar) shifted to end at 0 and scaled to keep its first value."""
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, 0)
    if zero_terminal_snr:
        root = alphas_cumprod.sqrt()
        first, last = root[0].item(), root[-1].item()
        alphas_cumprod = ((root - last) * first / (first - last)) ** 2
    return alphas_cumprod.float()


def object_masks(truths, cells, image_size):
    """[N,1,cells,cells] bool: the latent cells each image's object boxes overlap (from the
    ground truth cache_latents.py keeps with each caption)."""
    px = image_size / cells  # pixels per latent cell
    masks = torch.zeros(len(truths), 1, cells, cells, dtype=torch.bool)
    for i, truth in enumerate(truths):
        for o in truth["objects"]:
            (cx, cy), h = o["center"], o["side"] / 2
            x0, x1 = int(max(cx - h, 0) // px), int(min(cx + h, image_size - 1) // px)
            y0, y1 = int(max(cy - h, 0) // px), int(min(cy + h, image_size - 1) // px)
            masks[i, 0, y0:y1 + 1, x0:x1 + 1] = True
    return masks


ATTENTION_GRID = 8  # the cross-attention layers the attention loss supervises: 8x8 cells


def word_targets(rows, tok):
    """For --attention-loss: ([N,4] token position, -1 for none; [N,4,64] bool cells) of each
    object's colour and shape words, where the word names one object alone (not "two blue
    circles", not a colour both objects share), with the 8x8 cells its object's box covers."""
    pos = torch.full((len(rows), 4), -1, dtype=torch.long)
    cells = object_masks([{"objects": [o]} for r in rows for o in r["truth"]["objects"]],
                         ATTENTION_GRID, shapes_data.SIZE).reshape(-1, ATTENTION_GRID * ATTENTION_GRID)
    masks = torch.zeros(len(rows), 4, ATTENTION_GRID * ATTENTION_GRID, dtype=torch.bool)
    lengths = [len(ids) for ids in tok.content_ids([r["caption"] for r in rows])]
    first = 0  # row i's objects start at cells[first]
    for i, r in enumerate(rows):
        words, objects = r["caption"].split(), r["truth"]["objects"]
        if lengths[i] == len(words):  # one token a word: word j is token 1 + j (after bos)
            slot = 0
            for k, o in enumerate(objects):
                for attr in ("colour", "shape"):
                    if words.count(o[attr]) == 1 and all(p[attr] != o[attr] for p in objects if p is not o):
                        pos[i, slot], masks[i, slot] = 1 + words.index(o[attr]), cells[first + k]
                        slot += 1
        first += len(objects)
    return pos, masks


def attention_loss(kept, pos, masks):
    """Mean over the stated words of 1 - (share of the word's attention, over the 8x8 cells, that
    falls on its object's box), heads averaged, over the 8x8 cross-attention layers."""
    rows, slots = (pos >= 0).nonzero(as_tuple=True)
    if len(rows) == 0:
        return None
    losses = []
    for probs in kept:  # [B,H,N,M]
        if probs.shape[2] != ATTENTION_GRID * ATTENTION_GRID:
            continue
        column = probs.mean(1)[rows, :, pos[rows, slots]]  # [W,64]: each word over the cells
        inside = (column * masks[rows, slots].float()).sum(-1)
        losses.append(1 - inside / column.sum(-1).clamp_min(1e-12))
    return torch.cat(losses).mean()


def training_noise(shape, offset, pyramid):
    """Gaussian noise with extra low-frequency energy: N(0,1) per element, plus `offset` times
    one N(0,1) per image and channel, plus `pyramid` times bilinearly upsampled N(0,1) grids of
    side 8, 4 and 2; renormalised to unit variance per element.

    Why: on a 16x16 latent the scaled-linear schedule leaves the image's background and layout
    visible at t=999 (a channel mean of white noise varies by only 1/16), so a model trained on
    white noise learns to read the background and object positions from the noise instead of
    the prompt, and at sampling time random seeds decide them. Noise whose coarse content is
    loud and random hides that leak, so the prompt is the only reliable cue (offset noise,
    Guttenberg 2023; multi-resolution noise, Whitaker 2023). Sampling still starts from plain
    N(0,1), as diffusers does.
    """
    b, c, h, w = shape
    noise = torch.randn(shape)
    if offset > 0:
        noise += offset * torch.randn(b, c, 1, 1)
    if pyramid > 0:
        for side in (8, 4, 2):
            if side < h:
                coarse = torch.randn(b, c, side, side)
                noise += pyramid * F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    if offset > 0 or pyramid > 0:
        noise /= noise.std(dim=(1, 2, 3), keepdim=True)  # unit variance, as at sampling time
    return noise


# A text tower's encoder layers, and the sublayers whose zeroing makes an added layer an identity.
TEXT_LAYERS, TEXT_LAYER_OUTPUTS = ".layers.", ("self_attn.out_proj", "mlp.fc2")


def text_tower_layers(args, clip_cfg):
    """Encoder layers of this run's text tower: a resumed run's, else --text-layers, else those
    of the run it grows from, else the CLIP's."""
    layers = clip_cfg["text_config"]["num_hidden_layers"]
    if args.resume:
        return common.checkpoint_state(args.run_dir)["extra"].get("text_layers", layers)
    if args.init_from:
        layers = common.checkpoint_state(args.init_from)["extra"].get("text_layers", layers)
    return args.text_layers or layers


def load_text_tower(clip_dir, clip_cfg, layers, device):
    """The text tower of the CLIP run in `clip_dir` (its config `clip_cfg`), frozen; with more
    `layers` than it has, the added ones (after its own, before the final layer norm) start as
    identities."""
    if layers < clip_cfg["text_config"]["num_hidden_layers"]:
        raise SystemExit(f"train_unet: --text-layers {layers}: {clip_dir}'s text tower has more")
    clip = CLIPModel(with_text_layers(clip_cfg, layers))
    common.load_grown(clip, clip_dir, "clip", TEXT_LAYERS, TEXT_LAYER_OUTPUTS)
    text = clip.text_model.to(device).eval()
    for p in text.parameters():
        p.requires_grad_(False)
    return text


def block_heads(text, blocks):
    """--heads: "4" -> 4 (every block), "2,4,4" -> [2, 4, 4]."""
    heads = [int(h) for h in text.split(",")]
    if len(heads) == 1:
        return heads[0]
    if len(heads) != blocks:
        raise SystemExit(f"--heads {text}: give one number or {blocks}")
    return heads


def with_block_types(cfg, down, heads):
    """cfg with these down_block_types, the up blocks mirroring them, and `heads` (int or per
    block) for the blocks that gain attention; blocks that had attention keep their heads."""
    old_down = cfg["down_block_types"]
    if len(down) != len(old_down) or any(d not in ("DownBlock2D", "CrossAttnDownBlock2D") for d in down):
        raise SystemExit(f"--down {','.join(down)}: give {len(old_down)} of DownBlock2D / CrossAttnDownBlock2D")
    old_heads = cfg.get("num_attention_heads") or cfg["attention_head_dim"]
    old_heads = list(old_heads) if isinstance(old_heads, list) else [old_heads] * len(down)
    new_heads = list(heads) if isinstance(heads, list) else [heads] * len(down)
    for i, kind in enumerate(old_down):
        if kind == "CrossAttnDownBlock2D" and new_heads[i] != old_heads[i]:
            raise SystemExit(f"--heads: block {i} has {old_heads[i]} heads in the run it grows from; "
                             "only blocks that gain attention take new ones")
    if new_heads[-1] != old_heads[-1]:
        raise SystemExit(f"--heads: the last block's heads are the mid block's ({old_heads[-1]})")
    return dict(cfg, down_block_types=list(down), up_block_types=mirrored_up_blocks(down),
                attention_head_dim=new_heads if len(set(new_heads)) > 1 else new_heads[0])


# What a grown UNet may add, and the layers whose zeroing makes each addition an identity (its
# output is added to a residual): whole attentions (--down), or transformer blocks inside the
# attentions (--transformer-layers).
NEW_ATTENTIONS = (".attentions.", "proj_out")
NEW_TRANSFORMER_BLOCKS = (".transformer_blocks.", ("attn1.to_out.0", "attn2.to_out.0", "ff.net.2"))


def grow_from(unet, text, run_dir, growth):
    """Starts `unet` from another run's EMA weights, `text` from its EMA text tower when that run
    trained one, and the RNG where that run left it. `unet` may have the submodules `growth`
    names (NEW_ATTENTIONS or NEW_TRANSFORMER_BLOCKS) that the old model lacks: they start as
    identities."""
    tensors = safetensors_io.load(os.path.join(run_dir, "ckpt.safetensors"))
    added = common.load_grown(unet, run_dir, "ema", *growth, tensors)
    state = common.checkpoint_state(run_dir)
    print(f"starting from {run_dir}'s EMA weights (its step {state['step']}); new {growth[0].strip('.')}: {added}",
          flush=True)
    if state["extra"].get("text_encoder_trained"):
        grown = common.load_grown(text, run_dir, "ema_text", TEXT_LAYERS, TEXT_LAYER_OUTPUTS, tensors)
        print(f"text tower: {run_dir}'s EMA text tower; new identity layers: {grown}", flush=True)
    torch.set_rng_state(torch.from_numpy(tensors["torch_rng"]))


def parse_range(text, flag):
    try:
        lo, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"train_unet: {flag}: not two integers FROM,TO: {text}")
    if not 0 <= lo < hi <= 1000:
        raise SystemExit(f"train_unet: {flag}: need 0 <= FROM < TO <= 1000, got {text}")
    return lo, hi


def load_wrong_twins(folder, cached):
    """cache_corrupted.py's output: (mean, std, source row) of each wrong twin, float32."""
    try:
        mean = torch.from_numpy(np.load(os.path.join(folder, "mean.npy")).astype(np.float32))
        std = torch.from_numpy(np.load(os.path.join(folder, "std.npy")).astype(np.float32))
        source = torch.from_numpy(np.load(os.path.join(folder, "source.npy")))
    except OSError as e:
        raise SystemExit(f"train_unet: --corrected: {e}")
    if not (len(mean) == len(std) == len(source) > 0) or int(source.max()) >= cached:
        raise SystemExit(f"train_unet: --corrected: {folder} does not match the latent cache")
    return mean, std, source


def run_prediction(args):
    """--prediction, else the resumed or --init-from run's (runs before the flag: epsilon). A
    resumed run keeps its own: the optimizer state and EMA belong to one target."""
    run = args.run_dir if args.resume else args.init_from
    saved = common.checkpoint_state(run)["extra"].get("prediction", "epsilon") if run else None
    if args.resume and args.prediction and args.prediction != saved:
        raise SystemExit(f"train_unet: {args.run_dir} was trained with --prediction {saved}: resume it the same way")
    return args.prediction or saved or "epsilon"


def run_zero_terminal_snr(args, prediction):
    """--zero-terminal-snr, else the resumed run's. At t = 999 the noisy latent is then pure
    noise, so an epsilon target says nothing there: it needs v-prediction."""
    if args.resume:
        common.require_same_flag(args.run_dir, "zero_terminal_snr", args.zero_terminal_snr, "--zero-terminal-snr")
    if args.zero_terminal_snr and prediction != "v_prediction":
        raise SystemExit("train_unet: --zero-terminal-snr needs --prediction v_prediction")
    return args.zero_terminal_snr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(ap, steps=20000, batch=32, lr=3e-4)
    ap.add_argument("--latents", required=True, help="cache_latents.py's folder")
    ap.add_argument("--clip", required=True, help="train_clip.py's run folder")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--widths", default="32,64,64")
    ap.add_argument("--layers-per-block", type=int, default=1)
    ap.add_argument("--heads", default=None,
                    help="attention heads, one number or one per block (the mid block takes the last; "
                         "default 4); with --init-from and --down, the heads of the blocks that gain "
                         "attention")
    ap.add_argument("--groups", type=int, default=16)
    ap.add_argument("--down", default=None,
                    help="down_block_types (the up blocks mirror them; default "
                         f"{','.join(DEFAULT_DOWN)}: no attention at 16x16 saves a third of the time, as "
                         "SDXL does at its top level); with --init-from, blocks that gain attention "
                         "start it with a zero proj_out, so the grown model computes what the old one did")
    ap.add_argument("--uncond", type=float, default=0.1, help="share of empty captions")
    ap.add_argument("--two-different-share", type=float, default=0.0,
                    help="draw this share of each batch from the cached latents of two different objects "
                         "(0: uniform over the cache, where they are about 31%%): the model does not learn "
                         "to bind colour and shape to one of two objects")
    ap.add_argument("--object-weight", type=float, default=0.0,
                    help="extra loss weight on the latent cells under an object's box (0: plain MSE): "
                         "objects cover 6-20%% of the latent, so the flat background dominates the loss "
                         "while the prompt is mostly about the objects")
    ap.add_argument("--high-noise-share", type=float, default=0.0,
                    help="draw this share of each batch's timesteps from [--high-noise-from, 1000) instead of "
                         "[0, 1000): which object takes which colour and shape is decided in the first, "
                         "noisiest steps (img2img from a right image keeps it right from strength 0.5, "
                         "not from 0.85), where the epsilon loss says little about the image")
    ap.add_argument("--high-noise-from", type=int, default=600)
    ap.add_argument("--attention-loss", type=float, default=0.0,
                    help="weight of a loss that pulls each object's colour and shape words' cross-attention "
                         "(the 8x8 layers) onto the cells under that object's box (0: none): the UNet reads "
                         "a colour word about as much at the other object (attention_probe.py)")
    ap.add_argument("--corrected", default="",
                    help="cache_corrupted.py's folder: wrong twins of two-object scenes (one object in the "
                         "other's colour or shape, or the colours swapped), to start some samples from")
    ap.add_argument("--corrected-share", type=float, default=0.0,
                    help="share of each batch noised from a wrong twin and trained to denoise to the right "
                         "scene (its caption kept): a deterministic sampler keeps a pairing it began wrongly, "
                         "since plain training never shows a noisy image that disagrees with its caption")
    ap.add_argument("--corrected-t", default="300,900",
                    help="timesteps [from, to) of the samples started from a wrong twin")
    ap.add_argument("--prediction", choices=PREDICTIONS, default=None,
                    help="what the UNet predicts: the noise (SD 1.x) or v = sqrt(a) noise - sqrt(1-a) x0 (SD 2.x "
                         "768-v). The epsilon loss weighs an error in the image by the signal-to-noise ratio "
                         "(0.024 at t=850), v by 1 + it, so v training puts weight on the noisiest steps, "
                         "where the layout is decided. Default: the --init-from / resumed run's, else epsilon")
    ap.add_argument("--zero-terminal-snr", action="store_true",
                    help="rescale the betas so that t = 999 is pure noise (diffusers' rescale_betas_zero_snr; "
                         "export.py then writes DDIM with trailing timesteps): the model cannot take the "
                         "layout from a trace of the image at the noisiest step, as it can on SD's schedule")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--offset-noise", type=float, default=0.3,
                    help="weight of per-image, per-channel noise added to the training noise (0: plain)")
    ap.add_argument("--pyramid-noise", type=float, default=0.4,
                    help="weight of each coarse (8x8, 4x4, 2x2) noise grid added to the training noise (0: plain)")
    ap.add_argument("--plain-noise-until", type=int, default=0,
                    help="steps before this one use plain N(0,1) noise (the committed run switched to "
                         "offset + pyramid noise at step 11710; run_all.sh passes it so that a run from "
                         "scratch repeats that history)")
    ap.add_argument("--init-from", default="",
                    help="start from this run's EMA weights, its EMA text tower if it trained one, and "
                         "its config (changed by --down); step 0, fresh optimizer and warm-up: a UNet "
                         "trained on another VAE's latents relearns faster than one from scratch")
    ap.add_argument("--train-text-encoder", action="store_true",
                    help="train the text tower (from --clip, or --init-from's) with the UNet, at --text-lr, "
                         "with its own EMA: the contrastive tower was trained through its pooled output "
                         "only, so its per-token states need not say which colour goes with which shape "
                         "(export.py takes the pipeline's text encoder from this run's EMA; the scorer "
                         "keeps its own)")
    ap.add_argument("--text-lr", type=float, default=1e-4, help="with --train-text-encoder")
    ap.add_argument("--transformer-layers", type=int, default=0,
                    help="transformer blocks in each attention (diffusers' "
                         "transformer_layers_per_block; with --init-from the added ones start as identities): more rounds of "
                         "self- and cross-attention where the objects are laid out (8x8, 4x4)")
    ap.add_argument("--text-layers", type=int, default=0,
                    help="with --train-text-encoder: grow the text tower to this many encoder layers (the "
                         "added ones start as identities, so the tower computes what it did): depth for its "
                         "per-token states to say which colour and shape go with which position")
    ap.add_argument("--binding-loss", type=float, default=0.0,
                    help="with --train-text-encoder: weight of binding_probe.py's loss on the text states (an "
                         "attention head that must fetch each object's colour from its shape, its shape from "
                         "its colour, both from its position); the probe is not exported")
    common.add_lr_schedule_args(ap, warmup=500)
    args = ap.parse_args()
    if args.binding_loss and not args.train_text_encoder:
        raise SystemExit("train_unet: --binding-loss trains the text tower: pass --train-text-encoder")
    if not 0 <= args.high_noise_from < 1000 or not 0 <= args.high_noise_share <= 1:
        raise SystemExit("train_unet: --high-noise-from must be in [0, 1000) and --high-noise-share in [0, 1]")
    corrected_t = parse_range(args.corrected_t, "--corrected-t")
    if not 0 <= args.corrected_share <= 1 or (args.corrected_share > 0) != bool(args.corrected):
        raise SystemExit("train_unet: --corrected-share (in [0, 1]) and --corrected go together")
    device = common.setup(args)
    tok = SpmTokenizer(args.tokenizer)
    clip_cfg = json.load(open(os.path.join(args.clip, "config.json")))
    text_layers = text_tower_layers(args, clip_cfg)
    if text_layers != clip_cfg["text_config"]["num_hidden_layers"] and not args.train_text_encoder:
        raise SystemExit("train_unet: a text tower with added layers must train: pass --train-text-encoder")
    text = load_text_tower(args.clip, clip_cfg, text_layers, device)

    meta = json.load(open(os.path.join(args.latents, "meta.json")))
    lat_mean = torch.from_numpy(np.load(os.path.join(args.latents, "mean.npy")).astype(np.float32))
    lat_std = torch.from_numpy(np.load(os.path.join(args.latents, "std.npy")).astype(np.float32))
    rows = [json.loads(l) for l in open(os.path.join(args.latents, "captions.jsonl"))]
    captions = [r["caption"] for r in rows]
    scale = meta["scaling_factor"]
    n = lat_mean.shape[0]
    two_different = torch.tensor([i for i, c in enumerate(captions) if c and
                                  detector.prompt_kind(detector.parse_caption(c)) == "two different"])
    object_cells = object_masks([r["truth"] for r in rows], lat_mean.shape[-1], shapes_data.SIZE) \
        if args.object_weight else None
    targets = word_targets(rows, tok) if args.attention_loss else None
    wrong = load_wrong_twins(args.corrected, n) if args.corrected else None
    if args.two_different_share > 0 and len(two_different) == 0:
        raise SystemExit(f"train_unet: --two-different-share: {args.latents} holds no two-object scenes")

    cfg_path = os.path.join(args.run_dir, "config.json")
    if args.resume:
        cfg = json.load(open(cfg_path))
    elif args.init_from:
        cfg = json.load(open(os.path.join(args.init_from, "config.json")))
        if args.heads and not args.down:
            raise SystemExit("train_unet: --heads with --init-from only sets the heads of blocks that "
                             "--down gives attention")
        if common.checkpoint_state(args.init_from)["extra"].get("text_encoder_trained") and \
                not args.train_text_encoder:
            raise SystemExit(f"train_unet: {args.init_from} trained its text tower: pass "
                             "--train-text-encoder so that this run keeps (and saves) it")
        if args.down:
            cfg = with_block_types(cfg, args.down.split(","),
                                   block_heads(args.heads or "4", len(cfg["down_block_types"])))
        if args.transformer_layers:
            if args.down:
                raise SystemExit("train_unet: grow one thing at a time: --down or --transformer-layers")
            if args.transformer_layers < cfg.get("transformer_layers_per_block", 1):
                raise SystemExit(f"train_unet: --transformer-layers {args.transformer_layers}: {args.init_from} has more")
            cfg = dict(cfg, transformer_layers_per_block=args.transformer_layers)
        common.write_json(cfg_path, cfg)
    else:
        widths = [int(w) for w in args.widths.split(",")]
        cfg = unet_config(widths, args.layers_per_block, block_heads(args.heads or "4", len(widths)),
                          clip_cfg["text_config"]["hidden_size"], args.groups, lat_mean.shape[-1],
                          tuple(args.down.split(",")) if args.down else DEFAULT_DOWN, args.transformer_layers or 1)
        common.write_json(cfg_path, cfg)
    unet = UNet2DConditionModel(cfg).to(device)
    ema = copy.deepcopy(unet).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    modules = {"unet": unet, "ema": ema}
    ema_pairs = [(ema, unet)]  # (EMA copy, trained module)
    groups = [{"params": list(unet.parameters()), "lr_scale": 1.0}]
    if args.train_text_encoder:
        ema_text = copy.deepcopy(text)
        for p in text.parameters():
            p.requires_grad_(True)
        modules.update(text=text, ema_text=ema_text)
        ema_pairs.append((ema_text, text))
        groups.append({"params": list(text.parameters()), "lr_scale": args.text_lr / args.lr})
    probe = None
    if args.binding_loss:
        probe = BindingProbe(clip_cfg["text_config"]["hidden_size"]).to(device)
        modules.update(binding_probe=probe)
        groups.append({"params": list(probe.parameters()), "lr_scale": BINDING_PROBE_LR / args.lr})
    trained = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.01)
    if args.resume:
        common.require_same_flag(args.run_dir, "text_encoder_trained", args.train_text_encoder, "--train-text-encoder")
        common.require_same_flag(args.run_dir, "binding_probe", probe is not None, "--binding-loss")
    step, _ = common.resume(args, modules, opt, device)
    prediction = run_prediction(args)
    zero_terminal_snr = run_zero_terminal_snr(args, prediction)
    if args.init_from and not args.resume:
        grow_from(unet, text, args.init_from, NEW_TRANSFORMER_BLOCKS if args.transformer_layers else NEW_ATTENTIONS)
        ema.load_state_dict(unet.state_dict())
        if args.train_text_encoder:
            ema_text.load_state_dict(text.state_dict())
    print(f"unet parameters {sum(p.numel() for p in unet.parameters()) / 1e6:.3f}M, {n} cached latents, "
          f"scaling factor {scale:.5f}", flush=True)
    common.write_json(os.path.join(args.run_dir, "latents_meta.json"), meta)

    acp = sd_alphas_cumprod(zero_terminal_snr=zero_terminal_snr).to(device)
    # The text tower is frozen: each caption's last_hidden_state is computed once and kept
    # (float16, 10 KB a caption).
    context_cache = {}

    def contexts(caps):
        if args.train_text_encoder:
            return text(tok.windows(caps).to(device))["last_hidden_state"]
        todo = sorted({c for c in caps if c not in context_cache})
        if todo:
            with torch.no_grad():
                h = text(tok.windows(todo).to(device))["last_hidden_state"].half()
            for c, row in zip(todo, h):
                context_cache[c] = row
        return torch.stack([context_cache[c] for c in caps]).float()

    extra = {"text_encoder_trained": args.train_text_encoder, "text_layers": text_layers, "prediction": prediction,
             "zero_terminal_snr": zero_terminal_snr, "binding_probe": probe is not None}
    stop = common.StopFlag()
    progress = common.Progress(args.log_every, args.steps)
    cross_attentions = [m.attn2 for m in unet.modules() if isinstance(m, BasicTransformerBlock)]
    unet.train()
    while step < args.steps and not stop.stop:
        # The batch of step s is a pure function of (seed, s): resumed runs see the same data.
        g = np.random.default_rng([args.seed, step])
        idx = torch.from_numpy(g.integers(0, n, args.batch))
        drop = torch.from_numpy(g.random(args.batch) < args.uncond)
        if args.two_different_share > 0:  # drawn after the plain batch: runs without it see the same data
            pick = torch.from_numpy(g.random(args.batch) < args.two_different_share)
            idx[pick] = two_different[torch.from_numpy(g.integers(0, len(two_different), args.batch))][pick]
        caps = ["" if d else captions[i] for i, d in zip(idx.tolist(), drop.tolist())]
        x0 = (lat_mean[idx] + lat_std[idx] * torch.randn(args.batch, *lat_mean.shape[1:])) * scale
        x0 = x0.to(device)
        t = torch.randint(0, 1000, (args.batch,))
        if args.high_noise_share > 0:  # drawn from g after the rest: runs without it see the same data
            high = torch.from_numpy(g.random(args.batch) < args.high_noise_share)
            t[high] = torch.from_numpy(g.integers(args.high_noise_from, 1000, args.batch))[high]
        start, fix = x0, None
        if wrong is not None:  # drawn from g after the rest: runs without it see the same data
            fix = torch.from_numpy(g.random(args.batch) < args.corrected_share)
            k = torch.from_numpy(g.integers(0, len(wrong[2]), args.batch))[fix]
            t[fix] = torch.from_numpy(g.integers(*corrected_t, args.batch))[fix]
            idx[fix] = wrong[2][k]
            drop[fix] = False  # a wrong twin is wrong only against its caption
            caps = [captions[i] if f else c for i, f, c in zip(idx.tolist(), fix.tolist(), caps)]
            r = torch.randn(len(k), *lat_mean.shape[1:])
            start = x0.clone()
            x0[fix] = ((lat_mean[idx[fix]] + lat_std[idx[fix]] * r) * scale).to(device)
            start[fix] = ((wrong[0][k] + wrong[1][k] * r) * scale).to(device)
        t = t.to(device)
        plain = step < args.plain_noise_until
        noise = training_noise(tuple(x0.shape), 0.0 if plain else args.offset_noise,
                               0.0 if plain else args.pyramid_noise).to(device)
        a = acp[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * start + (1 - a).sqrt() * noise
        if wrong is not None:  # the noise that takes the right scene to `noisy`
            noise = noise + (a / (1 - a)).sqrt() * (start - x0)
        ctx = contexts(caps)  # [B,77,W]
        for group in opt.param_groups:
            group["lr"] = common.learning_rate(args, step) * group["lr_scale"]
        kept, logged = [], {}
        for module in cross_attentions:
            module.kept = kept if targets else None
        pred = unet(noisy, t.float(), ctx)
        target = noise if prediction == "epsilon" else a.sqrt() * noise - (1 - a).sqrt() * x0
        if object_cells is None:
            loss = F.mse_loss(pred, target)
        else:
            weight = 1.0 + args.object_weight * object_cells[idx].to(device).float()  # [B,1,h,w]
            loss = (weight * (pred - target).pow(2)).mean() / weight.mean()
        if fix is not None and fix.any():
            logged["twins"] = F.mse_loss(pred[fix.to(device)], target[fix.to(device)]).item()
        if probe is not None:
            probed = probe.loss(ctx, caps)
            if probed is not None:
                logged.update(binding=probed[0].item(), bound=probed[1])
                loss = loss + args.binding_loss * probed[0]
        if targets:
            pos = targets[0][idx].clone()
            pos[drop] = -1  # an empty caption has no words to place
            extra_loss = attention_loss(kept, pos.to(device), targets[1][idx].to(device))
            if extra_loss is not None:
                logged["attention"] = extra_loss.item()
                loss = loss + args.attention_loss * extra_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        with torch.no_grad():
            d = min(args.ema, (1 + step) / (10 + step))  # warm-up: the EMA follows closely at first
            for ema_module, module in ema_pairs:
                for pe, p in zip(ema_module.parameters(), module.parameters()):
                    pe.mul_(d).add_(p.detach(), alpha=1 - d)
        step += 1
        progress.update(step, loss=loss.item(), **logged)
        if step % args.save_every == 0:
            common.save_checkpoint(args.run_dir, step, modules, opt, extra)
    common.save_checkpoint(args.run_dir, step, modules, opt, extra)
    print(f"saved {args.run_dir}/ckpt.safetensors at step {step}", flush=True)
    if stop.stop:
        raise SystemExit(143)  # stopped by a signal: a driver script must not go on


if __name__ == "__main__":
    main()
