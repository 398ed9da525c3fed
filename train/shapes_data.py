#!/usr/bin/env python3
"""Captioned 64x64 images of one or two coloured shapes, with their ground truth.

Image i of a dataset is a pure function of (seed, i): any image can be regenerated on its own,
so training can draw images on the fly and a dataset is just a seed and a count.

Some shape+colour pairs (HELD_OUT_PAIRS) never occur in training images; evaluation prompts
that use them measure generalisation to unseen combinations.

Usage:
  python3 train/shapes_data.py --out runs/data --count 2000 --seed 0 [--split train|heldout] [--png 16]
writes captions_SPLIT.jsonl (one {"index", "caption", "truth"} per line), held_out.json and,
with --png N, the first N images as PNG files for a look. `--out train --count 0` rewrites
train/held_out.json, the committed list of held-out pairs and the vocabulary.
"""
import argparse
import json
import math
import os
import random

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64  # image side in pixels
SUPERSAMPLE = 4  # drawn at 4x and box-filtered down: smooth edges

SHAPES = ["circle", "square", "triangle", "diamond", "star", "ring", "cross"]
PLURALS = {"cross": "crosses"}  # everything else takes "s"

# Object colours, far apart in RGB so that a detector (and a small model) can tell them apart.
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "orange": (250, 140, 20),
    "purple": (130, 40, 170),
    "pink": (250, 130, 200),
    "cyan": (40, 210, 220),
}
BACKGROUNDS = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
# Side of the object's bounding box in pixels, before jitter.
SIZES = {"small": 16, "large": 28}
SIZE_WORDS = {"small": ["small", "little", "tiny"], "large": ["large", "big"]}

# Anchor of each position (x, y) in pixels; the detector assigns the nearest anchor.
POSITIONS = {
    "centre": (32, 32),
    "left": (16, 32),
    "right": (48, 32),
    "top": (32, 16),
    "bottom": (32, 48),
    "top left": (16, 16),
    "top right": (48, 16),
    "bottom left": (16, 48),
    "bottom right": (48, 48),
}
POSITION_PHRASES = {
    "centre": ["in the centre", "in the center", "in the middle"],
    "left": ["on the left", "at the left"],
    "right": ["on the right", "at the right"],
    "top": ["at the top", "on the top"],
    "bottom": ["at the bottom", "on the bottom"],
    "top left": ["in the top left corner", "at the top left"],
    "top right": ["in the top right corner", "at the top right"],
    "bottom left": ["in the bottom left corner", "at the bottom left"],
    "bottom right": ["in the bottom right corner", "at the bottom right"],
}
JITTER = 2  # pixels of random offset around the anchor (anchors are 16 apart)

# Never in training images: each shape and colour still occurs with other partners.
HELD_OUT_PAIRS = [
    ("red", "triangle"),
    ("blue", "star"),
    ("green", "ring"),
    ("yellow", "cross"),
    ("purple", "square"),
    ("orange", "circle"),
    ("pink", "diamond"),
    ("cyan", "star"),
]
HELD_OUT = set(HELD_OUT_PAIRS)


def plural(shape):
    return PLURALS.get(shape, shape + "s")


# ---------------------------------------------------------------------------------------------
# Drawing


