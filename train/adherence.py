#!/usr/bin/env python3
"""Prompt-adherence benchmark of a model as the engine runs it: `sdvk generate --best-of N`
draws N candidates for each prompt of a fixed set (seen and held-out shape+colour
combinations), ranks them with the CLIP scorer, and this script checks every image with the
programmatic detector against what its prompt states.

Reports, per set: whole-prompt accuracy (every stated attribute right, no extra object),
accuracy per attribute, mean CLIP score, each for the first candidate (batch position 0:
the image plain `generate --seed S` gives) and for the CLIP-reranked best of N; the
detector's own best of N (a perfect reranker: the ceiling of reranking); every one of the N
(the single-image accuracy again, from N times the images, so less noisy than "first"); and
a chance line: the same detector checks of each prompt against images drawn for *other*
prompts of the set (how often an image that ignores the prompt still passes). The CLIP pick
and the ceiling again over the first n candidates, n = 1, 2, 4, ... N (how reranking's gain
grows with the number of candidates). For prompts
of two different objects, where a wrong image goes wrong: a shape or colour missing, or both
there and bound to the wrong objects.

With --trained-captions, a third set: captions of two different objects the UNet was trained
on (is a binding failure a failure to learn or to generalise?).

  python3 train/adherence.py --sdvk build/sdvk [--model models/demo-sd] [--count 32] [--best-of 4]
      [--out runs/adherence] [--markdown table.md] [--trained-captions runs/latents] [--judge-only]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

import detector
import shapes_data as sd

ATTRIBUTES = ("count", "shape", "colour", "size", "position", "background")
SETS = (("seen", "train"), ("held-out", "heldout"))


def prompt_set(split, count):
    # Prompt seed 1000: captions the training streams (seeds 0-3) did not draw as such.
    return [sd.sample_truth(1000, i, split)["caption"] for i in range(count)]


def seen_scenes_of_kind(kind, count):
    """[(image, truth)]: the first `count` scenes of the seen prompt stream (prompt_set's) whose
    captions are of this kind ("one object", "two alike", "two different"), as drawn."""
    out, i = [], 0
    while len(out) < count:
        image, truth = sd.sample(1000, i, "train")
        if detector.prompt_kind(detector.parse_caption(truth["caption"])) == kind:
            out.append((image, truth))
        i += 1
    return out


def trained_two_object_set(latents, count):
    """The first `count` captions of two different objects in a UNet's latent cache: prompts the
    model was trained on (with their images), to tell a model that cannot bind two objects at
    all from one that does not generalise the binding."""
    out = []
    with open(os.path.join(latents, "captions.jsonl")) as f:
        for line in f:
            caption = json.loads(line)["caption"]
            if detector.prompt_kind(detector.parse_caption(caption)) == "two different" and caption not in out:
                out.append(caption)
                if len(out) == count:
                    break
    return out


def tally(checks):
    """[check()] -> (whole-prompt accuracy, {attribute: accuracy})."""
    whole = sum(c["correct"] for c in checks) / max(len(checks), 1)
    sums = {k: [0, 0] for k in ATTRIBUTES}
    for c in checks:
        for k, (right, stated) in c["attributes"].items():
            sums[k][0] += right
            sums[k][1] += stated
    return whole, {k: (a / b if b else None) for k, (a, b) in sums.items()}


def binding(spec, found):
    """Where an image of two different objects goes wrong: {"both shapes", "both colours",
    "pairs" (each drawn object has a stated shape+colour pair, exactly two objects), "swapped"
    (the right shapes and colours, bound to the wrong objects)} as 0/1."""
    pairs = lambda objs: sorted((o["shape"], o["colour"]) for o in objs)
    shapes = sorted(o["shape"] for o in found) == sorted(o["shape"] for o in spec["objects"])
    colours = sorted(o["colour"] for o in found) == sorted(o["colour"] for o in spec["objects"])
    right = pairs(found) == pairs(spec["objects"])
    return {"both shapes": int(shapes), "both colours": int(colours), "pairs": int(right),
            "swapped": int(shapes and colours and not right)}


def run_sdvk(args, name, prompts):
    """One `sdvk generate` over the set; returns its JSON summary (also kept in the set's folder,
    where --judge-only reads it back)."""
    folder = os.path.join(args.out, name)
    summary_file = os.path.join(folder, "sdvk.json")
    if args.judge_only:
        try:
            with open(summary_file) as f:
                summary = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit(f"adherence: --judge-only: cannot read {summary_file}: {e}")
        if sorted({f["prompt"] for f in summary["files"]}) != sorted(set(prompts)):
            sys.exit(f"adherence: --judge-only: {summary_file} holds other prompts than this set")
        if args.clip:
            rescore(args, summary)
        return summary
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        if f.endswith(".png"):
            os.remove(os.path.join(folder, f))
    prompts_file = os.path.join(folder, "prompts.txt")
    with open(prompts_file, "w") as f:
        f.write("\n".join(prompts) + "\n")
    cmd = [args.sdvk, "generate", "--prompts-file", prompts_file, "--best-of", str(args.best_of),
           "--seed", str(args.seed), "--steps", str(args.steps), "--cfg-scale", str(args.cfg),
           "--output", os.path.join(folder, "p{prompt}-i{index}.png"), "--json", "--quiet"]
    for flag, value in (("--model", args.model), ("--rerank-clip", args.clip),
                        ("--scheduler", args.scheduler), ("--precision", args.precision)):
        if value:
            cmd += [flag, value]
    print(" ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"adherence: sdvk generate failed (exit {done.returncode})")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    with open(summary_file, "w") as f:
        json.dump(summary, f)
    return summary


def rescore(args, summary):
    """Replaces each image's CLIP score by --clip's (`sdvk score`; each PNG holds its prompt), so
    that scorers can be compared on the same candidates without denoising again."""
    paths = [f["path"] for f in summary["files"]]
    cmd = [args.sdvk, "score", "--clip", args.clip, "--json"] + (["--precision", args.precision] if args.precision else [])
    done = subprocess.run(cmd + paths, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"adherence: sdvk score failed (exit {done.returncode})")
    score = {r["image"]: r["score"] for r in json.loads(done.stdout)["results"]}
    for f in summary["files"]:
        f["clip_score"] = score[f["path"]]


def evaluate(args, name, prompts):
    summary = run_sdvk(args, name, prompts)
    by_prompt = {}  # prompt index -> [(batch_pos, clip_score, image)]
    # Prompt p is drawn with seed + p; a set may hold the same caption twice, so the seed, not
    # the text, says which prompt an image belongs to.
    for f in summary["files"]:
        image = np.asarray(Image.open(f["path"]).convert("RGB"))
        p = f["seed"] - summary["seed"]
        if not 0 <= p < len(prompts) or f["prompt"] != prompts[p]:
            sys.exit(f"adherence: {f['path']}: seed {f['seed']} does not belong to its prompt in this set")
        by_prompt.setdefault(p, []).append((f["batch_pos"], f["clip_score"], image))
    first, best, ceiling, every, chance = [], [], [], [], []
    clip_first, clip_best, clip_every = [], [], []
    kinds = {}  # prompt kind -> [prompts, images right, images]
    bindings = []  # binding() of every image of two different objects
    misses = {}  # what is wrong with CLIP's pick where a right candidate was there -> prompts
    # Candidate counts n -> [prompts CLIP's best of the first n gets right, prompts one of them is
    # right]: how reranking's gain and ceiling grow with n (positions 0..n-1 are the images
    # `--best-of n` draws).
    by_n = {n: [0, 0] for n in sorted({1, args.best_of} | {2 ** k for k in range(1, 7) if 2 ** k < args.best_of})}
    for i, p in enumerate(prompts):
        spec = detector.parse_caption(p)
        cands = sorted(by_prompt[i], key=lambda c: c[0])
        checks = [detector.check(c[2], spec) for c in cands]
        top = max(range(len(cands)), key=lambda k: cands[k][1])
        for n in by_n:  # the same ranking over the first n candidates only
            pick = max(range(n), key=lambda k: cands[k][1])
            by_n[n][0] += checks[pick]["correct"]
            by_n[n][1] += any(c["correct"] for c in checks[:n])
        first.append(checks[0])
        best.append(checks[top])
        # What a perfect reranker would pick: a fully right candidate, else the most attributes.
        ceiling.append(max(checks, key=lambda c: (c["correct"], sum(r for r, _ in c["attributes"].values()))))
        if ceiling[-1]["correct"] and not best[-1]["correct"]:
            why = miss_reason(best[-1], spec)
            misses[why] = misses.get(why, 0) + 1
        every.extend(checks)
        kind = kinds.setdefault(detector.prompt_kind(spec), [0, 0, 0])
        kind[0] += 1
        kind[1] += sum(c["correct"] for c in checks)
        kind[2] += len(checks)
        if detector.prompt_kind(spec) == "two different":
            bindings.extend(binding(spec, c["detected"]["objects"]) for c in checks)
        clip_first.append(cands[0][1])
        clip_best.append(cands[top][1])
        clip_every.extend(c[1] for c in cands)
        other = by_prompt[(i + 1) % len(prompts)]  # an image drawn for the next prompt
        chance.append(detector.check(sorted(other, key=lambda c: c[0])[0][2], spec))
    rows = {}
    for label, checks, clip in (("first", first, clip_first), (f"best of {args.best_of}", best, clip_best),
                                (f"detector's best of {args.best_of} (reranking's ceiling)", ceiling, None),
                                (f"each of the {args.best_of}", every, clip_every),
                                ("chance (other prompt's image)", chance, None)):
        whole, attrs = tally(checks)
        rows[label] = {"whole": whole, "attributes": attrs, "clip": float(np.mean(clip)) if clip else None}
    # Whole-prompt accuracy of each image by kind of prompt: two different objects need the
    # colour and shape bound to the right one.
    by_kind = {k: {"prompts": n, "whole": right / images} for k, (n, right, images) in sorted(kinds.items())}
    two = {k: sum(b[k] for b in bindings) / len(bindings) for k in bindings[0]} if bindings else {}
    return {"prompts": len(prompts), "rows": rows, "by_kind": by_kind, "two_different": two,
            "by_candidates": {str(n): {"clip": right / len(prompts), "ceiling": any_right / len(prompts)}
                              for n, (right, any_right) in by_n.items()},
            "rerank_misses": dict(sorted(misses.items())), "seconds": summary.get("seconds", {}),
            "device": summary.get("device"), "precision": summary.get("precision")}


def miss_reason(check, spec):
    """Why a wrong image is wrong, in a word: an object more or fewer than stated, else its
    first wrong attribute."""
    found, want = len(check["detected"]["objects"]), len(spec["objects"])
    if found != want:
        return "extra object" if found > want else "missing object"
    return next(k for k in ATTRIBUTES if check["attributes"][k][0] != check["attributes"][k][1])


def markdown(report, best_of):
    head = "| set | images | whole prompt | " + " | ".join(ATTRIBUTES) + " | CLIP score |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in report.items():
        for label, row in r["rows"].items():
            attrs = " | ".join("-" if row["attributes"][k] is None else f"{100 * row['attributes'][k]:.0f}%"
                               for k in ATTRIBUTES)
            clip = "-" if row["clip"] is None else f"{row['clip']:.1f}"
            lines.append(f"| {name} | {label} | {100 * row['whole']:.0f}% | {attrs} | {clip} |")
    lines.append("")
    lines.append(f"Whole prompt, each of the {best_of} images, by kind of prompt:")
    for name, r in report.items():
        kinds = ", ".join(f"{k} {100 * v['whole']:.0f}% ({v['prompts']} prompts)" for k, v in r["by_kind"].items())
        lines.append(f"- {name}: {kinds}")
    lines.append("")
    lines.append(f"Two different objects, each of the {best_of} images: both shapes drawn, both colours drawn, "
                 "each object's shape+colour pair right, right shapes and colours swapped:")
    for name, r in report.items():
        if r["two_different"]:
            lines.append(f"- {name}: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["two_different"].items()))
    lines.append("")
    lines.append("Whole prompt by number of candidates n (CLIP's pick of the first n / the detector's best of "
                 "them, reranking's ceiling):")
    for name, r in report.items():
        lines.append(f"- {name}: " + ", ".join(f"{n}: {100 * v['clip']:.0f}% / {100 * v['ceiling']:.0f}%"
                                                for n, v in r["by_candidates"].items()))
    lines.append("")
    lines.append(f"Reranking's misses (prompts where CLIP picked a wrong image while one of the {best_of} was right), "
                 "by what is wrong with the pick:")
    for name, r in report.items():
        misses = ", ".join(f"{k} {v}" for k, v in r["rerank_misses"].items()) or "none"
        lines.append(f"- {name}: {sum(r['rerank_misses'].values())} prompts: {misses}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdvk", default="build/sdvk")
    ap.add_argument("--model", default="", help="pipeline folder (default: sdvk's, the bundled demo)")
    ap.add_argument("--clip", default="", help="reranking CLIP folder (default: sdvk's, the bundled demo)")
    ap.add_argument("--count", type=int, default=32, help="prompts per set (seen, held-out)")
    ap.add_argument("--best-of", type=int, default=4)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=3.0, help="guidance scale (3: what generate uses for the demo model)")
    ap.add_argument("--seed", type=int, default=0, help="prompt p's candidates use seed + p")
    ap.add_argument("--scheduler", default="", help="default: the model's")
    ap.add_argument("--precision", default="")
    ap.add_argument("--out", default="runs/adherence", help="images and prompt files go here")
    ap.add_argument("--markdown", default="", help="also write the table to this file")
    ap.add_argument("--judge-only", action="store_true",
                    help="generate nothing: judge the images an earlier run left in --out again (after a "
                         "detector change, say); with --clip, rank them by that scorer's scores")
    ap.add_argument("--trained-captions", default="", metavar="LATENTS",
                    help="also a set of --count captions of two different objects from this latent cache "
                         "(cache_latents.py's folder): prompts the UNet was trained on")
    args = ap.parse_args()
    if args.best_of < 2:
        sys.exit("adherence: --best-of must be at least 2 (the first candidate is compared with the best)")
    report = {name: evaluate(args, name, prompt_set(split, args.count)) for name, split in SETS}
    if args.trained_captions:
        report["trained-on, two different"] = evaluate(args, "trained", trained_two_object_set(
            args.trained_captions, args.count))
    table = markdown(report, args.best_of)
    print(table)
    print(json.dumps(report))
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
