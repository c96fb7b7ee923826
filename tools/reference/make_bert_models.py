#!/usr/bin/env python3
"""Makes tiny random encoder models (embeddings and rerank), and their exact float32 outputs.

    python3 make_bert_models.py --out DIR

Writes DIR/<name>/ for:
  bert         BertModel, a WordPiece tokenizer (BERT normaliser: lower-case, strip accents,
               CJK split), sentence-transformers mean pooling + Normalize
  xlmr         XLMRobertaModel, a Unigram tokenizer (Metaspace), CLS pooling + Normalize;
               positions start at pad_token_id + 1 as in RoBERTa
  bert-rerank  BertForSequenceClassification (num_labels 1) with the bert tokenizer: a
               cross-encoder over [CLS] query [SEP] document [SEP] with token types 0/1

Each folder holds config.json, model.safetensors (float32), tokenizer.json,
tokenizer_config.json, the sentence-transformers files (embedding models), hf_ids.json (every
string of strings.json encoded without special tokens) and reference.json with the texts, their
ids (with special tokens), the pooled embeddings or rerank scores, the cosine similarity matrix
and ranking, and the versions used. hidden_<i>.f32 holds the last hidden state of text i
(positions x hidden, little-endian float32).

sentence_transformers is used for the embeddings and scores when importable; otherwise its
pooling is reproduced here (reference.json says which). CPU only, one thread, eager attention.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_hf_models as base  # noqa: E402  (training text, seeds, compact_json, save_model)

HIDDEN = 64
INTERMEDIATE = 128
LAYERS = 2
HEADS = 4
MAX_POSITIONS = 128
VOCAB = 1000

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

QUERIES = [
    "Which river flows through the city?",
    "How does the model predict the next word?",
    "Caf\u00e9 opening hours in the MORNING",
]
DOCUMENTS = [
    "The river flows slowly through the old city and under the bridge.",
    "A language model reads the text and predicts the next token.",
    "The caf\u00e9 opens early in the morning, before the train leaves.",
    "Alice builds a small computer program that sorts numbers.",
    "\u6a21\u578b\u8bfb\u53d6\u6587\u672c\u5e76\u9884\u6d4b\u4e0b\u4e00\u4e2a\u8bcd\u3002",
    "R\u00e9sum\u00e9 of a na\u00efve teacher: reads books, writes letters!",
]
# Extra tokenizer cases beyond strings.json: accents, case, CJK, punctuation, a word longer
# than WordPiece's max_input_chars_per_word (100), control characters, many spaces.
TOKENIZER_CASES = [
    "Hello, World! It's 2024.",
    "H\u00c9LLO na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m",
    "\u6a21\u578b\u8bfbabc\u6587\u672c",
    "unaffable unbelievably",
    "x" * 101,
    "tab\tnew\nline\u0000null\u200bzero",
    "  many    spaces  ",
    "",
]

MODELS = {
    "bert": dict(kind="embed", arch="bert", tokenizer="wordpiece", pooling="mean"),
    "xlmr": dict(kind="embed", arch="xlm-roberta", tokenizer="unigram", pooling="cls"),
    "bert-rerank": dict(kind="rerank", arch="bert", tokenizer="wordpiece", pooling=None),
}


log = base.log


# --- tokenizers ----------------------------------------------------------------------------

def train_wordpiece():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=BERT_SPECIALS,
                                        show_progress=False, continuing_subword_prefix="##")
    tok.train_from_iterator(base.training_text(), trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def metaspace():
    from tokenizers import pre_tokenizers
    try:  # tokenizers >= 0.19
        return pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    except TypeError:
        return pre_tokenizers.Metaspace(replacement="\u2581", add_prefix_space=True)


def metaspace_decoder():
    from tokenizers import decoders
    try:
        return decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    except TypeError:
        return decoders.Metaspace(replacement="\u2581", add_prefix_space=True)


def train_unigram():
    from tokenizers import Regex, Tokenizer, models, normalizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    # XLM-R's own normaliser is a precompiled SentencePiece charsmap followed by this Replace;
    # the charsmap is left out (hayate reads it from GGUF only), the space folding is kept.
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = metaspace()
    tok.decoder = metaspace_decoder()
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=XLMR_SPECIALS, unk_token="<unk>",
                                      show_progress=False)
    tok.train_from_iterator(base.training_text(), trainer=trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    return tok


def write_tokenizer_files(tok, spec, out_dir):
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    if spec["tokenizer"] == "wordpiece":
        names = dict(cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]")
        extra = {"do_lower_case": True}
    else:
        names = dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", pad_token="<pad>",
                     unk_token="<unk>", mask_token="<mask>")
        extra = {}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_POSITIONS - 2,
              "clean_up_tokenization_spaces": False, **names, **extra}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")


def write_hf_ids(tok, out_dir):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "strings.json")
    with open(path, encoding="utf-8") as f:
        strings = json.load(f)
    texts = [s if isinstance(s, str) else s["text"] for s in strings] + TOKENIZER_CASES
    rows = [json.dumps({"text": t, "ids": tok.encode(t, add_special_tokens=False).ids}, ensure_ascii=False)
            for t in texts]
    with open(os.path.join(out_dir, "hf_ids.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(rows) + "\n]\n")
    return len(rows)


# --- models --------------------------------------------------------------------------------

def make_config(spec, tok):
    import transformers
    common = dict(vocab_size=tok.get_vocab_size(with_added_tokens=True), hidden_size=HIDDEN,
                  num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                  hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                  max_position_embeddings=MAX_POSITIONS)
    if spec["arch"] == "bert":
        config = transformers.BertConfig(type_vocab_size=2, layer_norm_eps=1e-12,
                                         pad_token_id=tok.token_to_id("[PAD]"), **common)
    else:
        config = transformers.XLMRobertaConfig(type_vocab_size=1, layer_norm_eps=1e-5,
                                               pad_token_id=tok.token_to_id("<pad>"),
                                               bos_token_id=tok.token_to_id("<s>"),
                                               eos_token_id=tok.token_to_id("</s>"), **common)
    if spec["kind"] == "rerank":
        config.num_labels = 1
    return config


def make_model(spec, config):
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification
    cls = AutoModelForSequenceClassification if spec["kind"] == "rerank" else AutoModel
    try:
        model = cls.from_config(config, attn_implementation="eager")
    except TypeError:
        config._attn_implementation = "eager"
        model = cls.from_config(config)
    return model.to(torch.float32).eval()


def init_std(name):
    """Spreads that make attention scores span a few units (BERT's default 0.02 would leave
    every softmax nearly uniform and every layer nearly the identity)."""
    if ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight"):
        return None  # around 1
    if name.endswith("bias"):
        return 0.1
    if "embeddings" in name:
        return 0.5
    for part, std in (("query", 0.25), ("key", 0.25), ("value", 0.15), ("attention.output.dense", 0.12),
                      ("intermediate.dense", 0.12), ("output.dense", 0.09), ("pooler.dense", 0.15),
                      ("classifier", 0.3)):
        if part in name:
            return std
    sys.exit(f"internal error: no initialisation rule for parameter {name}")


def randomise(model, seed):
    import torch
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            std = init_std(name)
            p.copy_(1.0 + 0.1 * noise if std is None else std * noise)


def encode(tok, text, pair=None):
    enc = tok.encode(text, pair) if pair is not None else tok.encode(text)
    return list(enc.ids), list(enc.type_ids)


def forward(model, ids, type_ids):
    import torch
    kwargs = dict(input_ids=torch.tensor([ids], dtype=torch.long),
                  attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    if model.config.type_vocab_size > 1:
        kwargs["token_type_ids"] = torch.tensor([type_ids], dtype=torch.long)
    with torch.no_grad():
        return model(**kwargs)


def pool(hidden, mode):
    import torch
    vec = hidden[0] if mode == "cls" else hidden.mean(dim=0)
    return torch.nn.functional.normalize(vec, p=2, dim=0)


def write_sentence_transformers_files(spec, out_dir):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {"word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": spec["pooling"] == "cls",
               "pooling_mode_mean_tokens": spec["pooling"] == "mean", "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
               "pooling_mode_lasttoken": False, "include_prompt": True}
    os.makedirs(os.path.join(out_dir, "1_Pooling"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "2_Normalize"), exist_ok=True)
    for path, obj in (("modules.json", modules), ("1_Pooling/config.json", pooling),
                      ("sentence_bert_config.json", {"max_seq_length": MAX_POSITIONS - 2, "do_lower_case": False})):
        with open(os.path.join(out_dir, path), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")


def st_embeddings(out_dir, texts):
    """sentence-transformers' own encode of the saved folder, or None when it is missing/fails."""
    try:
        import sentence_transformers
        from sentence_transformers import SentenceTransformer
        model = SentenceTransformer(out_dir, device="cpu")
        emb = model.encode(texts, batch_size=1, convert_to_numpy=True, normalize_embeddings=False)
        return sentence_transformers.__version__, emb
    except Exception as e:  # noqa: BLE001 - optional
        log(f"  sentence_transformers not used: {type(e).__name__}: {e}")
        return None, None


