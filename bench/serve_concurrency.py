#!/usr/bin/env python3
# Aggregate generation speed of a running `hayate serve` (or any OpenAI-compatible server) at
# 1, 8 and 64 concurrent completions of 64 tokens (1 and 64 twice: the first of each warms up).
# Standard library only, for machines without curl/bc (the GPU machine).
#
#   bench/serve_concurrency.py http://127.0.0.1:PORT
import json, sys, threading, time, urllib.request
url = sys.argv[1]
def one(i, out):
    body = json.dumps({"prompt": f"Request {i}: tell me about the sea", "max_tokens": 64, "temperature": 0, "ignore_eos": True}).encode()
    req = urllib.request.Request(url + "/v1/completions", body, {"Content-Type": "application/json"})
    out[i] = json.load(urllib.request.urlopen(req, timeout=120))["usage"]["completion_tokens"]
for c in [1, 1, 8, 64, 64]:
    out = {}
    ts = [threading.Thread(target=one, args=(i, out)) for i in range(c)]
    t0 = time.time(); [t.start() for t in ts]; [t.join() for t in ts]; dt = time.time() - t0
    print(f"concurrency {c}: {sum(out.values())} tokens in {dt:.3f} s = {sum(out.values())/dt:.1f} tok/s", flush=True)
