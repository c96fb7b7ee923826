#!/usr/bin/env bash
# Aggregate generation speed of `hayate serve` with 1 and with 8 concurrent requests, the same
# total work in both: REQUESTS completions of TOKENS greedy tokens each, sent one after another
# (1 stream) or all at once (8 streams, which continuous batching decodes together).
#
#   bench/serve_batching.sh [HAYATE_BIN]     (default build/bin/hayate)
#
# Environment: MODEL (made with `hayate synth` when missing), REQUESTS (8), TOKENS (64), REPS (3),
# THREADS (0: all cores). Prints each repetition (1 and 8 streams alternating), each side's
# median and the median of the per-repetition ratios.
set -euo pipefail

bin=${1:-build/bin/hayate}
model=${MODEL:-/tmp/hayate-bench-1024x8-q8_0.gguf}
requests=${REQUESTS:-8}
tokens=${TOKENS:-64}
reps=${REPS:-3}
threads=${THREADS:-0}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

# Weights (about 110 MB) well over the CPU caches, so one decode step is bound by reading them
# and a batch of 8 reads them once for 8 tokens.
[ -f "$model" ] || "$bin" synth -o "$model" --n-embd 1024 --n-layer 8 --n-head 16 --n-head-kv 8 --n-ff 2816 \
  --type q8_0 >&2

"$bin" serve -m "$model" --port 0 -t "$threads" >"$work/log" 2>&1 &
server=$!
source "$(dirname "$0")/serve_common.sh"
wait_for_server "$work/log"

# One completion; prints its completion_tokens.
complete() {
  curl -sf "$base/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"prompt\": \"Request $1: tell me about the sea\", \"max_tokens\": $tokens, \"temperature\": 0}" |
    grep -o '"completion_tokens":[0-9]*' | cut -d: -f2
}

# Runs the REQUESTS completions with `concurrency` in flight; prints generated tokens per second.
run() {
  local concurrency=$1 start end
  start=$(date +%s.%N)
  for ((i = 0; i < requests; i += concurrency)); do
    local pids=()
    for ((j = i; j < i + concurrency && j < requests; ++j)); do
      complete "$j" >"$work/n$j" &
      pids+=($!)
    done
    wait "${pids[@]}"
  done
  end=$(date +%s.%N)
  local total
  total=$(cat "$work"/n* | paste -sd+ | bc)
  rm -f "$work"/n*
  echo "$total $start $end" | awk '{ printf "%.1f %d %.3f\n", $1 / ($3 - $2), $1, $3 - $2 }'
}

complete warmup >/dev/null
# The repetitions alternate 1 and 8 streams, so that a slow spell of a shared machine falls on
# both sides of a pair; the result is the median of the per-repetition ratios (and each side's
# median for reference).
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ones=() eights=() ratios=()
for ((r = 1; r <= reps; ++r)); do
  read -r one total seconds < <(run 1)
  echo "rep=$r streams=1: $total tokens in $seconds s = $one tokens/s"
  read -r eight total seconds < <(run 8)
  echo "rep=$r streams=8: $total tokens in $seconds s = $eight tokens/s"
  ones+=("$one") eights+=("$eight")
  ratios+=("$(awk -v a="$one" -v b="$eight" 'BEGIN { printf "%.3f", b / a }')")
done
echo "streams=1 median: $(printf '%s\n' "${ones[@]}" | median) tokens/s"
echo "streams=8 median: $(printf '%s\n' "${eights[@]}" | median) tokens/s"
echo "ratios 8 streams / 1 stream: ${ratios[*]}"
echo "median ratio: $(printf '%s\n' "${ratios[@]}" | median)x"
