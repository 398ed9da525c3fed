#!/usr/bin/env python3
"""How well a CLIP run tells a scene from its twin: for scenes of prompt seed 1000 (not a
training stream) and the twin that differs from each in one way, the share of pairs where
the right caption scores above the twin's for each image (image -> caption), and the right
image above the twin's for each caption (caption -> image: what best-of-N reranking needs).
Chance is 50%.

Twins (train/common.py): "swap" exchanges the two objects' shapes or colours (binding: which
colour goes with which shape), "move" moves every object elsewhere (positions), "alter"
changes one object's shape or colour (the mistakes reranking has to catch; reported apart as
"alter shape" and "alter colour"), "count" adds an object (one object's shape with one
object's colour) or removes one. A twin of three objects has no caption: such a pair counts
only its scene's caption -> image (is the right image above the one with an extra object?).

  python3 train/twin_retrieval.py runs/clip_twins runs/clip_bind [--pairs 200]
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

import common
import shapes_data as sd
from clip_model import CLIPModel
from tokenizer import SpmTokenizer
from train_clip import normalise

TWINS = (("swap", common.swapped_twin), ("move", common.moved_twin), ("alter", common.altered_twin),
         ("count", common.counted_twin))


def twin_pairs(make_twin, split, pairs, seed=1000):
    """[(scene, twin)] for the first `pairs` scenes of the stream that have a distinct twin."""
    out, index = [], 0
    while len(out) < pairs and index < 50 * pairs:
        scene = sd.sample_truth(seed, index, split)
        twin = make_twin(scene, seed, index)
        index += 1
        if twin is not None and twin["caption"] != scene["caption"]:
            out.append((scene, twin))
    return out


def altered_attribute(scene, twin):
    """What an altered twin changed: "shape" or "colour"."""
    return next(k for a, b in zip(scene["objects"], twin["objects"]) for k in ("shape", "colour") if a[k] != b[k])


def retrieval(model, tok, pairs):
    """(image -> caption, caption -> image) accuracy over the pairs. A twin without a caption
    takes part only as the image its scene's caption must not prefer."""
    scenes = [s for pair in pairs for s in pair]
    images = torch.from_numpy(np.stack([sd.image_to_tensor_values(sd.render(s)) for s in scenes]))
    with torch.no_grad():
        te = F.normalize(model.text_embeds(tok.windows([s["caption"] or "" for s in scenes])), dim=-1)
        ie = F.normalize(model.image_embeds(normalise(images)), dim=-1)
    right_i, twin_i, right_t, twin_t = ie[0::2], ie[1::2], te[0::2], te[1::2]
    has = torch.tensor([t["caption"] is not None for _, t in pairs])  # twins with a caption

    def score(a, b):
        return (a * b).sum(-1)

    def share(*wins):
        return torch.cat(wins).float().mean().item()

    image_to_caption = share((score(right_i, right_t) > score(right_i, twin_t))[has],
                             (score(twin_i, twin_t) > score(twin_i, right_t))[has])
    caption_to_image = share(score(right_t, right_i) > score(right_t, twin_i),
                             (score(twin_t, twin_i) > score(twin_t, right_i))[has])
    return image_to_caption, caption_to_image


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="train_clip.py run folders")
    ap.add_argument("--tokenizer", default="runs/tokenizer/spiece.model")
    ap.add_argument("--pairs", type=int, default=200, help="pairs per kind of twin and split")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = SpmTokenizer(args.tokenizer)
    sets = {}
    for kind, make in TWINS:
        for split in ("train", "heldout"):
            pairs = twin_pairs(make, split, args.pairs)
            if kind != "alter":
                sets[(kind, split)] = pairs
                continue
            for what in ("shape", "colour"):  # apart: a scorer may see colour and be blind to shape
                sets[(f"alter {what}", split)] = [p for p in pairs if altered_attribute(*p) == what]
    print("| run | step | twins | split | pairs | image -> caption | caption -> image |")
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        model = CLIPModel(json.load(open(os.path.join(run, "config.json")))).eval()
        step, _ = common.load_checkpoint(run, {"clip": model}, None, "cpu")
        for (kind, split), pairs in sets.items():
            i2c, c2i = retrieval(model, tok, pairs)
            print(f"| {os.path.basename(run.rstrip('/'))} | {step} | {kind} | {split} | {len(pairs)} | "
                  f"{100 * i2c:.1f}% | {100 * c2i:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
