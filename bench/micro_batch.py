#!/usr/bin/env python3
# The micro-batcher's throughput (issue 18): 50 concurrent small /v1/tasks/classify or
# /v1/embeddings requests against three `hayate serve` processes of the same model:
#   micro-batch   micro_batch_max 8, micro_batch_wait_ms 100 (the defaults)
#   batch-1       micro-batching off and max_running 1: the engine runs one request at a time
#   continuous    micro-batching off, continuous batching as it is (max_running 16)
# Rounds alternate between the servers (only one is busy at a time); each configuration's median
# requests/s over --reps rounds is printed, and the ratio to batch-1. Standard library only.
#
#   bench/micro_batch.py build/bin/hayate [--model FILE] [--reps 5] [--clients 50]
#                        [--workload classify|embeddings|both] [--threads N]
import argparse, json, re, statistics, subprocess, tempfile, threading, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("hayate")
ap.add_argument("--model", default="")
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--clients", type=int, default=50)
ap.add_argument("--workload", default="both")
ap.add_argument("--threads", default="0")
args = ap.parse_args()

CONFIGS = {
    "micro-batch": ["--micro-batch-max", "8", "--micro-batch-wait-ms", "100"],
    "batch-1": ["--micro-batch-max", "0", "--max-running", "1"],
    "continuous": ["--micro-batch-max", "0"],
}


def start(extra):
    log = tempfile.NamedTemporaryFile(prefix="hayate-microbatch-", suffix=".log", delete=False)
    cmd = [args.hayate, "serve", "--port", "0", "-t", args.threads, "--log-level", "warn", "--max-waiting", "1024"]
    if args.model:
        cmd += ["-m", args.model]
    proc = subprocess.Popen(cmd + extra, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(log.name).read())
        if m:
            url = f"http://127.0.0.1:{m.group(1)}"
            try:
                urllib.request.urlopen(url + "/health", timeout=5)
                return proc, url
            except Exception:
                pass
        time.sleep(0.1)
    raise SystemExit("server did not start: " + open(log.name).read())


def body(workload, i):
    if workload == "classify":
        return "/v1/tasks/classify", {"text": f"Ticket {i}: my order has not arrived yet", "labels": ["billing", "shipping", "other"]}
    return "/v1/embeddings", {"input": f"sentence number {i} about the sea and its ships"}


def round_rps(url, workload):
    errors = []

    def one(i):
        path, b = body(workload, i)
        r = urllib.request.Request(url + path, json.dumps(b).encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=600) as resp:
                resp.read()
        except Exception as e:  # counted, and the round is void
            errors.append(str(e))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(args.clients)]
    t0 = time.time()
    [t.start() for t in ts]
    [t.join() for t in ts]
    dt = time.time() - t0
    if errors:
        raise SystemExit(f"{len(errors)} requests failed: {errors[0]}")
    return args.clients / dt


servers = {name: start(extra) for name, extra in CONFIGS.items()}
try:
    workloads = ["classify", "embeddings"] if args.workload == "both" else [args.workload]
    for w in workloads:
        for name, (_, url) in servers.items():  # warm-up round, not counted
            round_rps(url, w)
        rps = {name: [] for name in servers}
        for _ in range(args.reps):
            for name, (_, url) in servers.items():
                rps[name].append(round_rps(url, w))
        base = statistics.median(rps["batch-1"])
        for name, values in rps.items():
            med = statistics.median(values)
            print(f"{w:10s} {name:12s} median {med:8.1f} req/s  ({med / base:4.2f}x batch-1)  rounds: "
                  + " ".join(f"{v:.1f}" for v in values), flush=True)
finally:
    for proc, _ in servers.values():
        proc.terminate()
        proc.wait()