def st_scores(out_dir, pairs):
    try:
        import sentence_transformers
        from sentence_transformers import CrossEncoder
        model = CrossEncoder(out_dir, device="cpu")
        return sentence_transformers.__version__, [float(s) for s in model.predict(pairs, batch_size=1)]
    except Exception as e:  # noqa: BLE001 - optional
        log(f"  sentence_transformers CrossEncoder not used: {type(e).__name__}: {e}")
        return None, None


def ranking(rows):
    return [sorted(range(len(r)), key=lambda j: (-r[j], j)) for r in rows]


def build(name, spec, out_root, tokenizers_cache):
    import torch
    import transformers
    import tokenizers

    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    log(f"{name}:")
    if spec["tokenizer"] not in tokenizers_cache:
        tokenizers_cache[spec["tokenizer"]] = train_wordpiece() if spec["tokenizer"] == "wordpiece" else train_unigram()
    tok = tokenizers_cache[spec["tokenizer"]]
    write_tokenizer_files(tok, spec, out_dir)
    log(f"  tokenizer: {spec['tokenizer']}, {tok.get_vocab_size(with_added_tokens=True)} tokens, "
        f"{write_hf_ids(tok, out_dir)} strings encoded into hf_ids.json")

    config = make_config(spec, tok)
    model = make_model(spec, config)
    randomise(model, base.stable_seed(name))
    log(f"  {type(model).__name__}: {sum(p.numel() for p in model.parameters())} parameters")

    reference = {
        "model": name, "architecture": type(model).__name__, "kind": spec["kind"],
        "tokenizer": spec["tokenizer"], "pooling": spec["pooling"], "normalize": spec["kind"] == "embed",
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
        "tokenizers_version": tokenizers.__version__,
    }
    save_dir_check = None
    if spec["kind"] == "embed":
        texts = QUERIES + DOCUMENTS
        ids = [encode(tok, t) for t in texts]
        reference["texts"] = texts
        reference["queries"] = len(QUERIES)
        reference["ids"] = [i for i, _ in ids]
        reference["tokens"] = [tok.encode(t).tokens for t in texts]
        emb = []
        for k, (i, t) in enumerate(ids):
            hidden = forward(model, i, t).last_hidden_state[0].to(torch.float32)
            hidden.contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, f"hidden_{k}.f32"))
            emb.append(pool(hidden, spec["pooling"]))
        save_dir_check = ids[-1]
        base.save_model(model, out_dir)
        write_sentence_transformers_files(spec, out_dir)
        st_version, st_emb = st_embeddings(out_dir, texts)
        manual = torch.stack(emb)
        if st_emb is not None:
            diff = float((torch.tensor(st_emb) - manual).abs().max())
            log(f"  sentence_transformers {st_version}: largest difference from the manual pooling {diff:.3g}")
            if diff > 1e-5:
                log("  WARNING: sentence_transformers disagrees (its tokenizer load?); keeping the manual values")
            reference["embeddings_source"] = f"sentence_transformers {st_version} (manual pooling differs by {diff:.3g})"
            final = torch.tensor(st_emb) if diff <= 1e-5 else manual
        else:
            reference["embeddings_source"] = "transformers + pooling reproduced in make_bert_models.py"
            final = manual
        reference["embeddings"] = [[round(float(x), 8) for x in row] for row in final]
        q, d = final[:len(QUERIES)], final[len(QUERIES):]
        sims = (q @ d.T).tolist()
        reference["cosine"] = [[round(s, 8) for s in row] for row in sims]
        reference["ranking"] = ranking(sims)
        reference["hidden"] = [{"file": f"hidden_{k}.f32", "shape": [len(i), HIDDEN]} for k, (i, _) in enumerate(ids)]
        log(f"  rankings {reference['ranking']}")
    else:
        pairs = [(QUERIES[a], doc) for a in range(len(QUERIES)) for doc in DOCUMENTS]
        encoded = [encode(tok, qq, dd) for qq, dd in pairs]
        logits = [float(forward(model, i, t).logits[0, 0]) for i, t in encoded]
        reference["pairs"] = [list(p) for p in pairs]
        reference["ids"] = [i for i, _ in encoded]
        reference["type_ids"] = [t for _, t in encoded]
        reference["scores"] = [round(s, 8) for s in logits]
        reference["scores_sigmoid"] = [round(float(torch.sigmoid(torch.tensor(s))), 8) for s in logits]
        base.save_model(model, out_dir)
        st_version, st = st_scores(out_dir, [list(p) for p in pairs])
        if st is not None:
            raw = max(abs(a - b) for a, b in zip(st, logits))
            sig = max(abs(a - b) for a, b in zip(st, reference["scores_sigmoid"]))
            log(f"  CrossEncoder {st_version}: differs from raw logits by {raw:.3g}, from sigmoid by {sig:.3g}")
            reference["scores_source"] = (f"transformers logits; sentence_transformers {st_version} CrossEncoder.predict "
                                          f"differs from raw by {raw:.3g}, from sigmoid by {sig:.3g}")
            reference["crossencoder_predict"] = [round(s, 8) for s in st]
        else:
            reference["scores_source"] = "transformers logits (sentence_transformers not importable)"
        n = len(DOCUMENTS)
        reference["ranking"] = ranking([logits[a * n:(a + 1) * n] for a in range(len(QUERIES))])
        save_dir_check = encoded[-1]
        log(f"  scores {reference['scores'][:4]}..., rankings {reference['ranking']}")

    check_reload(spec, model, out_dir, save_dir_check)
    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        f.write(base.compact_json(reference))
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out_dir) for f in fs)
    log(f"  wrote {out_dir} ({size / 1e6:.2f} MB)")


