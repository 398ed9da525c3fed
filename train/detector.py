#!/usr/bin/env python3
"""A programmatic detector for the shapes images: what objects an image holds, and whether it
matches a prompt.

- background: the median colour of the border pixels, named by the nearest background colour
- objects: pixels far from the background, split into 4-connected components
- colour: the nearest named colour to the component's strongest pixels
- position: the nearest position anchor to the component's centroid
- size: small or large by the bounding box side
- shape: from fill ratio (area / bounding box), solidity (area / convex hull area), a hole
  (ring), and how far the centroid sits below the box centre (triangle vs diamond)

`python3 train/detector.py --count 2000` checks it against generated images (clean data
should be ~100% correct) and prints the per-attribute accuracy.
"""
import argparse
import itertools
import re
from collections import deque

import numpy as np

import shapes_data as sd

MIN_PIXELS = 12  # smaller components are noise

_COLOUR_NAMES = list(sd.COLOURS)
_COLOUR_RGB = np.array([sd.COLOURS[c] for c in _COLOUR_NAMES], dtype=np.float32)
_BG_NAMES = list(sd.BACKGROUNDS)
_BG_RGB = np.array([sd.BACKGROUNDS[c] for c in _BG_NAMES], dtype=np.float32)


def _components(mask):
    """4-connected components of a boolean HxW mask, as lists of (y, x)."""
    h, w = mask.shape
    seen = np.zeros_like(mask)
    comps = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        queue = deque([(y0, x0)])
        pix = []
        while queue:
            y, x = queue.popleft()
            pix.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        comps.append(pix)
    return comps