def _star_points(cx, cy, r, inner=0.45, points=5):
    pts = []
    for k in range(points * 2):
        rad = r if k % 2 == 0 else r * inner
        a = -math.pi / 2 + k * math.pi / points
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def draw_shape(draw, shape, cx, cy, side, fill, background):
    """Draws `shape` with bounding box side `side` centred at (cx, cy), in supersampled pixels."""
    h = side / 2
    box = [cx - h, cy - h, cx + h, cy + h]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, cy - h), (cx + h, cy + h), (cx - h, cy + h)], fill=fill)
    elif shape == "diamond":
        draw.polygon([(cx, cy - h), (cx + h, cy), (cx, cy + h), (cx - h, cy)], fill=fill)
    elif shape == "star":
        # A 5-point star's points span less than its circle vertically; centre its box.
        pts = _star_points(0, 0, 1.0)
        ys = [p[1] for p in pts]
        xs = [p[0] for p in pts]
        scale = side / max(max(ys) - min(ys), max(xs) - min(xs))
        oy = -(max(ys) + min(ys)) / 2
        draw.polygon([(cx + x * scale, cy + (y + oy) * scale) for x, y in pts], fill=fill)
    elif shape == "ring":
        draw.ellipse(box, fill=fill)
        r = h * 0.5
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=background)
    elif shape == "cross":
        a = side / 6  # arm half-width: arms one third of the side
        draw.rectangle([cx - a, cy - h, cx + a, cy + h], fill=fill)
        draw.rectangle([cx - h, cy - a, cx + h, cy + a], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")


# Not a caption colour: an object drawn without colour, in a gray that stands out from the
# background (the experiments of decided_when.py and cache_corrupted.py).
NEUTRAL = "neutral"


def fill_of(colour, background):
    """The RGB of a colour name, of NEUTRAL, or an RGB triple itself (an object off the palette:
    train_clip.py --off-palette)."""
    if isinstance(colour, (tuple, list)):
        return tuple(colour)
    if colour == NEUTRAL:
        return (90, 90, 90) if background == "white" else (200, 200, 200)
    return COLOURS[colour]


def render(truth):
    """An image (HxWx3 uint8) from its ground truth."""
    s = SUPERSAMPLE
    bg = BACKGROUNDS[truth["background"]]
    img = Image.new("RGB", (SIZE * s, SIZE * s), bg)
    draw = ImageDraw.Draw(img)
    for o in truth["objects"]:
        cx, cy = o["center"]
        draw_shape(draw, o["shape"], cx * s, cy * s, o["side"] * s, fill_of(o["colour"], truth["background"]), bg)
    img = img.resize((SIZE, SIZE), Image.BOX)
    return np.asarray(img, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Sampling scenes


def _boxes_apart(a, b, margin=3):
    (ax, ay), (bx, by) = a["center"], b["center"]
    need = (a["side"] + b["side"]) / 2 + margin
    return max(abs(ax - bx), abs(ay - by)) >= need


def _sample_object(rng, shape, colour, size, position):
    ax, ay = POSITIONS[position]
    side = SIZES[size] + rng.randint(-2, 2)
    return {
        "shape": shape,
        "colour": colour,
        "size": size,
        "position": position,
        "side": side,
        "center": [ax + rng.randint(-JITTER, JITTER), ay + rng.randint(-JITTER, JITTER)],
    }


def _pair_allowed(shape, colour, split):
    held = (colour, shape) in HELD_OUT
    return held if split == "heldout" else not held


def sample_truth(seed, index, split="train"):
    """The ground truth of image `index`: background, objects, caption.

    split "train": no object uses a held-out shape+colour pair. split "heldout": the first
    object always does (the second, if any, is any pair).
    """
    rng = random.Random(f"{seed}:{split}:{index}")
    background = rng.choice(list(BACKGROUNDS))
    two = rng.random() < 0.45
    while True:
        objects = []
        kinds = []
        if split == "heldout":
            colour, shape = rng.choice(HELD_OUT_PAIRS)
            kinds.append((shape, colour))
        n = 2 if two else 1
        while len(kinds) < n:
            shape, colour = rng.choice(SHAPES), rng.choice(list(COLOURS))
            if (colour, shape) in HELD_OUT and split == "train":
                continue
            kinds.append((shape, colour))
        if two and rng.random() < 0.3:
            kinds[1] = kinds[0]  # "two blue circles"
        positions = list(POSITIONS)
        for shape, colour in kinds:
            size = rng.choice(list(SIZES))
            objects.append(_sample_object(rng, shape, colour, size, rng.choice(positions)))
        if len(objects) == 1 or _boxes_apart(objects[0], objects[1]):
            break
    truth = {"background": background, "objects": objects}
    truth["caption"] = caption(truth, rng)
    return truth


# ---------------------------------------------------------------------------------------------
# Captions


def _object_phrase(o, rng, article=True, with_size=None, with_position=None):
    parts = []
    if with_size is None:
        with_size = rng.random() < 0.6
    if with_size:
        parts.append(rng.choice(SIZE_WORDS[o["size"]]))
    parts.append(o["colour"])
    parts.append(o["shape"])
    text = " ".join(parts)
    if article:
        text = "a " + text
    if with_position:
        text += " " + rng.choice(POSITION_PHRASES[o["position"]])
    return text


def _relation(a, b):
    """How a's anchor relates to b's, as words, or None when they are diagonal neighbours."""
    (ax, ay), (bx, by) = POSITIONS[a["position"]], POSITIONS[b["position"]]
    if ax == bx and ay < by:
        return "above"
    if ax == bx and ay > by:
        return "below"
    if ay == by and ax < bx:
        return "to the left of"
    if ay == by and ax > bx:
        return "to the right of"
    return None


def caption(truth, rng):
    objs = truth["objects"]
    bg = truth["background"]
    with_bg = rng.random() < 0.6
    tail = f" on a {bg} background" if with_bg else ""
    if len(objs) == 1:
        o = objs[0]
        style = rng.random()
        if style < 0.7:
            text = _object_phrase(o, rng, with_position=rng.random() < 0.8)
            return text + tail
        # Position first: "in the top left corner, a small red star"
        return rng.choice(POSITION_PHRASES[o["position"]]) + ", " + _object_phrase(o, rng) + tail
    a, b = objs
    if (a["shape"], a["colour"]) == (b["shape"], b["colour"]):
        text = f"two {a['colour']} {plural(a['shape'])}"
        if a["size"] == b["size"] and rng.random() < 0.5:
            text = f"two {rng.choice(SIZE_WORDS[a['size']])} {a['colour']} {plural(a['shape'])}"
        return text + tail
    style = rng.random()
    rel = _relation(a, b)
    if rel and style < 0.35:
        return _object_phrase(a, rng) + " " + rel + " " + _object_phrase(b, rng) + tail
    if style < 0.7:
        return _object_phrase(a, rng, with_position=True) + " and " + _object_phrase(b, rng, with_position=True) + tail
    return _object_phrase(a, rng) + " and " + _object_phrase(b, rng) + tail


def sample(seed, index, split="train"):
    """(image HxWx3 uint8, truth dict with "caption")."""
    truth = sample_truth(seed, index, split)
    return render(truth), truth


def image_to_tensor_values(image):
    """uint8 HxWx3 -> float32 3xHxW in [-1, 1] (what the VAE reads)."""
    return (image.astype(np.float32).transpose(2, 0, 1) / 127.5) - 1.0


def held_out_description():
    return {
        "held_out_shape_colour_pairs": [{"colour": c, "shape": s} for c, s in HELD_OUT_PAIRS],
        "shapes": SHAPES,
        "colours": COLOURS,
        "backgrounds": BACKGROUNDS,
        "sizes": SIZES,
        "positions": POSITIONS,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=["train", "heldout"], default="train")
    ap.add_argument("--png", type=int, default=0, help="also save the first N images as PNG")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "held_out.json"), "w") as f:
        json.dump(held_out_description(), f, indent=1)
    if args.count == 0:  # just the vocabulary and the held-out list (train/held_out.json)
        return
    path = os.path.join(args.out, f"captions_{args.split}.jsonl")
    with open(path + ".tmp", "w") as f:
        for i in range(args.count):
            truth = sample_truth(args.seed, i, args.split)
            f.write(json.dumps({"index": i, "caption": truth["caption"], "truth": truth}) + "\n")
            if i < args.png:
                Image.fromarray(render(truth)).save(os.path.join(args.out, f"{args.split}_{i:05d}.png"))
    os.replace(path + ".tmp", path)
    print(f"wrote {args.count} {args.split} captions to {path}")


if __name__ == "__main__":
    main()
