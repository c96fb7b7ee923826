#!/usr/bin/env python3
"""Verifies a recipe-2 corpus against its hold-out rules, reading the files make_corpus.py wrote.

    python3 check_corpus.py DIR [--seed 7]      (or: make_corpus.py --recipe 2 --check)

Pure Python 3. The world and the template tables are rebuilt from the seed; every count below is
taken from DIR/train.jsonl and the held-out files, not from the generator's own bookkeeping:
  1. no held-out world question (a held-out template filled with a fact's entity) is a training
     turn, and every training world turn has its fact's answer;
  2. the shape rule of every held-out template (recipe2.py): its frame is used in the training
     data for at least MIN_SHAPE_ATTRIBUTES other attributes and never for its own, and its
     attribute's phrase is in at least MIN_PHRASE_TEMPLATES of that attribute's training templates;
  3. every fact is asked in training in at least MIN_PHRASINGS phrasings, at least
     MIN_ENTITY_FIRST of them entity-first;
  4. every word of the list is spelled in training, and no held-out (task, word) pair is asked;
  5. DIR/heldout_world.jsonl holds exactly the held-out questions, with their answers.
Prints the counts as JSON and writes them to DIR/check.json; exits 1 listing the problems.
"""

import argparse
import json
import os
import sys
from collections import Counter, defaultdict

MIN_PHRASINGS = 10
MIN_ENTITY_FIRST = 3


