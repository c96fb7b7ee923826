#!/usr/bin/env python3
# Aggregate generation speed of a running `hayate serve` (or any OpenAI-compatible server) at
# several numbers of concurrent completions of 64 tokens (by default 1, 8 and 64; 1 and 64 twice:
# the first of each warms up). Standard library only, for machines without curl/bc (the GPU
# machine).
#
#   bench/serve_concurrency.py http://127.0.0.1:PORT [--levels 1,1,5,10,20,64,64] [--stream]
#                              [--tokens 64]
# Each level prints "concurrency C: N tokens in T s = R tok/s" (T from the first request's start
# to the last one's end). With --stream the completions stream (SSE) and the count comes from
# the final usage chunk (stream_options.include_usage).
import argparse, json, threading, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("--levels", default="1,1,8,64,64")
ap.add_argument("--tokens", type=int, default=64)
ap.add_argument("--stream", action="store_true")
args = ap.parse_args()


def one(i, out):
    req = {"prompt": f"Request {i}: tell me about the sea", "max_tokens": args.tokens, "temperature": 0,
           "ignore_eos": True}
    if args.stream:
        req.update(stream=True, stream_options={"include_usage": True})
    body = json.dumps(req).encode()
    r = urllib.request.Request(args.url + "/v1/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=300) as resp:
        if not args.stream:
            out[i] = json.load(resp)["usage"]["completion_tokens"]
            return
        for line in resp:
            line = line.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                out[i] = chunk["usage"]["completion_tokens"]


for c in [int(x) for x in args.levels.split(",")]:
    out = {}
    ts = [threading.Thread(target=one, args=(i, out)) for i in range(c)]
    t0 = time.time()
    [t.start() for t in ts]
    [t.join() for t in ts]
    dt = time.time() - t0
    print(f"concurrency {c}: {sum(out.values())} tokens in {dt:.3f} s = {sum(out.values())/dt:.1f} tok/s", flush=True)
