#!/usr/bin/env python3
"""Trains the demo CLIP model (text + vision towers) contrastively on generated image-caption
pairs. Its text tower later conditions the UNet (frozen), and the whole model is the scorer.

Text windows are the engine's: bos + SentencePiece ids + eos, padded with pad to 77. The text
attention is causal, so positions after eos never change the pooled (eos) output: training
runs the tower on the batch's longest caption only, which gives exactly the 77-token result
for the pooled embedding at a fraction of the cost.

Images are normalised with OpenAI CLIP's mean/std (written to the exported
preprocessor_config.json).

  nice -n 19 python3 train/train_clip.py --run-dir runs/clip --tokenizer runs/tokenizer/spiece.model [--resume]
"""
import argparse
import json
import os

import torch
import torch.nn.functional as F

import common
import safetensors_io
import shapes_data as sd
from clip_model import CLIPModel, clip_config
from tokenizer import SpmTokenizer

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def normalise(images):
    """[-1,1] images -> CLIP pixel_values."""
    return ((images + 1) / 2 - MEAN.to(images.device)) / STD.to(images.device)


# What --attribute-loss has the vision tower state: each shape, colour, shape+colour pair,
# position and object count a scene may have. Held-out pairs have no output: the training
# stream never draws one (a twin that makes one has it left out of its targets).
# The order is the checkpointed head's: keep it.
COLOUR_NAMES = [f"colour {c}" for c in sd.COLOURS] + \
    [f"{c} {s}" for c in sd.COLOURS for s in sd.SHAPES if (c, s) not in sd.HELD_OUT]
ATTRIBUTE_NAMES = ([f"shape {s}" for s in sd.SHAPES] + COLOUR_NAMES + [f"at {p}" for p in sd.POSITIONS] +
                   [f"{n} objects" for n in (1, 2, 3)])
ATTRIBUTE_INDEX = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}
COLOUR_FREE = torch.tensor([name not in COLOUR_NAMES for name in ATTRIBUTE_NAMES], dtype=torch.float32)


def attribute_targets(scenes):
    """(multi-hot [B, len(ATTRIBUTE_NAMES)]: which of the attributes each scene holds, mask of
    the same shape: 0 where a scene states nothing (the colours and pairs of a scene off the
    palette))."""
    out = torch.zeros(len(scenes), len(ATTRIBUTE_NAMES))
    mask = torch.ones_like(out)
    for row, scene in enumerate(scenes):
        objects = scene["objects"]
        if any(not isinstance(o["colour"], str) for o in objects):
            mask[row] = COLOUR_FREE
        names = [f"{len(objects)} objects"]
        for o in objects:
            names += [f"shape {o['shape']}", f"colour {o['colour']}", f"{o['colour']} {o['shape']}", f"at {o['position']}"]
        for name in names:
            if name in ATTRIBUTE_INDEX:
                out[row, ATTRIBUTE_INDEX[name]] = 1
    return out, mask


