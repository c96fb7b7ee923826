#!/usr/bin/env python3
"""Embedding throughput of `hayate serve` (chunks per second) with batching vs one at a time
(issue 15): the same CHUNKS chunk-sized texts sent as /v1/embeddings requests of BATCH inputs,
which the engine embeds together in its continuous batches, and as one request per chunk, sent
one after another. The server runs the embedded model unless MODEL names one.

    bench/rag_embed_batching.py [HAYATE_BIN]        (default build/bin/hayate)

Environment: CHUNKS (256), BATCH (64), WORDS per chunk (120), REPS (3), THREADS (0: all cores),
MODEL, DEVICE (the server's --device: cpu, cuda or auto; unset: the server's default). Prints each
repetition and the median ratio."""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1] if len(sys.argv) > 1 else "build/bin/hayate"
chunks = int(os.environ.get("CHUNKS", 256))
batch = int(os.environ.get("BATCH", 64))
words = int(os.environ.get("WORDS", 120))
reps = int(os.environ.get("REPS", 3))
threads = os.environ.get("THREADS", "0")
model = os.environ.get("MODEL", "")
device = os.environ.get("DEVICE", "")

vocab = ("harbour lantern ferry keeper ledger seal river salt tower glass spring flood archive "
         "northern market copper coin island bridge festival").split()
texts = [" ".join(f"{vocab[(i * 7 + j * 3) % len(vocab)]}{(i + j) % 13}" for j in range(words))
         for i in range(chunks)]

log = tempfile.NamedTemporaryFile(prefix="hayate-embed-bench-", suffix=".log", delete=False)
args = [binary, "serve", "--port", "0", "-t", threads, "--max-batch-tokens", "8192"]
if model:
    args += ["-m", model]
if device:
    args += ["--device", device]
server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
try:
    port = None
    for _ in range(1200):
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(log.name).read())
        if m:
            port = int(m.group(1))
            break
        if server.poll() is not None:
            break
        time.sleep(0.1)
    if port is None:
        sys.exit("the server did not start:\n" + open(log.name).read())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for _ in range(1200):  # the port opens before the model is loaded
        conn.request("GET", "/health")
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            break
        time.sleep(0.1)

    def embed(inputs):
        conn.request("POST", "/v1/embeddings", json.dumps({"input": inputs}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"/v1/embeddings answered {r.status}: {body[:300]!r}")
        return len(json.loads(body)["data"])

    def run(size):
        t0 = time.perf_counter()
        n = sum(embed(texts[i:i + size]) for i in range(0, chunks, size))
        assert n == chunks
        return chunks / (time.perf_counter() - t0)

    embed(texts[:2])  # warm-up: the first forward pass pays for page faults
    ratios, ones, manys = [], [], []
    for rep in range(reps):  # alternating, so that a change of the machine's load hits both
        one = run(1)
        many = run(batch)
        ratios.append(many / one)
        ones.append(one)
        manys.append(many)
        print(f"rep {rep + 1}: one at a time {one:8.1f} chunks/s, batches of {batch} {many:8.1f} chunks/s, "
              f"{many / one:5.2f}x (load average {os.getloadavg()[0]:.1f})")
    print(f"median over {reps} reps: one at a time {statistics.median(ones):.1f} chunks/s, batches of {batch} "
          f"{statistics.median(manys):.1f} chunks/s, speed-up {statistics.median(ratios):.2f}x "
          f"({chunks} chunks of {words} words; load average {os.getloadavg()[0]:.1f})")
finally:
    server.terminate()
    server.wait()
    os.unlink(log.name)
