#!/usr/bin/env bash
# Writes the seed corpus of gguf_fuzz (a few tiny, valid GGUF files covering every value
# type, nested arrays, several tensor types and alignments, and GGUF v2) into
# tests/fuzz/corpus/gguf/. Re-run after changing it; the seeds are kept in git.
set -euo pipefail
out="${1:-$(dirname "$0")/corpus/gguf}"
mkdir -p "$out"
python3 - "$out" <<'PY'
import struct, sys, os

out = sys.argv[1]
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
       BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}
# GGML type: (number, elements per block, bytes per block)
F32T, F16T, Q4_0, Q8_0, Q4_K, I8T = (0, 1, 4), (1, 1, 2), (2, 32, 18), (8, 32, 34), (12, 256, 144), (24, 1, 1)

def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b

def payload(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(payload(et, x) for x in items)
    return struct.pack(FMT[t], v)

def gguf(kvs, tensors, version=3, alignment=32):
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        head += gstr(k) + struct.pack("<I", t) + payload(t, v)
    data, offset = b"", 0
    for name, (num, block, size), shape in tensors:
        n = 1
        for d in shape:
            n *= d
        nbytes = n // block * size
        head += gstr(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        head += struct.pack("<IQ", num, offset)
        blob = bytes((i * 37 + offset) & 0xFF for i in range(nbytes))
        blob += b"\0" * (-len(blob) % alignment)
        data += blob
        offset += len(blob)
    head += b"\0" * (-len(head) % alignment)
    return head + data

seeds = {
    "minimal.gguf": gguf([("general.architecture", STR, "llama")], [("w", F32T, [8])]),
    "every_type.gguf": gguf(
        [("general.architecture", STR, "llama"), ("general.alignment", U32, 64),
         ("a.u8", U8, 7), ("a.i8", I8, -7), ("a.u16", U16, 700), ("a.i16", I16, -700),
         ("a.u32", U32, 70000), ("a.i32", I32, -70000), ("a.f32", F32, 0.5), ("a.bool", BOOL, 1),
         ("a.u64", U64, 2**40), ("a.i64", I64, -2**40), ("a.f64", F64, 1e-5),
         ("a.strings", ARR, (STR, ["<s>", "</s>", "\u2581the"])),
         ("a.nested", ARR, (ARR, [(I32, [1, 2]), (I32, [])]))],
        [("token_embd.weight", F16T, [4, 3]), ("blk.0.attn_q.weight", Q4_0, [32, 2]),
         ("blk.0.ffn_up.weight", Q8_0, [64]), ("blk.0.ffn_down.weight", Q4_K, [256, 1, 1]),
         ("ids", I8T, [5, 1, 1, 1])],
        alignment=64),
    "vocab_v2.gguf": gguf(
        [("general.architecture", STR, "llama"), ("tokenizer.ggml.model", STR, "llama"),
         ("tokenizer.ggml.tokens", ARR, (STR, ["<unk>", "<s>", "</s>", "a", "b"])),
         ("tokenizer.ggml.scores", ARR, (F32, [0.0, 0.0, 0.0, -1.0, -2.0])),
         ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3, 1, 1])),
         ("tokenizer.ggml.bos_token_id", U32, 1)],
        [], version=2),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    print(f"{os.path.join(out, name)}: {len(data)} bytes")
PY
