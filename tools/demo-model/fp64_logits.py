#!/usr/bin/env python3
"""A float64 forward pass of the demo model, read straight from model.safetensors: plain Python,
no packages, an oracle independent of both PyTorch and hayate.

    python3 fp64_logits.py OUT/hf     # writes OUT/hf/logits_<i>.fp64.f32 for reference.json's prompts

train.py's float32 logits come from the GPU, whose kernels are not exact float32 (on this model
they differ from float64 by up to ~1e-3 relative); demo_model_test compares hayate with both.
About 20 s per 30-token prompt. Llama as transformers writes it: RMSNorm, RoPE on rotated halves,
grouped-query attention, SwiGLU, tied embeddings.
"""
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


class Llama:
    def __init__(self, hf_dir):
        with open(f"{hf_dir}/config.json", encoding="utf-8") as f:
            cfg = json.load(f)
        self.n_head, self.n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.head_dim = cfg["hidden_size"] // self.n_head
        self.eps = cfg["rms_norm_eps"]
        theta = cfg.get("rope_theta", 10000.0)
        self.inv_freq = [1.0 / theta ** (2 * i / self.head_dim) for i in range(self.head_dim // 2)]
        w = Weights(hf_dir)
        self.embed = w.get("model.embed_tokens.weight")
        self.final_norm = w.get("model.norm.weight")
        names = dict(attn_norm="input_layernorm", wq="self_attn.q_proj", wk="self_attn.k_proj",
                     wv="self_attn.v_proj", wo="self_attn.o_proj", ffn_norm="post_attention_layernorm",
                     gate="mlp.gate_proj", up="mlp.up_proj", down="mlp.down_proj")
        self.layers = [{k: w.get(f"model.layers.{i}.{v}.weight") for k, v in names.items()}
                       for i in range(cfg["num_hidden_layers"])]

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


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    hf_dir = sys.argv[1]
    model = Llama(hf_dir)
    with open(f"{hf_dir}/reference.json", encoding="utf-8") as f:
        prompts = json.load(f)["prompts"]
    for i, prompt in enumerate(prompts):
        rows = model.logits(prompt)
        with open(f"{hf_dir}/logits_{i}.fp64.f32", "wb") as f:
            for row in rows:
                f.write(struct.pack(f"<{len(row)}f", *row))
        print(f"prompt {i}: {len(rows)} x {len(rows[0])} logits", flush=True)


if __name__ == "__main__":
    main()
