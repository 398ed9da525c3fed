"""Token ids of captions with the demo SentencePiece model, the way the engine builds a window:
bos + content (truncated to length-2) + eos, padded with pad to `length` (77).

Uses the `spm_encode` program (Debian package sentencepiece) since the Python binding is not
packaged; results are cached per caption (the captions repeat a lot).
"""
import json
import os
import subprocess

import torch

CONTEXT = 77  # the engine's SentencePiece window (SentencePieceOptions::context_length)


class SpmTokenizer:
    def __init__(self, model_path):
        self.model_path = model_path
        meta = json.load(open(os.path.splitext(model_path)[0] + ".json"))
        self.bos, self.eos, self.pad = meta["bos_id"], meta["eos_id"], meta["pad_id"]
        self.vocab_size = meta["vocab_size"]
        self.cache = {}

    def content_ids(self, texts):
        todo = sorted({t for t in texts if t not in self.cache})
        if todo:
            if any("\n" in t for t in todo):
                raise ValueError("captions must be single lines")
            out = subprocess.run(["spm_encode", "--model", self.model_path, "--output_format=id"],
                                 input="\n".join(todo) + "\n", capture_output=True, text=True, check=True).stdout
            lines = out.split("\n")[:len(todo)]
            for t, line in zip(todo, lines):
                self.cache[t] = [int(x) for x in line.split()]
        return [self.cache[t] for t in texts]

    def windows(self, texts, length=CONTEXT):
        """LongTensor [B,length]."""
        rows = []
        for ids in self.content_ids(texts):
            ids = [self.bos] + ids[:length - 2] + [self.eos]
            rows.append(ids + [self.pad] * (length - len(ids)))
        return torch.tensor(rows, dtype=torch.long)
