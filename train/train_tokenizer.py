#!/usr/bin/env python3
"""Trains the demo SentencePiece tokenizer on training captions with spm_train.

Special ids, chosen for the engine and for transformers' CLIP: pad 0, unk 1, bos 2, eos 3.
eos must not be 2 (transformers' CLIPTextTransformer pools at
argmax(input_ids) when eos_token_id == 2, the legacy rule).
The engine's SentencePieceTokenizer reads bos/eos/pad from the model itself and pads with
pad_id, so the windows it builds are the ones train/tokenizer.py builds.

  python3 train/train_tokenizer.py --out runs/tokenizer [--captions 50000] [--vocab 256]
writes spiece.model, spiece.vocab and spiece.json (the ids, for the Python side).
"""
import argparse
import json
import os
import subprocess

import shapes_data as sd

PAD, UNK, BOS, EOS = 0, 1, 2, 3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--captions", type=int, default=50000)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    text = os.path.join(args.out, "captions.txt")
    with open(text, "w") as f:
        for i in range(args.captions):
            f.write(sd.sample_truth(args.seed, i, "train")["caption"] + "\n")
    prefix = os.path.join(args.out, "spiece")
    subprocess.run([
        "spm_train", f"--input={text}", f"--model_prefix={prefix}", f"--vocab_size={args.vocab}",
        "--model_type=bpe", "--character_coverage=1.0", "--hard_vocab_limit=false",
        # NFKC plus case folding: "A Red Circle" reads as the captions' "a red circle".
        "--normalization_rule_name=nmt_nfkc_cf",
        f"--pad_id={PAD}", f"--unk_id={UNK}", f"--bos_id={BOS}", f"--eos_id={EOS}",
        "--pad_piece=<pad>", "--unk_piece=<unk>", "--bos_piece=<s>", "--eos_piece=</s>",
        "--num_threads=1", "--minloglevel=1",
    ], check=True)
    with open(prefix + ".vocab") as f:
        vocab = sum(1 for _ in f)
    meta = {"pad_id": PAD, "unk_id": UNK, "bos_id": BOS, "eos_id": EOS, "vocab_size": vocab}
    with open(prefix + ".json", "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {prefix}.model ({vocab} pieces)")


if __name__ == "__main__":
    main()
