#!/usr/bin/env python3
"""Can one attention head, reading a text tower's per-token states as the UNet's cross-attention
does, fetch an object's colour given its shape, its shape given its colour, and its colour and
shape given its position? Two-object captions whose objects differ in shape and colour; the
position tasks use captions that place both objects, at different places.

As a measurement (a probe trained on the frozen states of the towers named, scored on fresh
captions; chance among the caption's two objects is 50%, and a random tower is the floor):

  python3 train/binding_probe.py --tower random --tower runs/unet_mix --tower clip:runs/clip_bind

As a loss (train_unet.py --binding-loss W): the probe trains with the UNet and its loss flows
into the text tower, so that the states say which colour and shape sit where, in a form a
cross-attention can read. The probe is dropped at export.
"""
import argparse
import functools
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

import common
import detector
import shapes_data
from clip_model import CLIPModel, load_trained_text_tower
from tokenizer import SpmTokenizer

SHAPES, COLOURS, POSITIONS = shapes_data.SHAPES, list(shapes_data.COLOURS), sorted(shapes_data.POSITIONS)
ATTRIBUTES = {"shape": SHAPES, "colour": COLOURS, "position": POSITIONS}
TASKS = (("shape", "colour"), ("colour", "shape"), ("position", "colour"), ("position", "shape"))  # (query, answer)


@functools.lru_cache(maxsize=None)
def caption_examples(caption):
    """[(task, query index, answer index)] that CAPTION poses: none unless it names two objects
    of different shapes and colours."""
    spec = detector.parse_caption(caption) if caption else None
    if not spec or len(spec["objects"]) != 2:
        return ()
    a, b = spec["objects"]
    if a["shape"] == b["shape"] or a["colour"] == b["colour"]:
        return ()
    placed = a["position"] is not None and b["position"] is not None and a["position"] != b["position"]
    out = []
    for o in (a, b):
        for task in TASKS:
            if task[0] == "position" and not placed:
                continue
            out.append((task, ATTRIBUTES[task[0]].index(o[task[0]]), ATTRIBUTES[task[1]].index(o[task[1]])))
    return tuple(out)


def task_examples(captions, task):
    """(rows, queries, answers) tensors of every example of TASK that the captions pose, or None."""
    picked = [(row, q, a) for row, c in enumerate(captions) for t, q, a in caption_examples(c) if t == task]
    return tuple(torch.tensor(x) for x in zip(*picked)) if picked else None


class BindingProbe(nn.Module):
    """A learnt query per attribute value; one head of keys and values over the 77 states; a
    linear read-out of the answer."""

    def __init__(self, width, dim=32):
        super().__init__()
        self.queries = nn.ModuleDict({k: nn.Embedding(len(v), dim) for k, v in ATTRIBUTES.items()})
        self.to_k, self.to_v = nn.Linear(width, dim), nn.Linear(width, width)
        self.read = nn.ModuleDict({k: nn.Linear(width, len(ATTRIBUTES[k])) for k in ("shape", "colour")})
        self.dim = dim

    def forward(self, states, task, query):
        """states [N,77,W], query [N] -> answer logits [N, classes]."""
        q = self.queries[task[0]](query)
        weights = torch.softmax(torch.einsum("nd,ntd->nt", q, self.to_k(states)) / self.dim ** 0.5, -1)
        return self.read[task[1]](torch.einsum("nt,ntw->nw", weights, self.to_v(states)))

    def loss(self, states, captions):
        """(mean cross-entropy, share right) over every example the captions pose (states
        [B,77,W] row-aligned with captions), or None when they pose none."""
        total, right, count = 0.0, 0, 0
        for task in TASKS:
            examples = task_examples(captions, task)
            if examples is None:
                continue
            rows, queries, answers = (x.to(states.device) for x in examples)
            logits = self(states[rows], task, queries)
            total = total + F.cross_entropy(logits, answers, reduction="sum")
            right += (logits.argmax(-1) == answers).sum().item()
            count += len(answers)
        return None if count == 0 else (total / count, right / count)


def load_tower(spec, clip_dir):
    """'random', 'clip:RUN' (a CLIP run's text tower) or a UNet run that trained its tower (its EMA)."""
    cfg = json.load(open(os.path.join(clip_dir, "config.json")))
    cpu = torch.device("cpu")
    if spec == "random":
        torch.manual_seed(0)
        return CLIPModel(cfg).text_model.eval()
    if spec.startswith("clip:"):
        model = CLIPModel(cfg)
        common.load_checkpoint(spec[5:], {"clip": model}, None, cpu)
        return model.text_model.eval()
    return load_trained_text_tower(spec, cfg, cpu)[0].text_model.eval()


def two_object_captions(seed, count):
    out, index = [], 0
    while len(out) < count:
        caption = shapes_data.sample_truth(seed, index)["caption"]
        index += 1
        if caption_examples(caption):
            out.append(caption)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tower", action="append", required=True,
                    help="random, clip:RUN_DIR or a UNet RUN_DIR that trained its text tower (repeatable)")
    ap.add_argument("--clip", default="runs/clip", help="CLIP run whose config the towers share")
    ap.add_argument("--tokenizer", default="runs/tokenizer/spiece.model")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = SpmTokenizer(args.tokenizer)
    train, test = two_object_captions(0, 3000), two_object_captions(777, 1000)
    for spec in args.tower:
        text = load_tower(spec, args.clip)
        with torch.no_grad():
            encode = lambda caps: torch.cat([text(tok.windows(caps[i:i + 500]))["last_hidden_state"]
                                             for i in range(0, len(caps), 500)])
            train_states, test_states = encode(train), encode(test)
        torch.manual_seed(1)
        probe = BindingProbe(train_states.shape[-1])
        opt = torch.optim.Adam(probe.parameters(), 3e-3)
        for step in range(args.steps):
            rows = torch.randint(0, len(train), (64,))
            loss, _ = probe.loss(train_states[rows], [train[r] for r in rows.tolist()])
            opt.zero_grad()
            loss.backward()
            opt.step()
        scores = []
        with torch.no_grad():
            for task in TASKS:
                rows, queries, answers = task_examples(test, task)
                right = (probe(test_states[rows], task, queries).argmax(-1) == answers).float().mean().item()
                scores.append(f"{task[0]} -> {task[1]} {100 * right:.0f}%")
        print(f"{spec}: " + ", ".join(scores) + f" ({len(test)} captions)", flush=True)


if __name__ == "__main__":
    main()
