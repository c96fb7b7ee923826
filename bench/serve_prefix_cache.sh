#!/usr/bin/env bash
# Time to first token of `hayate serve` for two requests sharing a 1,000-token prefix: the first
# computes the whole prompt, the second finds the prefix's KV blocks in the prefix cache.
#
#   bench/serve_prefix_cache.sh [HAYATE_BIN]     (default build/bin/hayate)
#
# TTFT is measured as the whole time of a request for one token (max_tokens 1, not streamed):
# prefill plus one sampling step, which is what a client waits for before its first token. Each
# repetition uses a new prefix, so every first request starts cold. The model's built-in byte
# tokenizer makes 1,000 ASCII characters exactly 1,000 tokens.
#
# Environment: MODEL (made with `hayate synth` when missing), REPS (3), THREADS (0: all cores).
set -euo pipefail

bin=${1:-build/bin/hayate}
model=${MODEL:-/tmp/hayate-bench-1024x8-q8_0.gguf}
reps=${REPS:-3}
threads=${THREADS:-0}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

[ -f "$model" ] || "$bin" synth -o "$model" --n-embd 1024 --n-layer 8 --n-head 16 --n-head-kv 8 --n-ff 2816 \
  --type q8_0 >&2

"$bin" serve -m "$model" --port 0 -t "$threads" >"$work/log" 2>&1 &
server=$!
source "$(dirname "$0")/serve_common.sh"
wait_for_server "$work/log"

# One request for one token; prints "seconds cached_tokens prompt_tokens".
first_token() {
  curl -sf -o "$work/out" -w '%{time_total}' "$base/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"prompt\": \"$1\", \"max_tokens\": 1, \"temperature\": 0}" >"$work/time"
  echo "$(cat "$work/time") $(grep -o '"cached_tokens":[0-9]*' "$work/out" | cut -d: -f2)" \
    "$(grep -o '"prompt_tokens":[0-9]*' "$work/out" | cut -d: -f2)"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

first_token "warm up" >/dev/null
firsts=() seconds=()
for ((r = 1; r <= reps; ++r)); do
  # 1,000 characters: a repetition marker, then filler text.
  prefix=$(printf 'rep %d. %s' "$r" "$(printf 'The quick brown fox jumps over the lazy dog. %.0s' $(seq 30))" | head -c 1000)
  read -r t1 c1 p1 < <(first_token "$prefix Question one?")
  read -r t2 c2 p2 < <(first_token "$prefix Question two?")
  echo "rep $r: first ${t1} s (prompt $p1, cached $c1); second ${t2} s (prompt $p2, cached $c2)"
  firsts+=("$t1")
  seconds+=("$t2")
done
m1=$(printf '%s\n' "${firsts[@]}" | median)
m2=$(printf '%s\n' "${seconds[@]}" | median)
awk -v a="$m1" -v b="$m2" 'BEGIN { printf "median TTFT: first %.3f s, second %.3f s; %.1fx lower\n", a, b, a / b }'
