#!/usr/bin/env python3
"""Estimates the vocabulary size train.py's tokenizer training reaches on a corpus, without the
tokenizers library: a plain byte-pair merge loop on the same input (the first 150,000 rows as
ChatML text, specials turned into newlines, split by Qwen2's pre-tokenizer regex).

    python3 vocab_estimate.py DIR/train.jsonl [--vocab-size 4096]

The regex is written with ASCII classes (Python's re has no \\p{L}), so the corpus must be ASCII;
rows that are not are counted and reported. On recipe 1 it gives 2,051 tokens for min_frequency
2, what the tokenizers library gave in the real run. Ties between equally frequent pairs may be
broken differently from the library; the final size, when merging stops for lack of pairs, does
not depend on that order.
"""

import argparse
import collections
import json
import re

PRETOKENIZER = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+[\r\n]*|"
                          r"\s*[\r\n]+|\s+(?!\S)|\s+")
BASE = 256 + 3  # byte alphabet + <|endoftext|>, <|im_start|>, <|im_end|>


def pretokens(path, rows):
    words, not_ascii = collections.Counter(), 0
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= rows:
                break
            row = json.loads(line)
            text = row["text"] if "text" in row else "".join(
                f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in row["messages"])
            text = text.replace("<|im_start|>", "\n").replace("<|im_end|>", "\n")
            not_ascii += not text.isascii()
            words.update(PRETOKENIZER.findall(text))
    return words, not_ascii


def merged_size(words, vocab_size, min_frequency):
    pieces = {tuple(w): c for w, c in words.items()}
    size = BASE
    while size < vocab_size:
        pairs = collections.Counter()
        for w, c in pieces.items():
            for pair in zip(w, w[1:]):
                pairs[pair] += c
        if not pairs:
            break
        (a, b), count = pairs.most_common(1)[0]
        if count < min_frequency:
            break
        size += 1
        merged = {}
        for w, c in pieces.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + c
        pieces = merged
    return size


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train_jsonl")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--rows", type=int, default=150000, help="rows the tokenizer is trained on (train.py: 150,000)")
    args = parser.parse_args()
    words, not_ascii = pretokens(args.train_jsonl, args.rows)
    report = {"distinct_pretokens": len(words), "rows_not_ascii": not_ascii}
    for min_frequency in (2, 1):
        report[f"tokens_min_frequency_{min_frequency}"] = merged_size(words, args.vocab_size, min_frequency)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