def user_turns(path):
    """(user, assistant) pairs of every conversation in a .jsonl file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            messages = json.loads(line).get("messages", [])
            for m, reply in zip(messages, messages[1:]):
                if m["role"] == "user" and reply["role"] == "assistant":
                    yield m["content"], reply["content"]


def question_index(corpus, recipe2):
    """Rendered question -> (fact number, template) for training and for held-out templates."""
    train, held, problems = {}, {}, []
    for number, (e, attribute) in enumerate(corpus.facts):
        train_templates, held_templates = corpus.tables[(e["kind"], attribute)]
        for index, templates in ((train, train_templates), (held, held_templates)):
            for t in templates:
                q = recipe2.render(t, e)
                if q in train or q in held:
                    problems.append(f"question {q!r} is asked for two facts or twice for one")
                index[q] = (number, t)
    return train, held, problems


def check_tables(corpus, recipe2):
    problems, counts = [], {}
    for key, (train, held) in corpus.tables.items():
        name = "/".join(key)
        texts = [t.text for t in train]
        if len(set(texts)) != len(texts):
            problems.append(f"{name}: a training template is listed twice")
        if any(t.text in texts for t in held):
            problems.append(f"{name}: a held-out template is also a training template")
        if any(t.frame is None for t in held):
            problems.append(f"{name}: a held-out template is not a frame")
        phrase = recipe2.ATTRIBUTES[key][0]
        with_phrase = sum(phrase in t for t in texts)
        if with_phrase < recipe2.MIN_PHRASE_TEMPLATES:
            problems.append(f"{name}: its phrase {phrase!r} is in only {with_phrase} training templates")
        counts[name] = {"templates": len(train) + len(held), "training": len(train),
                        "training_entity_first": sum(t.entity_first for t in train), "held_out": len(held),
                        "held_out_entity_first": sum(t.entity_first for t in held),
                        "training_with_phrase": with_phrase}
    return problems, counts


def check(out_dir, corpus):
    """Returns the problems found (empty when the corpus keeps every rule) and writes check.json."""
    import make_corpus as mc
    import recipe2
    problems, table_counts = check_tables(corpus, recipe2)
    train_q, held_q, index_problems = question_index(corpus, recipe2)
    problems += index_problems
    word_q = {}
    for task, (templates, fn) in mc.SPELL_TEMPLATES.items():
        for w in mc.WORDS:
            for t in templates:
                word_q[t.format(w=w)] = (task, w, fn(w))

    phrasings = defaultdict(set)  # fact number -> training template texts seen
    frames_seen = defaultdict(set)  # (kind, attribute) -> frames seen in training
    spelled, turns, kinds, leaks = set(), 0, Counter(), []
    for user, reply in user_turns(os.path.join(out_dir, "train.jsonl")):
        turns += 1
        if user in held_q:
            leaks.append(user)
        elif user in train_q:
            number, t = train_q[user]
            e, attribute = corpus.facts[number]
            kinds["world"] += 1
            if reply != mc.fact_answer(e, attribute):
                problems.append(f"training answers {user!r} with {reply!r}")
            phrasings[number].add(t.text)
            if t.frame is not None:
                frames_seen[(e["kind"], attribute)].add(t.frame)
        elif user in word_q:
            task, w, answer = word_q[user]
            kinds["word"] += 1
            if corpus.word_heldout(task, w):
                leaks.append(user)
            if task == "spell" and reply == answer:
                spelled.add(w)
    problems += [f"held-out question in training: {q!r}" for q in sorted(set(leaks))[:20]]

    shape_min = None
    for key, (_, held) in corpus.tables.items():
        for t in held:
            others = [k for k, frames in frames_seen.items() if k != key and t.frame in frames]
            shape_min = len(others) if shape_min is None else min(shape_min, len(others))
            if len(others) < recipe2.MIN_SHAPE_ATTRIBUTES or t.frame in frames_seen[key]:
                problems.append(f"{'/'.join(key)}: held-out {t.text!r} breaks the shape rule (frame used for "
                                f"{len(others)} other attributes, for its own: {t.frame in frames_seen[key]})")

    counts = [len(phrasings[n]) for n in range(len(corpus.facts))]
    first = [sum(recipe2.entity_first(text) for text in phrasings[n]) for n in range(len(corpus.facts))]
    for n, (c, f) in enumerate(zip(counts, first)):
        if c < MIN_PHRASINGS or f < MIN_ENTITY_FIRST:
            e, attribute = corpus.facts[n]
            problems.append(f"{e['name']}/{attribute}: {c} phrasings in training, {f} entity-first")
    unspelled = [w for w in mc.WORDS if w not in spelled]
    if unspelled:
        problems.append(f"{len(unspelled)} words never spelled in training, e.g. {unspelled[:5]}")

    with open(os.path.join(out_dir, "heldout_world.jsonl"), encoding="utf-8") as f:
        world_items = [json.loads(line) for line in f]
    asked = {}
    for item in world_items:
        q = item["prompt"].split("<|im_start|>user\n")[1].split("<|im_end|>")[0]
        asked[q] = item["answer"]
    expected = {q: mc.fact_answer(*corpus.facts[n]) for q, (n, _) in held_q.items()}
    if asked != expected or len(world_items) != len(expected):
        problems.append(f"heldout_world.jsonl ({len(world_items)} items) is not the {len(expected)} held-out "
                        "questions with their answers")
    with open(os.path.join(out_dir, "heldout_other.jsonl"), encoding="utf-8") as f:
        other = [json.loads(line) for line in f]
    if any(i["task"] == "word_spell" for i in other):
        problems.append("heldout_other.jsonl asks for a spelling, but every word is spelled in training")

    report = {
        "problems": problems,
        "training_user_turns": turns,
        "world_turns": kinds["world"], "world_share": round(kinds["world"] / max(1, turns), 4),
        "word_turns": kinds["word"],
        "facts": len(corpus.facts),
        "phrasings_per_fact": {"min": min(counts), "max": max(counts)},
        "entity_first_phrasings_per_fact": {"min": min(first), "max": max(first)},
        "held_out_frame_trained_for_other_attributes_min": shape_min,
        "heldout_world": len(world_items),
        "heldout_world_entity_first": sum(i.get("shape") == "entity_first" for i in world_items),
        "heldout_other_by_task": dict(sorted(Counter(i["task"] for i in other).items())),
        "words_spelled_in_training": len(spelled), "words": len(mc.WORDS),
        "templates": table_counts,
    }
    with open(os.path.join(out_dir, "check.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in report.items() if k != "templates"}))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="make_corpus.py --recipe 2's output folder")
    parser.add_argument("--seed", type=int, default=7, help="the seed the corpus was made with")
    args = parser.parse_args()
    import recipe2
    problems = check(args.dir, recipe2.CorpusV2(args.seed))
    if problems:
        print("\n".join(problems[:50]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