def check_reload(spec, model, out_dir, sample):
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification
    cls = AutoModelForSequenceClassification if spec["kind"] == "rerank" else AutoModel
    again = cls.from_pretrained(out_dir, attn_implementation="eager").to(torch.float32).eval()
    a, b = forward(model, *sample), forward(again, *sample)
    key = "logits" if spec["kind"] == "rerank" else "last_hidden_state"
    diff = float((getattr(a, key) - getattr(b, key)).abs().max())
    if diff > 1e-5:
        sys.exit(f"{out_dir}: the model loaded back gives outputs off by {diff:.3g}")
    log(f"  reloaded from disk: outputs match (largest difference {diff:.3g})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to create the model folders in")
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), help="make only these models")
    args = parser.parse_args()
    try:
        import numpy  # noqa: F401
        import tokenizers
        import torch
        import transformers
    except ImportError as e:
        sys.exit(f"missing package: {e.name}; this script needs torch, transformers, tokenizers and numpy")
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    os.makedirs(args.out, exist_ok=True)
    cache = {}
    failed = []
    for name in args.only or MODELS:
        try:
            build(name, MODELS[name], args.out, cache)
        except SystemExit:
            raise
        except Exception as e:  # noqa: BLE001 - one model's failure must not lose the others
            import traceback
            traceback.print_exc()
            failed.append(f"{name}: {type(e).__name__}: {e}")
    if failed:
        sys.exit("failed: " + "; ".join(failed))
    log("done")


if __name__ == "__main__":
    main()
