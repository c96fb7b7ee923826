#!/usr/bin/env bash
# hayate against the reference engine (ik_llama.cpp, ../shared/anchors/) on this machine, the
# same GGUF files, the two engines alternating: prints the ratio table of issue 13 with the CPU
# model, the load and `anchor --variant`.
#
#   bench/cpu_side_by_side.sh [HAYATE_BIN]     (default build/bin/hayate)
#
# Environment: MODELS (directory of the files, made by make-models.sh when missing;
# /tmp/hayate-side-by-side), SHAPE (tinyllama | mistral-7b: then FORMATS is q4_k_m), FORMATS
# ("q8_0 q4_k_m f16"), THREADS (2), PROMPT (512), GEN (128), REPS (3: timed runs per engine and
# round), ROUNDS (2: each round runs the reference, then hayate, for every format), ANCHORS
# (../shared/anchors from the repository), JSON (a file to keep every sample in).
# HAYATE_ANCHOR_VARIANT=avx2 compares the reference's AVX2 build with hayate's AVX2 kernels
# (HAYATE_MAX_ISA=avx2 is then set for hayate too).
# A test's figure is the median of all its samples over the rounds; ratio = hayate / reference.
set -euo pipefail

bin=$(realpath "${1:-build/bin/hayate}")
repo=$(cd "$(dirname "$0")/.." && pwd)
anchors=${ANCHORS:-$repo/../shared/anchors}
models=${MODELS:-/tmp/hayate-side-by-side}
shape=${SHAPE:-tinyllama}
threads=${THREADS:-2}
prompt=${PROMPT:-512}
gen=${GEN:-128}
reps=${REPS:-3}
rounds=${ROUNDS:-2}
if [[ $shape == mistral-7b ]]; then prefix=m7b; formats=${FORMATS:-q4_k_m}; else prefix=tl; formats=${FORMATS:-q8_0 q4_k_m f16}; fi
[[ ${HAYATE_ANCHOR_VARIANT:-} == avx2 ]] && export HAYATE_MAX_ISA=avx2
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$anchors/make-models.sh" "$models" "$shape" >&2

# Each engine's samples as lines "engine format test tokens_per_second".
samples=$work/samples
reference() {  # format
  (cd "$work" && "$anchors/anchor" llama-bench -m "$models/$prefix-$1.gguf" -t "$threads" -p "$prompt" -n "$gen" \
    -r "$reps" -o json 2>/dev/null) |
    $py -c 'import json,sys
for r in json.load(sys.stdin):
    t = "pp%d" % r["n_prompt"] if r["n_prompt"] else "tg%d" % r["n_gen"]
    for s in r["samples_ts"]: print("reference", sys.argv[1], t, s)' "$1" >>"$samples"
}
hayate() {  # format
  "$bin" bench model -m "$models/$prefix-$1.gguf" -t "$threads" -p "$prompt" -n "$gen" -r "$reps" -o json 2>/dev/null |
    $py -c 'import json,sys
for r in json.load(sys.stdin)["results"]:
    for s in r["samples_ts"]: print("hayate", sys.argv[1], r["test"], s, r["rss_peak_bytes"])' "$1" >>"$samples"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((round = 1; round <= rounds; ++round)); do
  for f in $formats; do
    echo "round $round/$rounds: $f" >&2
    reference "$f"
    hayate "$f"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
[[ -n ${JSON:-} ]] && cp "$samples" "$JSON"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "CPU: $cpu ($(nproc) cores); reference: $("$anchors/anchor" --variant); hayate: $("$bin" --version 2>/dev/null | head -1)"
echo "threads $threads, $rounds rounds x $reps runs per engine, medians; load average before $load_before, after $load_after"
[[ -n ${HAYATE_MAX_ISA:-} ]] && echo "HAYATE_MAX_ISA=$HAYATE_MAX_ISA"
echo
$py - "$samples" "$formats" "pp$prompt" "tg$gen" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
tests = [t for t in sys.argv[3:] if not t.endswith("p0") and not t.endswith("g0")]
def med(engine, fmt, test):
    v = [float(r[3]) for r in rows if r[0] == engine and r[1] == fmt and r[2] == test]
    return statistics.median(v) if v else float("nan")
head = "| format |" + "".join(f" reference {t} | hayate {t} | ratio |" for t in tests) + " hayate peak RSS |"
print(head)
print("|" + " --- |" * (head.count("|") - 1))
for fmt in sys.argv[2].split():
    cells = []
    for t in tests:
        a, b = med("reference", fmt, t), med("hayate", fmt, t)
        cells += [f"{a:.1f}", f"{b:.1f}", f"{b / a:.2f}"]
    rss = max((int(r[4]) for r in rows if r[0] == "hayate" and r[1] == fmt), default=0)
    print(f"| {fmt.upper()} | " + " | ".join(cells) + f" | {rss / 2**20:.0f} MiB |")
EOF
