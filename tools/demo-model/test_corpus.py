#!/usr/bin/env python3
"""Tests of the corpus generator and its checker on small corpora (plain Python, ~10 s; CTest runs it).

    python3 tools/demo-model/test_corpus.py

- the generator still writes the committed held-out files of data/ (the committed model's, recipe 4)
  and of data-v2/ (while it exists), each with the recipe its stats.json names (none: recipe 1);
  they do not depend on the corpus size, so a small run shows it;
- recipes 2 and 3 keep their rules (make_corpus.py --check exits 0 on each) and write the same
  held-out files;
- the checker fails, naming the rule, on corpora that break one: a held-out question planted in
  training, a wrong answer in training or in the held-out file, a frame no other attribute
  trains, a word never spelled, a held-out spelling item;
- train.py reads the corpus from train.jsonl.xz, .gz or plain alike (same rows, same sha256 of
  train.jsonl) and refuses a folder with two of them or none.
"""

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
HELD_OUT = ["heldout_addition.jsonl", "heldout_world.jsonl", "heldout_other.jsonl"]


def make(out, recipe, *extra):
    return subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py"), "--recipe", str(recipe), "--out", out,
                           "--conversations", "20000" if recipe >= 2 else "2000", "--documents", "1000", *extra],
                          capture_output=True, text=True)


def check(out):
    return subprocess.run([sys.executable, os.path.join(HERE, "check_corpus.py"), out], capture_output=True, text=True)


def rewrite(path, fn):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    with open(path, "w", encoding="utf-8") as f:
        for row in fn(rows):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def turn(user, assistant):
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def user_of(item):
    return item["prompt"].split("<|im_start|>user\n")[1].split("<|im_end|>")[0]


class Corpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="demo-corpus-")
        cls.v2 = os.path.join(cls.tmp, "v2")
        cls.v2_run = make(cls.v2, 2, "--check")
        cls.v3 = os.path.join(cls.tmp, "v3")
        cls.v3_run = make(cls.v3, 3, "--check")
        cls.v4 = os.path.join(cls.tmp, "v4")
        cls.v4_run = make(cls.v4, 4, "--check")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def broken_copy(self, name):
        out = os.path.join(self.tmp, name)
        shutil.copytree(self.v2, out)
        return out

    def assert_check_fails(self, out, words):
        r = check(out)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(words, r.stderr)

    def test_generator_writes_the_committed_heldout_files(self):
        folders = [f for f in ("data", "data-v2") if os.path.isdir(os.path.join(HERE, f))]
        self.assertIn("data", folders)
        for folder in folders:
            with open(os.path.join(HERE, folder, "stats.json"), encoding="utf-8") as f:
                recipe = json.load(f).get("recipe", 1)
            out = {2: self.v2, 3: self.v3, 4: self.v4}.get(recipe, os.path.join(self.tmp, f"v{recipe}"))
            if recipe not in (2, 3, 4):
                r = make(out, recipe)
                self.assertEqual(r.returncode, 0, r.stderr)
            for name in HELD_OUT:
                self.assertTrue(filecmp.cmp(os.path.join(out, name), os.path.join(HERE, folder, name), shallow=False),
                                f"{folder}/{name} is not what recipe {recipe} writes")

    def test_recipes_2_and_3_keep_their_rules(self):
        for out, run in ((self.v2, self.v2_run), (self.v3, self.v3_run)):
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            with open(os.path.join(out, "check.json"), encoding="utf-8") as f:
                report = json.load(f)
            self.assertEqual(report["problems"], [], out)
            self.assertEqual(report["heldout_world"], 394, out)
            self.assertGreaterEqual(report["phrasings_per_fact"]["min"], 10, out)

    def test_recipe3_changes_only_the_mix(self):
        for name in HELD_OUT + ["heldout_text.txt"]:
            self.assertTrue(filecmp.cmp(os.path.join(self.v2, name), os.path.join(self.v3, name), shallow=False),
                            f"recipe 3's {name} differs from recipe 2's")

        def products(out):
            with open(os.path.join(out, "train.jsonl"), encoding="utf-8") as f:
                users = [m["content"] for line in f for m in json.loads(line).get("messages", [])
                         if m["role"] == "user"]
            product = re.compile(r"\d+ (\*|x|times) \d+|^Multiply \d+ by \d+")  # make_corpus.MUL_TEMPLATES
            return sum(bool(product.search(u)) for u in users) / len(users)
        v2, v3 = products(self.v2), products(self.v3)
        self.assertGreater(v3, 1.5 * v2, f"recipe 3 should ask for about twice recipe 2's products: {v3:.4f} vs {v2:.4f}")

    def test_recipe4_keeps_the_rules_and_asks_more_letter_questions(self):
        self.assertEqual(self.v4_run.returncode, 0, self.v4_run.stdout + self.v4_run.stderr)
        for name in HELD_OUT + ["heldout_text.txt"]:
            self.assertTrue(filecmp.cmp(os.path.join(self.v3, name), os.path.join(self.v4, name), shallow=False),
                            f"recipe 4's {name} differs from recipe 3's")

        def share(out, pattern):
            with open(os.path.join(out, "train.jsonl"), encoding="utf-8") as f:
                users = [m["content"] for line in f for m in json.loads(line).get("messages", [])
                         if m["role"] == "user"]
            return sum(bool(re.search(pattern, u)) for u in users) / len(users)
        counts = r"^How many letters|^Count the letters"  # make_corpus.SPELL_TEMPLATES["length"]
        last = r"last letter of|end with\?"
        for pattern in (counts, last):
            v3, v4 = share(self.v3, pattern), share(self.v4, pattern)
            self.assertGreater(v4, 1.5 * v3, f"recipe 4 should ask {pattern!r} about 1.8x as often: {v4:.4f} vs {v3:.4f}")

    def test_check_finds_a_heldout_question_in_training(self):
        out = self.broken_copy("leak")
        with open(os.path.join(out, "heldout_world.jsonl"), encoding="utf-8") as f:
            item = json.loads(f.readline())
        rewrite(os.path.join(out, "train.jsonl"), lambda rows: rows + [turn(user_of(item), item["answer"])])
        self.assert_check_fails(out, "held-out question in training")

    def test_check_finds_a_wrong_answer(self):
        out = self.broken_copy("wrong")
        rewrite(os.path.join(out, "train.jsonl"), lambda rows: rows + [turn("Who is the mayor of Brackenford?", "Nobody")])
        self.assert_check_fails(out, "with 'Nobody'")

    def test_check_finds_a_wrong_heldout_answer(self):
        out = self.broken_copy("heldout-answer")

        def change_first(rows):
            rows[0]["answer"] = "Nowhere"
            return rows
        rewrite(os.path.join(out, "heldout_world.jsonl"), change_first)
        self.assert_check_fails(out, "is not the 394 held-out questions with their answers")

    def test_check_finds_a_broken_shape_rule(self):
        out = self.broken_copy("shape")  # frame "{x} has which {a}?" then trains no attribute at all

        def drop_frame(rows):
            return [r for r in rows if not any(" has which " in m["content"] for m in r.get("messages", []))]
        rewrite(os.path.join(out, "train.jsonl"), drop_frame)
        self.assert_check_fails(out, "breaks the shape rule (frame used for 0 other attributes")

    def test_check_finds_a_word_never_spelled(self):
        out = self.broken_copy("unspelled")

        def drop_lemon(rows):
            return [r for r in rows if not any(m["content"] == "l-e-m-o-n" for m in r.get("messages", []))]
        rewrite(os.path.join(out, "train.jsonl"), drop_lemon)
        self.assert_check_fails(out, "never spelled in training")

    def test_check_finds_a_heldout_spelling_item(self):
        out = self.broken_copy("spell")
        item = {"prompt": "<|im_start|>user\nSpell cat.<|im_end|>\n<|im_start|>assistant\n", "answer": "c-a-t",
                "task": "word_spell"}
        rewrite(os.path.join(out, "heldout_other.jsonl"), lambda rows: rows + [item])
        self.assert_check_fails(out, "asks for a spelling")


