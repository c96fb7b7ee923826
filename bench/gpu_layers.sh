#!/usr/bin/env bash
# Partial offload on a GPU machine (<= 9 minutes): `--gpu-layers` 0/8/16/24/32 on the
# Llama-3-8B-shaped random models of bench/gpu_common.sh (made here when MODELS lacks them).
# For each count: the greedy text of `hayate run` against all-GPU and all-CPU (--device cpu), and
# tokens/s of `hayate bench model` (pp512, tg128); then the --gpu-memory-fraction 0.05 case
# (the model is larger than the memory allowed: it must run split, or say why, never crash).
# First the split's GPU test (forward_cuda_split_test) when it is there. Uses the programs of
# `bench/gpu_layers.sh --prebuild` (run where nvcc and the Debian packages are: cuda-prebuilt/)
# or BIN. Logs under $OUT (default ./gpu-layers-out); a summary table last.
#   bench/gpu_layers.sh --prebuild           # here, then carry cuda-prebuilt/ to the GPU machine
#   bench/gpu_layers.sh                      # on the GPU machine
#   TYPES="q4_k_m bf16" LAYERS="0 16 32" bench/gpu_layers.sh
set -u
OUT=${OUT:-$PWD/gpu-layers-out}
mkdir -p "$OUT"
MODELS=${MODELS:-/tmp/hayate-models}
TYPES=${TYPES:-q4_k_m}  # l8b-TYPE.gguf in MODELS; q4_k_m and bf16 are what make_models writes
LAYERS=${LAYERS:-0 8 16 24 32}
JOBS=${JOBS:-16}
export PATH=/usr/local/cuda/bin:$PATH
START=$(date +%s)
BUDGET=${BUDGET:-530}
source bench/gpu_common.sh

PREBUILT=${PREBUILT:-cuda-prebuilt}
TARGETS="hayate forward_cuda_split_test"
prebuild_or_bin "${1:-}"
{ nvidia-smi; "$BIN/hayate" --version; } >"$OUT/machine.log" 2>&1
[ -x "$BIN/forward_cuda_split_test" ] && step split-test 120 "$BIN/forward_cuda_split_test"

need_synth=0
for ty in $TYPES; do [ -f "$MODELS/l8b-$ty.gguf" ] || need_synth=1; done
if (( need_synth )); then
  make_models "$BIN" "$MODELS" bf16 "$OUT/synth.log"
  wait_models 240
  echo "== synth: ${STATUS[synth]}"
fi

PROMPT="-p 'Once upon a time' -n 32 --temp 0 --ignore-eos"
declare -A TEXT
for ty in $TYPES; do
  m=$MODELS/l8b-$ty.gguf
  [ -f "$m" ] || { echo "== $m is missing; skipping $ty"; continue; }
  step "run-$ty-cpu" 120 "$BIN/hayate run -m $m $PROMPT --device cpu >$OUT/text-$ty-cpu.txt"
  for n in $LAYERS; do
    step "run-$ty-$n" 90 "$BIN/hayate run -m $m $PROMPT --device cuda --gpu-layers $n >$OUT/text-$ty-$n.txt"
    step "bench-$ty-$n" 150 "$BIN/hayate bench model -m $m --device cuda --gpu-layers $n -p 512 -n 128 -r 2 \
      -o csv --output $OUT/bench-$ty-$n.csv"
  done
  # Larger than the memory allowed: the automatic count splits it, or a clear error; and a
  # count that cannot fit is a clear error, never a crash (rc 134/139 would be one).
  step "fraction-$ty-auto" 150 "$BIN/hayate run -m $m $PROMPT --device cuda --gpu-memory-fraction 0.05 \
    >$OUT/text-$ty-fraction.txt"
  step "fraction-$ty-all" 60 "$BIN/hayate run -m $m $PROMPT --device cuda --gpu-memory-fraction 0.05 --gpu-layers 32"
done

same() { [ -s "$1" ] && [ -s "$2" ] && cmp -s "$1" "$2" && echo yes || echo NO; }
# The pp512 and tg128 tokens/s of a bench CSV (columns by name).
speeds() {
  [ -s "$1" ] || { echo "- | -"; return; }
  python3 - "$1" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
get = lambda t: next((r for r in rows if r.get("test") == t), None)
fmt = lambda r: "%.1f" % float(r["avg_ts"]) if r and r.get("avg_ts") else "-"
print(fmt(get("pp512")), "|", fmt(get("tg128")))
EOF
}

echo
echo "| model | --gpu-layers | greedy == all-GPU | greedy == all-CPU | pp512 t/s | tg128 t/s | GPU memory |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
echo "forward_cuda_split_test: ${STATUS[split-test]:-not run} $(grep -h -E 'PASSED|FAILED|SKIPPED' \
  "$OUT/split-test.log" 2>/dev/null | tail -1)"
for ty in $TYPES; do
  last=${LAYERS##* }
  for n in $LAYERS; do
    mem=$(python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print('%.2f GiB' % (int(r[0]['gpu_memory_bytes'])/2**30) if r and r[0].get('gpu_memory_bytes') else '-')" \
      "$OUT/bench-$ty-$n.csv" 2>/dev/null || echo -)
    echo "| $ty | $n | $(same "$OUT/text-$ty-$n.txt" "$OUT/text-$ty-$last.txt") |" \
      "$(same "$OUT/text-$ty-$n.txt" "$OUT/text-$ty-cpu.txt") | $(speeds "$OUT/bench-$ty-$n.csv") | $mem |"
  done
  echo "| $ty | auto, --gpu-memory-fraction 0.05 | $(same "$OUT/text-$ty-fraction.txt" "$OUT/text-$ty-$last.txt") |" \
    "$(same "$OUT/text-$ty-fraction.txt" "$OUT/text-$ty-cpu.txt") | ${STATUS[fraction-$ty-auto]:-} | | |"
  echo
  echo "$ty, --gpu-memory-fraction 0.05 (auto): $(grep -h -E 'gpu layers|split|error' "$OUT/fraction-$ty-auto.log" | head -3)"
  echo "$ty, --gpu-memory-fraction 0.05 --gpu-layers 32: ${STATUS[fraction-$ty-all]:-}; $(grep -h error \
    "$OUT/fraction-$ty-all.log" | head -1)"
done