def _hull_area(points):
    """Area of the convex hull of integer pixel corners (monotone chain)."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return 0.0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    area = 0.0
    for i in range(len(hull)):
        x1, y1 = hull[i]
        x2, y2 = hull[(i + 1) % len(hull)]
        area += x1 * y2 - x2 * y1
    return abs(area) / 2


def _hole_area(comp_mask):
    """Pixels not in the component and not reachable from the outside of its box."""
    padded = np.pad(~comp_mask, 1, constant_values=True)
    outside = _components(padded)
    # The component touching the padding border is the outside; the rest are holes.
    holes = 0
    for pix in outside:
        if not any(y == 0 or x == 0 or y == padded.shape[0] - 1 or x == padded.shape[1] - 1 for y, x in pix):
            holes += len(pix)
    return holes


def shape_features(comp_mask):
    """Features of one object from its boolean mask (cropped to its bounding box)."""
    ys, xs = np.nonzero(comp_mask)
    h, w = comp_mask.shape
    area = len(ys)
    corners = []
    for y, x in zip(ys, xs):  # pixel squares' corners, so the hull covers whole pixels
        corners += [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)]
    hull = _hull_area(corners)
    return {
        "fill": area / float(h * w),
        "solidity": area / hull if hull else 0.0,
        "hole": _hole_area(comp_mask) / float(h * w),
        "drop": (ys.mean() + 0.5 - h / 2) / h,  # centroid below the box centre, in box heights
        "aspect": w / float(h),
        # Filled fraction of the box's outer rows and columns: a cross's arms reach all four
        # edges with a third of their length; a diamond touches them in a point.
        "edge": (comp_mask[0].mean() + comp_mask[-1].mean() + comp_mask[:, 0].mean() + comp_mask[:, -1].mean()) / 4,
    }


def classify_shape(f):
    # Thresholds sit between the clusters the generator's shapes form (see main()).
    if f["hole"] > 0.05:
        return "ring"
    if f["fill"] > 0.9:
        return "square"
    if f["fill"] > 0.68 and f["solidity"] > 0.85:
        return "circle"
    if f["drop"] > 0.1:
        return "triangle"
    if f["edge"] < 0.2:
        return "star" if f["solidity"] < 0.8 else "diamond"
    return "cross"


def detect(image):
    """{"background", "objects": [{"shape", "colour", "position", "size", "center", "pixels"}]}.

    image: HxWx3 uint8.
    """
    img = image.astype(np.float32)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    bg_rgb = np.median(border, axis=0)
    background = _BG_NAMES[int(np.argmin(((_BG_RGB - bg_rgb) ** 2).sum(1)))]
    dist = np.sqrt(((img - bg_rgb) ** 2).sum(-1))
    objects = []
    for pix in _components(dist > 40):
        if len(pix) < MIN_PIXELS:
            continue
        ys = np.array([p[0] for p in pix])
        xs = np.array([p[1] for p in pix])
        # Colour from the strongest half of the pixels (edges blend with the background).
        d = dist[ys, xs]
        strong = d >= np.median(d)
        mean = img[ys[strong], xs[strong]].mean(0)
        ci = int(np.argmin(((_COLOUR_RGB - mean) ** 2).sum(1)))
        colour_rgb = _COLOUR_RGB[ci]
        # The object's own mask: closer to its colour than to the background.
        half = np.sqrt(((colour_rgb - bg_rgb) ** 2).sum()) / 2
        keep = d > half
        ys, xs = ys[keep], xs[keep]
        if len(ys) < MIN_PIXELS:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        mask[ys - y0, xs - x0] = True
        feats = shape_features(mask)
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0  # box centre: the triangle's centroid sits low
        position = min(sd.POSITIONS, key=lambda p: (sd.POSITIONS[p][0] - cx) ** 2 + (sd.POSITIONS[p][1] - cy) ** 2)
        side = max(y1 - y0, x1 - x0)
        objects.append({
            "shape": classify_shape(feats),
            "colour": _COLOUR_NAMES[ci],
            "position": position,
            "size": "large" if side > (sd.SIZES["small"] + sd.SIZES["large"]) / 2 else "small",
            "center": [float(cx), float(cy)],
            "pixels": int(len(ys)),
            "features": feats,
        })
    return {"background": background, "objects": objects}


# ---------------------------------------------------------------------------------------------
# Prompts


_SIZE_OF_WORD = {w: s for s, words in sd.SIZE_WORDS.items() for w in words}
_POSITION_OF_PHRASE = sorted(((p, pos) for pos, ps in sd.POSITION_PHRASES.items() for p in ps),
                             key=lambda t: -len(t[0]))
_SHAPE_OF_WORD = {s: s for s in sd.SHAPES}
_SHAPE_OF_WORD.update({sd.plural(s): s for s in sd.SHAPES})


def prompt_kind(spec):
    """"one object", "two alike" or "two different" for a parse_caption() spec."""
    objects = spec["objects"]
    if len(objects) == 1:
        return "one object"
    alike = all((o["shape"], o["colour"]) == (objects[0]["shape"], objects[0]["colour"]) for o in objects)
    return "two alike" if alike else "two different"


def parse_caption(text):
    """The attributes a caption states: {"background": name|None, "objects": [{"shape",
    "colour", "size"|None, "position"|None}]} (two objects for "two blue circles")."""
    t = " " + text.lower().replace(",", " ,") + " "
    background = None
    m = re.search(r" on an? (\w+) background", t)
    if m:
        background = m.group(1)
        t = t[:m.start()] + t[m.end():]
    # Positions attach to the object phrase right before them, or (leading "in the top
    # left corner, a ...") to the object right after them.
    tokens = []
    i = 0
    while i < len(t):
        for phrase, pos in _POSITION_OF_PHRASE:
            if t.startswith(" " + phrase + " ", i):
                tokens.append(("pos", pos))
                i += len(phrase) + 1
                break
        else:
            j = t.find(" ", i + 1)
            if j < 0:
                break
            word = t[i + 1:j]
            if word:
                tokens.append(("word", word))
            i = j
    objects = []
    pending_size, count, colour = None, 1, None
    leading_position = None
    for kind, value in tokens:
        if kind == "pos":
            if objects and objects[-1]["position"] is None and not (leading_position is None and colour):
                objects[-1]["position"] = value
            else:
                leading_position = value
        elif value == "two":
            count = 2
        elif value in _SIZE_OF_WORD:
            pending_size = _SIZE_OF_WORD[value]
        elif value in sd.COLOURS:
            colour = value
        elif value in _SHAPE_OF_WORD and colour:
            for _ in range(count):
                objects.append({"shape": _SHAPE_OF_WORD[value], "colour": colour, "size": pending_size,
                                "position": leading_position})
            leading_position, pending_size, count, colour = None, None, 1, None
    return {"background": background, "objects": objects}


def _object_score(spec, found):
    return sum(spec[k] is not None and spec[k] == found[k] for k in ("shape", "colour", "size", "position"))


def check(image, spec):
    """Compares an image with a spec (parse_caption's form; None = not stated).

    Returns {"correct": bool (every stated attribute right and no extra object),
             "attributes": {name: [right, stated]}, "detected": detect(image)}.
    """
    found = detect(image)
    attrs = {k: [0, 0] for k in ("count", "shape", "colour", "size", "position", "background")}
    if spec.get("background") is not None:
        attrs["background"][1] += 1
        attrs["background"][0] += found["background"] == spec["background"]
    objs = found["objects"]
    want = spec["objects"]
    attrs["count"] = [int(len(objs) == len(want)), 1]
    # Best one-to-one assignment of detected objects to stated ones.
    best, best_pairs = -1, []
    for perm in itertools.permutations(range(len(objs)), min(len(objs), len(want))):
        pairs = list(zip(range(len(want)), perm))
        score = sum(_object_score(want[i], objs[j]) for i, j in pairs)
        if score > best:
            best, best_pairs = score, pairs
    matched = dict(best_pairs)
    for i, w in enumerate(want):
        for k in ("shape", "colour", "size", "position"):
            if w.get(k) is None:
                continue
            attrs[k][1] += 1
            if i in matched:
                attrs[k][0] += objs[matched[i]][k] == w[k]
    correct = all(r == s for r, s in attrs.values())
    return {"correct": correct, "attributes": attrs, "detected": found}


def main():
    ap = argparse.ArgumentParser(description="check the detector on generated images")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--split", choices=["train", "heldout"], default="train")
    args = ap.parse_args()
    totals = {}
    whole = 0
    parsed_ok = 0
    for i in range(args.count):
        image, truth = sd.sample(args.seed, i, args.split)
        # Against the full ground truth (every attribute stated) ...
        spec = {"background": truth["background"],
                "objects": [{k: o[k] for k in ("shape", "colour", "size", "position")} for o in truth["objects"]]}
        r = check(image, spec)
        whole += r["correct"]
        for k, (a, b) in r["attributes"].items():
            t = totals.setdefault(k, [0, 0])
            t[0] += a
            t[1] += b
        if not r["correct"] and whole < 10 ** 9:
            print("miss", i, truth["caption"], [(o["shape"], o["colour"], o["position"], o["size"]) for o in
                                                r["detected"]["objects"]])
        # ... and the caption parser: what it reads must agree with the truth.
        p = parse_caption(truth["caption"])
        ok = (p["background"] in (None, truth["background"]) and len(p["objects"]) == len(truth["objects"]) and
              check(image, p)["correct"])
        parsed_ok += ok
        if not ok:
            print("caption parse mismatch", i, truth["caption"], p)
    print(f"whole-image accuracy {whole}/{args.count}; caption specs satisfied {parsed_ok}/{args.count}")
    for k, (a, b) in totals.items():
        print(f"  {k:10s} {a}/{b} = {a / max(b, 1):.4f}")


if __name__ == "__main__":
    main()
