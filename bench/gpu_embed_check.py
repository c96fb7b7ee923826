#!/usr/bin/env python3
"""/v1/embeddings of `hayate serve --device cuda` with CUDA graphs (the default) and without:
the vectors must be the same (issue 12, stage 4: graphs on by default).
  gpu_embed_check.py HAYATE MODEL LOGDIR"""
import json
import random
import subprocess
import sys
import time
import urllib.request

hayate, model, logdir = sys.argv[1:4]
inputs = ["Once upon a time", "a longer second input of a few more tokens than the first"]


def embeddings(flag):
    port = random.randint(18000, 19999)
    log = open(f"{logdir}/embed-server{flag}.log", "w")
    server = subprocess.Popen([hayate, "serve", "-m", model, "--device", "cuda", flag, "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"the server ended; see {log.name}")
                time.sleep(0.5)
        req = urllib.request.Request(base + "/v1/embeddings", json.dumps({"input": inputs}).encode(),
                                     {"Content-Type": "application/json"})
        body = json.load(urllib.request.urlopen(req, timeout=60))
        return [d["embedding"] for d in body["data"]]
    finally:
        server.terminate()
        server.wait()


with_graphs, eager = embeddings("--cuda-graphs"), embeddings("--no-cuda-graphs")
same = with_graphs == eager and len(eager) == len(inputs) and all(eager)
print(f"embeddings graphs==eager {'yes' if same else 'NO'} ({len(eager)} x {len(eager[0]) if eager else 0})")
sys.exit(0 if same else 1)
