#!/usr/bin/env python3
"""A bge-small-shaped BERT encoder with seeded random weights, as a Hugging Face folder
(config.json, a WordPiece tokenizer.json of 30,522 pieces, sentence-transformers CLS pooling and
Normalize, model.safetensors in f32), for the embedding benchmarks (bench/rag_embed_batching.py):
384-d, 12 layers, 12 heads, feed-forward 1536, 512 positions, as BAAI/bge-small-en-v1.5. Its
vocabulary holds the words bench/rag_embed_batching.py writes and "##0".."##12", so a chunk of
WORDS words is 2 * WORDS + 2 tokens. Plain Python (no numpy); convert it with

    bench/make_bge_small.py DIR && build/bin/hayate convert DIR -o DIR.gguf --outtype f32
"""
import json
import os
import random
import struct
import sys
from array import array

E, LAYERS, HEADS, FF, POS, VOCAB = 384, 12, 12, 1536, 512, 30522
BENCH_WORDS = ("harbour lantern ferry keeper ledger seal river salt tower glass spring flood archive "
               "northern market copper coin island bridge festival").split()

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bge-small-synth"
os.makedirs(out + "/1_Pooling", exist_ok=True)

pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + BENCH_WORDS
pieces += [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
pieces += [str(d) for d in range(10)] + ["##" + str(d) for d in range(13)]
pieces += [f"w{i}" for i in range(VOCAB - len(pieces))]
special = [{"id": i, "content": p, "special": True} for i, p in enumerate(pieces[:5])]
tokenizer = {
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {p: i for i, p in enumerate(pieces)}},
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                   "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "added_tokens": special,
    "post_processor": {"type": "TemplateProcessing", "single": [
        {"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
        {"SpecialToken": {"id": "[SEP]", "type_id": 0}}]},
}


def dump(name, value):
    with open(os.path.join(out, name), "w") as f:
        json.dump(value, f)


dump("tokenizer.json", tokenizer)
dump("tokenizer_config.json", {"tokenizer_class": "PreTrainedTokenizerFast"})
dump("config.json", {"architectures": ["BertModel"], "hidden_size": E, "num_hidden_layers": LAYERS,
                     "num_attention_heads": HEADS, "intermediate_size": FF, "max_position_embeddings": POS,
                     "type_vocab_size": 2, "vocab_size": VOCAB, "pad_token_id": 0, "layer_norm_eps": 1e-12,
                     "hidden_act": "gelu"})
dump("1_Pooling/config.json", {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
dump("modules.json", [{"path": "", "type": "sentence_transformers.models.Transformer"},
                      {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                      {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])

# name -> (shape, kind): "w" a matrix (uniform with BERT's init std 0.02), "b" a bias (0),
# "g" a LayerNorm weight (1).
tensors = [("embeddings.word_embeddings.weight", [VOCAB, E], "w"),
           ("embeddings.position_embeddings.weight", [POS, E], "w"),
           ("embeddings.token_type_embeddings.weight", [2, E], "w"),
           ("embeddings.LayerNorm.weight", [E], "g"), ("embeddings.LayerNorm.bias", [E], "b")]
for l in range(LAYERS):
    p = f"encoder.layer.{l}."
    for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
        tensors += [(p + m + ".weight", [E, E], "w"), (p + m + ".bias", [E], "b")]
    tensors += [(p + "attention.output.LayerNorm.weight", [E], "g"), (p + "attention.output.LayerNorm.bias", [E], "b"),
                (p + "intermediate.dense.weight", [FF, E], "w"), (p + "intermediate.dense.bias", [FF], "b"),
                (p + "output.dense.weight", [E, FF], "w"), (p + "output.dense.bias", [E], "b"),
                (p + "output.LayerNorm.weight", [E], "g"), (p + "output.LayerNorm.bias", [E], "b")]

header, offset = {}, 0
for name, shape, _ in tensors:
    n = 1
    for d in shape:
        n *= d
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * n]}
    offset += 4 * n
head = json.dumps(header).encode()
head += b" " * (-len(head) % 8)
rng = random.Random(15)
scale = 0.02 * 3 ** 0.5 / 128  # a signed byte to uniform [-0.02 * sqrt(3), 0.02 * sqrt(3)): std 0.02
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(head)) + head)
    for name, shape, kind in tensors:
        n = header[name]["data_offsets"][1] // 4 - header[name]["data_offsets"][0] // 4
        if kind != "w":
            array("f", [1.0 if kind == "g" else 0.0] * n).tofile(f)
            continue
        for start in range(0, n, 1 << 20):
            count = min(1 << 20, n - start)
            array("f", [b * scale for b in array("b", rng.randbytes(count))]).tofile(f)
print(f"{out}: {sum(header[t[0]]['data_offsets'][1] - header[t[0]]['data_offsets'][0] for t in tensors) >> 20} MiB "
      f"of f32 weights, vocabulary {len(pieces)}")
