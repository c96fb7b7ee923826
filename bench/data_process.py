#!/usr/bin/env python3
# The data service's latency (issue 18; the orchestrator seed's target: 100-500 ms for 100
# records): POST /v1/data/process with 100 records (analyze, filter, aggregate), without and with
# the model-written summary, one request at a time against a running server (or gateway).
# Prints the median and p95 of the client-side latency and the server's own process_ms.
#
#   bench/data_process.py http://127.0.0.1:PORT [--records 100] [--reps 20] [--summary-tokens 64]
import argparse, json, random, statistics, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("--records", type=int, default=100)
ap.add_argument("--reps", type=int, default=20)
ap.add_argument("--summary-tokens", type=int, default=64)
args = ap.parse_args()

rng = random.Random(7)
cities = ["Osaka", "Tokyo", "Kyoto", "Sapporo", "Fukuoka"]
records = [{"id": i, "city": rng.choice(cities), "amount": round(rng.uniform(1, 500), 2),
            "items": rng.randint(1, 9), "member": rng.random() < 0.4} for i in range(args.records)]
operations = [
    {"analyze": {}},
    {"filter": {"and": [{"field": "amount", "op": ">=", "value": 50}, {"field": "member", "op": "==", "value": True}]}},
    {"aggregate": {"group_by": "city", "metrics": [{"fn": "count"}, {"fn": "sum", "field": "amount"},
                                                   {"fn": "mean", "field": "items"}]}},
]


def run(summarize):
    req = {"records": records, "operations": operations}
    if summarize:
        req.update(summarize=True, max_tokens=args.summary_tokens)
    data = json.dumps(req).encode()
    times, server = [], []
    for _ in range(args.reps + 1):
        r = urllib.request.Request(args.url + "/v1/data/process", data, {"Content-Type": "application/json"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(r, timeout=600) as resp:
            out = json.load(resp)
        times.append((time.perf_counter() - t0) * 1000)
        server.append(out["timings"]["process_ms"])
    times, server = times[1:], server[1:]  # the first warms up
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"{args.records} records, summarize={str(summarize).lower():5s}: median {statistics.median(times):7.1f} ms, "
          f"p95 {p95:7.1f} ms (server process_ms median {statistics.median(server):.2f})", flush=True)


run(False)
run(True)
