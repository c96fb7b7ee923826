#!/usr/bin/env python3
"""A float64 forward pass of the demo model in plain Python, no packages: an oracle independent of
both PyTorch and hayate. It reads the training's model.safetensors, or a GGUF file (the embedded
assets/demo-q8_0.gguf: Q8_0 weights dequantized exactly, F32/F16 ones as stored).

    python3 fp64_logits.py OUT/hf     # writes OUT/hf/logits_<i>.fp64.f32 for reference.json's prompts
    python3 fp64_logits.py --gguf assets/demo-q8_0.gguf --prompts OUT/hf/reference.json --count 2 \
        --out tools/demo-model/data/demo_q8_0_fp64      # writes .json (token ids) + .f32 (logits)

train.py's float32 logits come from the GPU, whose kernels are not exact float32 (on this model
they differ from float64 by up to ~1e-3 relative); demo_model_test compares hayate with both.
The --gguf output is what demo_model_test's EmbeddedModelLogitsMatchFloat64 checks in CI.
About 20 s per 30-token prompt. Llama as transformers writes it: RMSNorm, RoPE on rotated halves,
grouped-query attention, SwiGLU, tied embeddings.
"""
import argparse
import hashlib
import json
import math
import struct
import sys
from operator import mul


class Weights:
    def __init__(self, hf_dir):
        with open(f"{hf_dir}/model.safetensors", "rb") as f:
            self.raw = f.read()
        header_len = struct.unpack("<Q", self.raw[:8])[0]
        self.header = json.loads(self.raw[8:8 + header_len])
        self.base = 8 + header_len

    def get(self, name):
        """A vector, or a matrix as a list of rows (nn.Linear: out_features rows of in_features)."""
        t = self.header[name]
        begin, end = t["data_offsets"]
        if t["dtype"] != "F16":
            sys.exit(f"{name}: dtype {t['dtype']}, expected F16 (train.py saves float16)")
        values = struct.unpack(f"<{(end - begin) // 2}e", self.raw[self.base + begin:self.base + end])
        if len(t["shape"]) == 1:
            return list(values)
        rows, cols = t["shape"]
        return [values[r * cols:(r + 1) * cols] for r in range(rows)]


def matvec(matrix, x):
    return [sum(map(mul, row, x)) for row in matrix]


