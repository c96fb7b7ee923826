# Widen a small `hayate synth` GGUF into the same shape with more layers and vocabulary rows:
#   cuda_expand.py SRC DST N_LAYER N_VOCAB MAP
# writes DST with block_count N_LAYER and N_VOCAB rows of token_embd / output (0: as in SRC; the
# rows repeat), and layer tensors by MAP: "cycle" (blk.i copies blk.(i % SRC's layer count)) or
# "T:S,T:S,..." (blk.T copies SRC's blk.S; other layers are left out). Seconds instead of the
# minutes a single-threaded `hayate synth` of 8 G random values takes; the copies change no byte
# count, so timings are those of a random model of that shape. The vocabulary is padded to N_VOCAB.
import mmap, struct, sys
src, dst, n_layer, n_vocab, layer_map = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
f = open(src, "rb"); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
pos = 0
def take(fmt):
    global pos
    v = struct.unpack_from("<" + fmt, m, pos); pos += struct.calcsize("<" + fmt); return v
def string():
    global pos
    (n,) = take("Q"); s = bytes(m[pos:pos + n]); pos += n; return s
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
def skip_value(t):
    global pos
    if t == 8: string()
    elif t == 9:
        et, n = take("IQ")
        if et == 8:
            for _ in range(n): string()
        else: pos += SIZES[et] * n
    else: pos += SIZES[t]
magic, version, n_tensors, n_kv = take("4sIQQ")
assert magic == b"GGUF" and version == 3, "not a GGUF v3 file"
kvs, arch, align = [], None, 32
for _ in range(n_kv):
    key = string(); (t,) = take("I"); start = pos; skip_value(t)
    kvs.append([key, t, bytes(m[start:pos])])
    if key == b"general.architecture": arch = kvs[-1][2][8:]
    if key == b"general.alignment": align = struct.unpack("<I", kvs[-1][2])[0]
for kv in kvs:
    if kv[0] in (arch + b".block_count", arch + b".vocab_size"):
        assert kv[1] == 4
        if kv[0].endswith(b"block_count"): kv[2] = struct.pack("<I", n_layer)
        elif n_vocab > 0: kv[2] = struct.pack("<I", n_vocab)
# The vocabulary arrays padded to N_VOCAB with unmatchable entries (empty text, type 5 "unused"),
# so that the tokenizer's size is the model's, as the server's compression service requires.
PAD = {b"tokenizer.ggml.tokens": (8, struct.pack("<Q", 0)), b"tokenizer.ggml.token_type": (5, struct.pack("<i", 5)),
       b"tokenizer.ggml.scores": (6, struct.pack("<f", 0.0))}
for kv in kvs:
    if kv[0] in PAD and kv[1] == 9 and n_vocab > 0:
        et, n = struct.unpack_from("<IQ", kv[2])
        want_et, item = PAD[kv[0]]
        if et == want_et and n < n_vocab:
            kv[2] = struct.pack("<IQ", et, n_vocab) + kv[2][12:] + item * (n_vocab - n)
tensors = {}
order = []
for _ in range(n_tensors):
    name = string(); (nd,) = take("I"); dims = list(take("Q" * nd)); t, off = take("IQ")
    tensors[name] = (dims, t, off); order.append(name)
data0 = (pos + align - 1) // align * align
# bytes per block of elements, by GGML type: F32 F16 BF16 Q4_0 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 8: (32, 34), 10: (256, 84), 11: (256, 110),
         12: (256, 144), 13: (256, 176), 14: (256, 210)}
def size_of(name, dims, t):
    assert t in BLOCK, f"{name}: GGML type {t} is not one this script knows"
    per, nbytes = BLOCK[t]
    assert dims[0] % per == 0
    for d in dims[1:]: nbytes *= d
    return dims[0] // per * nbytes
layers = sorted({int(n.split(b".")[1]) for n in order if n.startswith(b"blk.")})
pairs = [(i, layers[i % len(layers)]) for i in range(n_layer)] if layer_map == "cycle" else \
    [tuple(int(x) for x in p.split(":")) for p in layer_map.split(",")]
plan = []  # (name, dims, type, source offset, source bytes, repeat-to bytes)
for name in order:
    dims, t, off = tensors[name]
    nbytes = size_of(name, dims, t)
    if name.startswith(b"blk."):
        continue
    if name in (b"token_embd.weight", b"output.weight") and n_vocab > 0:
        plan.append((name, [dims[0], n_vocab], t, off, nbytes, nbytes // dims[1] * n_vocab))
    else:
        plan.append((name, dims, t, off, nbytes, nbytes))
layer_plan = []
for i, j in pairs:
    prefix = b"blk.%d." % j
    assert j in layers, f"{src} has no layer {j}"
    for name in order:
        if name.startswith(prefix):
            dims, t, off = tensors[name]
            nbytes = size_of(name, dims, t)
            layer_plan.append((b"blk.%d." % i + name[len(prefix):], dims, t, off, nbytes, nbytes))
plan = plan[:1] + layer_plan + plan[1:]  # token_embd first, then layers, then output_norm/output
out = open(dst, "wb")
hdr = bytearray(struct.pack("<4sIQQ", b"GGUF", 3, len(plan), len(kvs)))
for key, t, raw in kvs: hdr += struct.pack("<Q", len(key)) + key + struct.pack("<I", t) + raw
off = 0
for name, dims, t, _, _, size in plan:
    hdr += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims)) + struct.pack("<" + "Q" * len(dims), *dims)
    hdr += struct.pack("<IQ", t, off)
    off = (off + size + align - 1) // align * align
hdr += b"\0" * ((len(hdr) + align - 1) // align * align - len(hdr))
out.write(hdr)
written = 0
for name, dims, t, soff, sbytes, size in plan:
    block = m[data0 + soff:data0 + soff + sbytes]
    left = size
    while left > 0:
        piece = block if left >= len(block) else block[:left]
        out.write(piece); left -= len(piece)
    pad = (size + align - 1) // align * align - size
    out.write(b"\0" * pad)
out.close()
print(f"expand: {src} (layers {layers}) -> {dst} ({n_layer} layers, {len(pairs)} present, "
      f"{n_vocab or 'same'} vocabulary rows, {len(plan)} tensors)")
