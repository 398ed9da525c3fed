#!/usr/bin/env python3
"""Does one object's colour or shape reach the other through the states after the caption? In a
causal text tower the eos and padding states summarise the whole caption, and the UNet puts
about half its cross-attention there. This generates the first --count seen prompts of two
different objects in PyTorch (evaluate.py's DDIM pipeline, guidance 3, 4 seeds each) with the
caption's states after its last word ("pad") or from its eos on ("eos") replaced by the empty
caption's states at the same positions, and counts the images the detector finds fully right.
If the summary states carried the leak, the replaced runs would bind better.

  python3 train/padding_leak.py [--models models] [--count 16]
"""
import argparse

import torch

import detector
from adherence import seen_scenes_of_kind
from evaluate import Pipeline


class Replaced(torch.nn.Module):
    """The text tower with each prompt's states from `start` on taken from the empty caption's
    (Pipeline.generate encodes the prompts, then as many empty captions)."""

    def __init__(self, text, mode):
        super().__init__()
        self.text, self.mode = text, mode

    def forward(self, ids):
        out = self.text(ids)["last_hidden_state"].clone()
        n = ids.shape[0] // 2
        for r in range(n):
            eos = int((ids[r] == self.text.eos_token_id).int().argmax())
            start = eos if self.mode == "eos" else eos + 1
            out[r, start:] = out[n + r, start:]
        return {"last_hidden_state": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="models")
    ap.add_argument("--count", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(2)
    pipe = Pipeline(args.models)
    prompts = [truth["caption"] for _, truth in seen_scenes_of_kind("two different", args.count)]
    text = pipe.text
    for mode in ("none", "pad", "eos"):
        pipe.text = text if mode == "none" else Replaced(text, mode)
        right = 0
        for k, caption in enumerate(prompts):
            images = pipe.generate([caption] * 4, [100 * k + b for b in range(4)], steps=25, cfg=3.0)
            spec = detector.parse_caption(caption)
            right += sum(detector.check(image, spec)["correct"] for image in images)
        replaced = {"none": "nothing replaced", "pad": "states after eos replaced",
                    "eos": "states from eos on replaced"}[mode]
        print(f"{replaced}: whole prompt right {right}/{4 * len(prompts)}", flush=True)


if __name__ == "__main__":
    main()
