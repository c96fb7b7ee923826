#!/usr/bin/env python3
# The table of bench/gpu_side_by_side.sh from its logs (LOGDIR): hayate's figures beside the
# reference engine's from issue 12 (measured on an H100 in an earlier session, not here), each
# decode figure with its roofline ratio, then the checks (tests, sanitizer, greedy text) and the
# HAYATE_PROFILE table of the last 64-stream burst of each server.
import json, os, re, sys

logdir = sys.argv[1]
REFERENCE = {  # issue 12, ik_llama.cpp on one H100 (tokens/s)
    ("f16", "tg128"): 133.9, ("q4_k_m", "tg128"): 265.9,
    ("f16", "pp512"): 16000, ("q4_k_m", "pp512"): 7750,
    ("f16", 64): 4604, ("q4_k_m", 64): 3711, ("q4_k_m", 1): 244,
}


def read(name):
    try:
        return open(os.path.join(logdir, name)).read()
    except OSError:
        return ""


def first_json(text, key):
    dec = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text[m.start():])
        except ValueError:
            continue
        if isinstance(obj, dict) and key in obj:
            return obj
    return {}


roof = first_json(read("roofline.log"), "copy_gb_per_s")
bw = roof.get("copy_gb_per_s")
tf = roof.get("bf16_gemm_tflops_14336x512x4096")
variants = sorted({m.group(1) for f in os.listdir(logdir)
                   for m in [re.match(r"(?:bench|serve)_(?:f16|q4_k_m)_(\w+)\.log$", f)] if m})


LABEL = {"base": "base (profiled)", "newp": "new (profiled)"}


def ratio(x, ref):
    return f"{x / ref:.2f}" if ref else "—"


print("\n| model | variant | test | hayate tok/s | reference tok/s | ratio | roofline ratio |")
print("|---|---|---|---:|---:|---:|---:|")
sizes = {}  # model bytes, from any bench log of the model (serving rooflines need them)
for f in os.listdir(logdir):
    mm = re.match(r"bench_(f16|q4_k_m)_\w+\.log$", f)
    for r in first_json(read(f), "results").get("results", []) if mm else []:
        sizes[mm.group(1)] = r["model_size_bytes"]
for m in ("f16", "q4_k_m"):
    for v in variants:
        bench = first_json(read(f"bench_{m}_{v}.log"), "results")
        for r in bench.get("results", []):
            ts, test = r["median_ts"], r["test"]
            size = r["model_size_bytes"]
            if test.startswith("tg"):
                roofl = f"{size * ts / 1e9 / bw:.2f}" if bw else "?"
            else:
                roofl = f"{2 * r['n_params'] * ts / 1e12 / tf:.2f}" if tf else "?"
            ref = REFERENCE.get((m, test))
            print(f"| {m} | {v} | {test} | {ts:.1f} | {ref or '—'} | {ratio(ts, ref)} | {roofl} |")
        last = {}
        for c, rate in re.findall(r"concurrency (\d+): \d+ tokens in [\d.]+ s = ([\d.]+) tok/s", read(f"serve_{m}_{v}.log")):
            last[int(c)] = float(rate)  # the last run of each level (the first warms up)
        for c in sorted(last):
            ref = REFERENCE.get((m, c))
            # Each step reads every weight once for all c streams.
            size = sizes.get(m)
            roofl = f"{last[c] / (c * bw * 1e9 / size):.2f}" if bw and size else "?"
            print(f"| {m} | {LABEL.get(v, v)} | serve, {c} streams (HTTP) | {last[c]:.1f} | {ref or '—'} | "
                  f"{ratio(last[c], ref)} | {roofl} |")
print(f"\nceilings measured here: {roof or '(no roofline result)'}")

tests = read("tests.log")
def finished(status):
    return sorted(set(re.findall(r"^\[ *%s *\] (\S+) \(\d+ ms\)" % status, tests, re.M)))
ok, skipped, failed = finished("OK"), finished("SKIPPED"), finished("FAILED")
print("tests: %d passed, %d skipped %s, %d failed %s" % (len(ok), len(skipped), skipped[:5], len(failed), failed[:20]))
for name in ("memcheck_new", "racecheck_new"):
    sums = re.findall(r"(?:ERROR|RACECHECK) SUMMARY: .*", read(name + ".log"))
    print(f"{name}: {sums if sums else '(no summary)'}")
for line in read("greedy.log").splitlines():
    if line.startswith("greedy"):
        print(line)
for f in sorted(os.listdir(logdir)):
    if not f.startswith("server_"):
        continue
    text = read(f)
    tables = text.split("engine busy period:")
    if len(tables) < 2:
        continue  # not profiled
    rows = tables[-1].strip().splitlines()  # the last burst: the last level's run
    print(f"\n{f}: engine busy period:{rows[0]}")
    for row in rows[1:]:
        if re.search(r"\s[\d.]+%$", row):  # the table's rows, not the server's log lines between them
            print("  " + row)
