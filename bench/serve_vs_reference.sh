#!/usr/bin/env bash
# `hayate bench serve` against `hayate serve` and the reference engine's `llama-server`
# (../shared/anchors, continuous batching, one slot per stream), the same GGUF file and thread
# count, concurrency 1/5/10/20; writes each server's results JSON and `hayate report` of both.
#
#   bench/serve_vs_reference.sh [HAYATE_BIN]     (default build/bin/hayate)
#
# Environment: MODEL (/tmp/hayate-side-by-side/tl-q4_k_m.gguf, made by make-models.sh when
# missing), THREADS (2), CONCURRENCY (1,5,10,20), TOKENS (128 per answer, --ignore-eos),
# REQUESTS (per level: 40), WORKLOAD (story), BENCH_ARGS (more `bench serve` options, e.g.
# "--file chat.jsonl" for WORKLOAD=jsonl), OUT (a directory for reference.json, hayate.json,
# report.md and report.html; default a temporary one, printed), ANCHORS.
# The servers run one after the other, never at once, each on the same cores.
set -euo pipefail

bin=$(realpath "${1:-build/bin/hayate}")
repo=$(cd "$(dirname "$0")/.." && pwd)
anchors=${ANCHORS:-$repo/../shared/anchors}
model=${MODEL:-/tmp/hayate-side-by-side/tl-q4_k_m.gguf}
threads=${THREADS:-2}
concurrency=${CONCURRENCY:-1,5,10,20}
tokens=${TOKENS:-128}
requests=${REQUESTS:-40}
workload=${WORKLOAD:-story}
read -r -a extra <<<"${BENCH_ARGS:-}"
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
[ -f "$model" ] || "$anchors/make-models.sh" "$(dirname "$model")" tinyllama >&2
slots=$(echo "$concurrency" | tr ',' '\n' | sort -n | tail -1)
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

# Waits for GET $1/health to answer 200.
wait_health() {
  for _ in $(seq 1200); do
    curl -sf "$1/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "no server at $1" >&2
  exit 1
}

load() {  # label url pid
  echo "== $1: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  "$bin" bench serve --url "$2" --label "$1" -w "$workload" -c "$concurrency" -n "$tokens" --ignore-eos \
    --requests "$requests" --pid "$3" --no-progress --out "$out/$1.json" "${extra[@]}" >&2
}

# The reference: one slot of 1024 positions per stream (it writes llama.log where it starts).
(cd "$work" && exec "$anchors/anchor" llama-server -m "$model" --host 127.0.0.1 --port 18190 -t "$threads" \
  -np "$slots" -c $((slots * 1024)) >"$work/reference.log" 2>&1) &
server=$!
wait_health http://127.0.0.1:18190
load reference http://127.0.0.1:18190 "$server"
kill "$server"
wait "$server" 2>/dev/null || true

# hayate: as many running sequences as streams, 64 KV blocks (1024 positions) each.
"$bin" serve -m "$model" --host 127.0.0.1 --port 18191 -t "$threads" --max-running "$slots" \
  --kv-blocks $((slots * 64)) >"$work/hayate.log" 2>&1 &
server=$!
wait_health http://127.0.0.1:18191
load hayate http://127.0.0.1:18191 "$server"
kill "$server"
wait "$server" 2>/dev/null || true
server=""

"$bin" report "$out/reference.json" "$out/hayate.json" --md "$out/report.md" --html "$out/report.html"
echo "results and report in $out" >&2
cat "$out/report.md"