class Gguf:
    """A GGUF v2/v3 file's llama hyperparameters and tensors, under transformers' names and layout."""

    SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    NAMES = dict(attn_norm="input_layernorm", attn_q="self_attn.q_proj", attn_k="self_attn.k_proj",
                 attn_v="self_attn.v_proj", attn_output="self_attn.o_proj", ffn_norm="post_attention_layernorm",
                 ffn_gate="mlp.gate_proj", ffn_up="mlp.up_proj", ffn_down="mlp.down_proj")

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.raw = f.read()
        self.pos = 0
        if self.raw[:4] != b"GGUF":
            sys.exit(f"{path}: not a GGUF file (magic {self.raw[:4]!r})")
        self.pos = 4
        version, n_tensors, n_kv = self.read("I"), self.read("Q"), self.read("Q")
        if version not in (2, 3):
            sys.exit(f"{path}: GGUF version {version}; this reader knows 2 and 3")
        self.meta = {}
        for _ in range(n_kv):
            key = self.string()
            self.meta[key] = self.value(self.read("I"))
        self.infos = {}
        for _ in range(n_tensors):
            name = self.string()
            dims = [self.read("Q") for _ in range(self.read("I"))]
            self.infos[name] = (dims, self.read("I"), self.read("Q"))
        align = self.meta.get("general.alignment", 32)
        self.base = (self.pos + align - 1) // align * align
        arch = self.meta["general.architecture"]
        if arch != "llama":
            sys.exit(f"{path}: architecture {arch}; this oracle is a llama forward pass")
        m = lambda k: self.meta[f"llama.{k}"]
        self.hparams = dict(n_head=m("attention.head_count"), n_kv=m("attention.head_count_kv"),
                            hidden=m("embedding_length"), n_layer=m("block_count"),
                            eps=m("attention.layer_norm_rms_epsilon"), theta=m("rope.freq_base"),
                            vocab=len(self.meta["tokenizer.ggml.tokens"]))

    def read(self, fmt):
        value = struct.unpack_from("<" + fmt, self.raw, self.pos)[0]
        self.pos += struct.calcsize("<" + fmt)
        return value

    def string(self):
        n = self.read("Q")
        self.pos += n
        return self.raw[self.pos - n:self.pos].decode("utf-8")

    def value(self, kind):
        if kind == 8:
            return self.string()
        if kind == 9:
            item, n = self.read("I"), self.read("Q")
            return [self.value(item) for _ in range(n)]
        return self.read(self.SCALARS[kind])

    def tensor(self, name):
        """A vector, or a matrix as a list of rows (GGUF's dims are innermost first: [cols, rows])."""
        if name not in self.infos:
            sys.exit(f"{self.path}: no tensor {name}")
        dims, kind, offset = self.infos[name]
        cols, n = dims[0], math.prod(dims)
        at = self.base + offset
        if kind == 0:  # F32
            values = struct.unpack_from(f"<{n}f", self.raw, at)
        elif kind == 1:  # F16
            values = struct.unpack_from(f"<{n}e", self.raw, at)
        elif kind == 8:  # Q8_0: blocks of a float16 scale and 32 int8, exactly d * q
            block = struct.Struct("<e32b")
            values = []
            for b in range(n // 32):
                d, *qs = block.unpack_from(self.raw, at + b * block.size)
                values += [d * q for q in qs]
        else:
            sys.exit(f"{self.path}: tensor {name} has GGML type {kind}; this oracle reads F32, F16 and Q8_0")
        if len(dims) == 1:
            return list(values)
        return [values[r * cols:(r + 1) * cols] for r in range(n // cols)]

    def get(self, hf_name):
        """transformers' tensor, from its GGUF counterpart."""
        if hf_name == "model.embed_tokens.weight":
            return self.tensor("token_embd.weight")
        if hf_name == "model.norm.weight":
            return self.tensor("output_norm.weight")
        _, _, layer, rest = hf_name.split(".", 3)
        short = next(k for k, v in self.NAMES.items() if rest == v + ".weight")
        rows = self.tensor(f"blk.{layer}.{short}.weight")
        heads = {"attn_q": self.hparams["n_head"], "attn_k": self.hparams["n_kv"]}.get(short)
        return unpermute_rope_rows(rows, heads) if heads else rows


def unpermute_rope_rows(rows, n_head):
    """hayate convert (as llama.cpp's converter) stores each q/k head's rows interleaved for
    adjacent-pair RoPE: GGUF row 2j + t of a head is transformers' row t * half + j. Undone here so
    the forward pass below applies RoPE on rotated halves, as transformers does."""
    head_dim = len(rows) // n_head
    half = head_dim // 2
    out = [None] * len(rows)
    for h in range(n_head):
        for j in range(half):
            for t in range(2):
                out[h * head_dim + t * half + j] = rows[h * head_dim + 2 * j + t]
    return out


def hf_hparams(hf_dir):
    with open(f"{hf_dir}/config.json", encoding="utf-8") as f:
        cfg = json.load(f)
    return dict(n_head=cfg["num_attention_heads"], n_kv=cfg["num_key_value_heads"], hidden=cfg["hidden_size"],
                n_layer=cfg["num_hidden_layers"], eps=cfg["rms_norm_eps"], theta=cfg.get("rope_theta", 10000.0),
                vocab=cfg["vocab_size"])


class Llama:
    def __init__(self, hp, w):
        """hp: hyperparameters (hf_hparams or Gguf.hparams); w: get(name) under transformers' names."""
        self.n_head, self.n_kv = hp["n_head"], hp["n_kv"]
        self.head_dim = hp["hidden"] // self.n_head
        self.eps = hp["eps"]
        self.inv_freq = [1.0 / hp["theta"] ** (2 * i / self.head_dim) for i in range(self.head_dim // 2)]
        self.embed = w.get("model.embed_tokens.weight")
        self.final_norm = w.get("model.norm.weight")
        names = dict(attn_norm="input_layernorm", wq="self_attn.q_proj", wk="self_attn.k_proj",
                     wv="self_attn.v_proj", wo="self_attn.o_proj", ffn_norm="post_attention_layernorm",
                     gate="mlp.gate_proj", up="mlp.up_proj", down="mlp.down_proj")
        self.layers = [{k: w.get(f"model.layers.{i}.{v}.weight") for k, v in names.items()}
                       for i in range(hp["n_layer"])]

    def rms_norm(self, x, weight):
        scale = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + self.eps)
        return [v * scale * g for v, g in zip(x, weight)]

    def rope(self, x, pos):
        half, out = self.head_dim // 2, []
        for h in range(len(x) // self.head_dim):
            head = x[h * self.head_dim:(h + 1) * self.head_dim]
            rotated = [0.0] * self.head_dim
            for i in range(half):
                c, s = math.cos(pos * self.inv_freq[i]), math.sin(pos * self.inv_freq[i])
                rotated[i] = head[i] * c - head[i + half] * s
                rotated[i + half] = head[i + half] * c + head[i] * s
            out += rotated
        return out

    def attention(self, layer, xs):
        d = self.head_dim
        normed = [self.rms_norm(x, layer["attn_norm"]) for x in xs]
        q = [self.rope(matvec(layer["wq"], h), pos) for pos, h in enumerate(normed)]
        k = [self.rope(matvec(layer["wk"], h), pos) for pos, h in enumerate(normed)]
        v = [matvec(layer["wv"], h) for h in normed]
        out = []
        for pos in range(len(xs)):
            heads = []
            for h in range(self.n_head):
                kv = h // (self.n_head // self.n_kv)
                qh = q[pos][h * d:(h + 1) * d]
                scores = [sum(map(mul, qh, k[j][kv * d:(kv + 1) * d])) / math.sqrt(d) for j in range(pos + 1)]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                heads += [sum(weights[j] / total * v[j][kv * d + i] for j in range(pos + 1)) for i in range(d)]
            out.append(matvec(layer["wo"], heads))
        return out

    def mlp(self, layer, x):
        h = self.rms_norm(x, layer["ffn_norm"])
        gate, up = matvec(layer["gate"], h), matvec(layer["up"], h)
        return matvec(layer["down"], [g / (1 + math.exp(-g)) * u for g, u in zip(gate, up)])

    def logits(self, ids):
        xs = [list(self.embed[t]) for t in ids]
        for layer in self.layers:
            xs = [[a + b for a, b in zip(x, o)] for x, o in zip(xs, self.attention(layer, xs))]
            xs = [[a + b for a, b in zip(x, self.mlp(layer, x))] for x in xs]
        return [matvec(self.embed, self.rms_norm(x, self.final_norm)) for x in xs]  # tied output


def write_rows(f, rows):
    for row in rows:
        f.write(struct.pack(f"<{len(row)}f", *row))


def hf_main(hf_dir):
    model = Llama(hf_hparams(hf_dir), Weights(hf_dir))
    with open(f"{hf_dir}/reference.json", encoding="utf-8") as f:
        prompts = json.load(f)["prompts"]
    for i, prompt in enumerate(prompts):
        rows = model.logits(prompt)
        with open(f"{hf_dir}/logits_{i}.fp64.f32", "wb") as f:
            write_rows(f, rows)
        print(f"prompt {i}: {len(rows)} x {len(rows[0])} logits", flush=True)


def gguf_main(args):
    gguf = Gguf(args.gguf)
    model = Llama(gguf.hparams, gguf)
    with open(args.prompts, encoding="utf-8") as f:
        prompts = json.load(f)["prompts"][:args.count]
    with open(args.out + ".f32", "wb") as f:
        for i, prompt in enumerate(prompts):
            rows = model.logits(prompt)
            write_rows(f, rows)
            print(f"prompt {i}: {len(rows)} x {len(rows[0])} logits", flush=True)
    meta = dict(model=args.gguf, model_sha256=hashlib.sha256(gguf.raw).hexdigest(), vocab_size=gguf.hparams["vocab"],
                logits=args.out.rsplit("/", 1)[-1] + ".f32",
                note="float64 logits of fp64_logits.py --gguf, stored as float32, one row of vocab_size per "
                     "position, the prompts one after another",
                prompts=prompts)
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hf_dir", nargs="?", help="a training's HF directory (model.safetensors, reference.json)")
    parser.add_argument("--gguf", help="read this GGUF file instead of an HF directory")
    parser.add_argument("--prompts", help="with --gguf: a JSON file whose 'prompts' are lists of token ids")
    parser.add_argument("--count", type=int, default=None, help="with --gguf: only the first COUNT prompts")
    parser.add_argument("--out", help="with --gguf: output path without extension (OUT.json, OUT.f32)")
    args = parser.parse_args()
    if args.gguf:
        if args.hf_dir or not args.prompts or not args.out:
            parser.error("--gguf needs --prompts and --out, and no HF directory")
        gguf_main(args)
    elif args.hf_dir:
        hf_main(args.hf_dir)
    else:
        parser.error("give an HF directory or --gguf")


if __name__ == "__main__":
    main()
