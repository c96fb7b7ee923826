#!/usr/bin/env python3
"""Encodes every test string with a Hugging Face tokenizer.json, for hayate's tokenizer tests.

    python3 hf_token_ids.py --tokenizer-dir DIR --strings strings.json --out hf_ids_NAME.json

Reads DIR/tokenizer.json with `tokenizers.Tokenizer.from_file` (no transformers, no network),
encodes each string with add_special_tokens=False (so no BOS/EOS is added; special-token text
such as "<|im_end|>" inside a string is still matched, as Hugging Face does by default) and
writes [{"text": ..., "ids": [...]}, ...] in the order of the strings file.
"""

import argparse
import json
import os
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer-dir", required=True, help="folder holding tokenizer.json")
    parser.add_argument("--strings", required=True, help="JSON list of strings (strings.json)")
    parser.add_argument("--out", required=True, help="output JSON file, e.g. hf_ids_qwen2.json")
    args = parser.parse_args()

    try:
        from tokenizers import Tokenizer
    except ImportError:
        sys.exit("this script needs the `tokenizers` package (pip install tokenizers)")

    path = os.path.join(args.tokenizer_dir, "tokenizer.json")
    if not os.path.isfile(path):
        sys.exit(f"{path}: no such file; --tokenizer-dir must be a folder with a tokenizer.json")
    tokenizer = Tokenizer.from_file(path)

    with open(args.strings, encoding="utf-8") as f:
        strings = json.load(f)
    if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
        sys.exit(f"{args.strings}: expected a JSON list of strings")

    results = []
    for text in strings:
        encoding = tokenizer.encode(text, add_special_tokens=False)
        results.append({"text": text, "ids": list(encoding.ids)})

    with open(args.out, "w", encoding="utf-8") as f:  # one string per line, easy to diff
        f.write("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in results) + "\n]\n")
    n_ids = sum(len(r["ids"]) for r in results)
    print(f"{args.out}: {len(results)} strings, {n_ids} ids, vocab {tokenizer.get_vocab_size()} ({path})")


if __name__ == "__main__":
    main()