class TrainingInput(unittest.TestCase):
    """train.py reads the corpus as the device call carries it: xz (what fits the transfer), gzip or plain."""

    def setUp(self):
        sys.path.insert(0, HERE)
        import train  # no torch at import time: main() imports it
        self.train = train
        self.tmp = tempfile.mkdtemp(prefix="demo-train-input-")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.addCleanup(sys.path.remove, HERE)
        self.rows = [turn("What is 2 + 3?", "5"), {"text": "Brackenford lies on the Velm."}]
        self.raw = "".join(json.dumps(r) + "\n" for r in self.rows).encode()

    def folder(self, name, files):
        out = os.path.join(self.tmp, name)
        os.makedirs(out)
        for file, opener in files:
            with opener(os.path.join(out, file), "wb") as f:
                f.write(self.raw)
        return out

    def test_xz_gzip_and_plain_give_the_same_rows_and_hash(self):
        import gzip
        import hashlib
        import lzma
        want = ["<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n5<|im_end|>\n",
                "Brackenford lies on the Velm."]
        for name, file, opener in [("xz", "train.jsonl.xz", lzma.open), ("gz", "train.jsonl.gz", gzip.open),
                                   ("plain", "train.jsonl", open)]:
            rows, corpus = self.train.read_rows(self.folder(name, [(file, opener)]))
            self.assertEqual(rows, want, name)
            digest = hashlib.sha256(self.raw).hexdigest()
            self.assertEqual(corpus, {"file": file, "train_jsonl_sha256": digest, "rows": 2})

    def test_two_corpora_or_none_are_refused(self):
        import gzip
        import lzma
        both = self.folder("both", [("train.jsonl.xz", lzma.open), ("train.jsonl.gz", gzip.open)])
        with self.assertRaises(SystemExit) as e:
            self.train.read_rows(both)
        self.assertIn("train.jsonl.xz and train.jsonl.gz; keep one", str(e.exception))
        with self.assertRaises(SystemExit) as e:
            self.train.read_rows(self.folder("none", []))
        self.assertIn("holds none of train.jsonl.xz", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