def soft_cross_entropy(logits, same):
    """Cross-entropy of each row against the uniform spread over its right answers (same = 1)."""
    return torch.sum(-same / same.sum(1, keepdim=True) * F.log_softmax(logits, 1), 1).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(ap, steps=3000, batch=64, lr=5e-4)
    ap.add_argument("--tokenizer", required=True, help="spiece.model from train_tokenizer.py")
    ap.add_argument("--text-width", type=int, default=64)
    ap.add_argument("--text-layers", type=int, default=4)
    ap.add_argument("--vision-width", type=int, default=64)
    ap.add_argument("--vision-layers", type=int, default=4)
    ap.add_argument("--position-twins", action="store_true",
                    help="batches of scenes and their moved twins (captions differing only in positions)")
    ap.add_argument("--swap-twins", action="store_true",
                    help="with --position-twins: a scene of two different objects gets the twin with their "
                         "shapes or colours swapped instead (captions differing only in which colour goes "
                         "with which shape): the scorer learns to tell a right image from a swapped one")
    ap.add_argument("--alter-twins", type=float, default=0.0,
                    help="with --position-twins: this share of the scenes gets the twin with one object's "
                         "shape or colour changed instead (captions differing in one word): the scorer "
                         "learns the shape and colour mistakes it has to catch when it reranks")
    ap.add_argument("--count-twins", type=float, default=0.0,
                    help="with --position-twins: this share of the scenes gets the twin with one object "
                         "more or fewer: the scorer learns not to prefer a candidate with an extra object "
                         "(a twin of three objects has no caption and serves only as a negative image)")
    ap.add_argument("--freeze-text-tower", action="store_true",
                    help="train only the vision tower, both projections and the logit scale: the text "
                         "tower's hidden states (what a UNet trained on them reads) stay bit-identical")
    ap.add_argument("--attribute-loss", type=float, default=0.0,
                    help="add this weight times a supervised loss (binary cross-entropy, summed over the "
                         "outputs): a linear head (kept in the checkpoint, not exported) reads from the "
                         "vision tower's pooled output which shapes, colours, shape+colour pairs and "
                         "positions the image holds and how many objects. The contrastive loss alone "
                         "leaves the tower nearly blind to shape")
    ap.add_argument("--off-palette", type=int, default=0,
                    help="with --attribute-loss: this many images more a step, of scenes whose objects "
                         "take random colours off the palette (never near a held-out pair's colour), "
                         "for the attribute loss only (shapes, positions, count): shape features that "
                         "do not depend on the colour")
    ap.add_argument("--stop-at", type=int, default=0,
                    help="stop at this step, before --steps, where the learning-rate schedule still "
                         "ends (repeats a run that was stopped by hand: run_all.sh's clip_attr)")
    ap.add_argument("--init-from", default="",
                    help="fine-tune: start from this run folder's weights (and config), with a fresh "
                         "optimiser and learning-rate schedule, counting steps on from its step")
    args = ap.parse_args()
    if (args.swap_twins or args.alter_twins or args.count_twins) and not args.position_twins:
        ap.error("--swap-twins, --alter-twins and --count-twins go with --position-twins "
                 "(their twins replace some moved ones)")
    if args.off_palette and not args.attribute_loss:
        ap.error("--off-palette goes with --attribute-loss (its images serve only that loss)")
    if args.alter_twins + args.count_twins > 1:
        ap.error("--alter-twins plus --count-twins is a share of the scenes: at most 1")
    device = common.setup(args)
    tok = SpmTokenizer(args.tokenizer)

    cfg_path = os.path.join(args.run_dir, "config.json")
    fine_tune_start = bool(args.init_from) and not args.resume  # the fine-tune's first run
    if fine_tune_start:
        cfg = json.load(open(os.path.join(args.init_from, "config.json")))
        common.write_json(cfg_path, cfg)
    elif args.resume:
        cfg = json.load(open(cfg_path))
    else:
        cfg = clip_config(tok.vocab_size, tok.bos, tok.eos, tok.pad, text_width=args.text_width,
                          text_layers=args.text_layers, vision_width=args.vision_width,
                          vision_layers=args.vision_layers)
        common.write_json(cfg_path, cfg)
    model = CLIPModel(cfg).to(device)
    modules = {"clip": model}
    if args.attribute_loss:
        modules["attributes"] = torch.nn.Linear(cfg["vision_config"]["hidden_size"], len(ATTRIBUTE_NAMES)).to(device)
    if args.freeze_text_tower:
        for p in model.text_model.parameters():
            p.requires_grad_(False)
    trained = [(f"{m}.{n}", p) for m, module in modules.items() for n, p in module.named_parameters() if p.requires_grad]
    decay = [p for n, p in trained if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in trained if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    if fine_tune_start:
        # The attribute head comes along where the run had one.
        tensors = safetensors_io.load(os.path.join(args.init_from, "ckpt.safetensors"))
        step, _ = common.load_checkpoint(args.init_from, {k: m for k, m in modules.items()
                                                          if k == "clip" or common.module_state(args.init_from, k, tensors)},
                                         None, device, tensors)
        start = step
        print(f"fine-tuning {args.init_from} from its step {step}", flush=True)
    else:
        step, extra = common.resume(args, modules, opt, device)
        start = extra.get("start_step", 0)
    print(f"clip parameters {sum(p.numel() for p in model.parameters()) / 1e6:.3f}M", flush=True)

    stop = common.StopFlag()
    progress = common.Progress(args.log_every, args.steps)
    model.train()
    last = min(args.steps, args.stop_at) if args.stop_at else args.steps
    while step < last and not stop.stop:
        if args.position_twins:
            images, captions, scenes = common.twin_batch(args.seed + 2, step, args.batch, args.swap_twins,
                                                         args.alter_twins, args.count_twins)
        else:
            images, captions, scenes = common.image_batch(args.seed + 2, step, args.batch)
        texts = [c for c in captions if c is not None]  # an image without a caption is only a negative
        ids = tok.windows(texts)
        longest = int((ids == tok.eos).int().argmax(1).max()) + 1
        ids = ids[:, :longest].to(device)
        pixels = normalise(images.to(device))
        head_scenes = scenes
        if args.attribute_loss and args.off_palette:
            # Shapes off the palette join the vision batch; only the attribute head sees them.
            extra, extra_scenes = common.off_palette_batch(args.seed + 7, step, args.off_palette)
            pixels = torch.cat([pixels, normalise(extra.to(device))])
            head_scenes = scenes + extra_scenes
        done, total = step - start, max(args.steps - start, 1)
        warm = min(1.0, (done + 1) / 200)
        cosine = 0.5 * (1 + torch.cos(torch.tensor(3.14159265 * done / total))).item()
        for g in opt.param_groups:
            g["lr"] = args.lr * warm * (0.1 + 0.9 * cosine)
        te = F.normalize(model.text_embeds(ids), dim=-1)
        pooled_all = model.vision_model(pixels)  # the batch's images, then any off the palette
        pooled = pooled_all[:len(scenes)]
        ie = F.normalize(model.visual_projection(pooled), dim=-1)
        scale = model.logit_scale.exp()
        logits = scale * ie @ te.T  # [B images, T texts]
        # Captions can repeat inside a batch ("two red circles"): every identical caption is a
        # right answer, so the targets spread over them.
        same = torch.tensor([[a == b for b in texts] for a in captions], dtype=torch.float32, device=device)
        captioned = same.sum(1) > 0
        i2t, i2t_target = logits[captioned], same[captioned]  # images that have a caption pick one
        t2i, t2i_target = logits.T, same.T  # every image, captioned or not, competes for each text
        loss = 0.5 * (soft_cross_entropy(i2t, i2t_target) + soft_cross_entropy(t2i, t2i_target))
        acc = i2t_target.gather(1, i2t.argmax(1, keepdim=True)).mean()
        parts = {}
        if args.attribute_loss:
            target, mask = (t.to(device) for t in attribute_targets(head_scenes))
            # Summed over the outputs (a mean would give the seven shapes a 90th of the weight).
            attributes = (F.binary_cross_entropy_with_logits(modules["attributes"](pooled_all), target,
                                                             reduction="none") * mask).sum() / len(head_scenes)
            loss = loss + args.attribute_loss * attributes
            parts["attributes"] = attributes.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for m in modules.values() for p in m.parameters()], 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, 4.6052)  # at most 100, as CLIP
        step += 1
        progress.update(step, loss=loss.item(), acc=acc.item(), scale=scale.item(), **parts)
        if step % args.save_every == 0:
            common.save_checkpoint(args.run_dir, step, modules, opt, {"start_step": start})
    common.save_checkpoint(args.run_dir, step, modules, opt, {"start_step": start})
    print(f"saved {args.run_dir}/ckpt.safetensors at step {step}", flush=True)
    if stop.stop:
        raise SystemExit(143)  # stopped by a signal: a driver script must not go on


if __name__ == "__main__":
    main()
