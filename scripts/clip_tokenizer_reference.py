#!/usr/bin/env python3
"""A Python transcription of Hugging Face's CLIPTokenizer.encode (slow tokenizer, with ftfy's
NFC but none of ftfy's other repairs), used to write tests/data/clip_tokenizer/reference_cases.json:
inputs that the Hugging Face goldens (cases.json) do not cover, chiefly Unicode corner cases.
It runs on Python's own Unicode implementation (unicodedata, str.lower, the `regex` module),
which is what the C++ tables were generated from, so it checks those tables end to end.
It reproduces every case in cases.json (checked on each run).

    python3 scripts/clip_tokenizer_reference.py tests/data/clip_tokenizer > tests/data/clip_tokenizer/reference_cases.json
"""
import json
import re as std_re
import sys
import unicodedata

import regex

PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class Clip:
    def __init__(self, folder):
        self.vocab = json.load(open(folder + "/vocab.json", encoding="utf-8"))
        merges = open(folder + "/merges.txt", encoding="utf-8").read().strip().split("\n")[1:49152 - 256 - 2 + 1]
        self.ranks = dict(zip([tuple(m.split()) for m in merges], range(len(merges))))
        self.byte_encoder = bytes_to_unicode()
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.specials = ["<|startoftext|>", "<|endoftext|>"]

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            first, second = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if (first, second) not in self.ranks:
                break
            new_word, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
        self.cache[token] = " ".join(word)
        return self.cache[token]

    def tokenize_piece(self, text):
        text = unicodedata.normalize("NFC", text)
        text = std_re.sub(r"\s+", " ", text).strip().lower()
        ids = []
        for token in PATTERN.findall(text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids += [self.vocab.get(t, self.vocab["<|endoftext|>"]) for t in self.bpe(token).split(" ")]
        return ids

    def encode(self, text):
        # Special token strings are cut out of the raw text first (leftmost, longest).
        ids, start, at = [self.vocab["<|startoftext|>"]], 0, 0
        while at < len(text):
            found = max((s for s in self.specials if text.startswith(s, at)), key=len, default=None)
            if found is None:
                at += 1
                continue
            ids += self.tokenize_piece(text[start:at]) + [self.vocab[found]]
            at += len(found)
            start = at
        return ids + self.tokenize_piece(text[start:]) + [self.vocab["<|endoftext|>"]]


TEXTS = [
    "Ünïcödé café naïve résumé",
    unicodedata.normalize("NFD", "Ünïcödé café naïve résumé"),  # decomposed accents
    "e\u0301\u0323 vs e\u0323\u0301 and \u1e0b\u0323",  # combining marks reordered then composed
    "\u1100\u1161\u11a8 \ud55c\uae00 \u1112\u1161\u11ab",  # Hangul jamo compose to syllables
    "ΟΔΟΣ ΣΑΣ Σ. ΑΣ' ΣΑ",  # capital sigma: final form at word ends only
    "İstanbul DİYARBAKIR",  # İ lowercases to i + combining dot
    "ſtraße 'ſ 'S",  # long s matches 's under IGNORECASE
    "a\u0345b \u0345",  # U+0345 falls out of every class under IGNORECASE
    "tabs\tand\nnew\r\nlines\u00a0nbsp\u3000ideographic\u2028sep\x1cfs",
    "日本語のテキスト 中文 한국어 ไทย العربية हिन्दी",
    "digits ٣٤ ५ Ⅻ ² ½ 𝟙",
    "emoji 👩‍👩‍👧 🏳️‍🌈 👍🏽 ❤️",
    "full\uff37idth \uff21\uff22\uff23 ﬁ ligature",
    "a<|endoftext|>b<|startoftext|>",
    "!<|endoftext|>! <|ENDOFTEXT|> <|StartOfText|>",
    "DON'T SHE'S I'LL we'VE",
    "x" * 40 + "pneumonoultramicroscopicsilicovolcanoconiosis",
    "\u0301leading combining mark",
    "mixed ΑΒΓ кириллица ÆØÅ ǅ ᾼ",
]


def main():
    clip = Clip(sys.argv[1])
    for case in json.load(open(sys.argv[1] + "/cases.json", encoding="utf-8")):
        assert clip.encode(case["text"]) == case["ids"], case["text"]
    cases = [{"text": t, "ids": clip.encode(t)} for t in TEXTS]
    json.dump({"note": "written by scripts/clip_tokenizer_reference.py (see there)", "cases": cases},
              sys.stdout, ensure_ascii=True, indent=1)
    print()


if __name__ == "__main__":
    main()
