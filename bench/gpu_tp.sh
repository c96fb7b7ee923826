#!/usr/bin/env bash
# Tensor parallelism (issue 24) on a machine of 2 (or 4) GPUs, <= 9 minutes: on the
# Llama-3-8B-shaped random models of bench/gpu_common.sh (made here when MODELS lacks them),
#   1. forward_tensor_parallel_test and forward_cuda_tp_test (one NCCL rank on one GPU, then the
#      ranks of every GPU);
#   2. greedy text of `hayate run --tensor-parallel N` against one GPU (must be identical);
#   3. `hayate bench model` pp512/tg128 at TP=1 and TP=N (tg128: the 1-stream decode latency);
#   4. `hayate serve` + `hayate bench serve` at 64 streams, TP=1 against TP=N (tokens/s);
#   5. with L70B=1, the Llama-3-70B shape (random weights, Q4_K_M, 80 layers) loads on N GPUs and
#      answers one request (bench/cuda_expand.py widens a 2-layer synth as for the 8B shape).
# Uses the programs of `bench/gpu_tp.sh --prebuild` (run where nvcc and the Debian packages are)
# or BIN. Logs under $OUT (default ./gpu-tp-out); a summary table last, for docs/benchmarks.md.
#   bench/gpu_tp.sh --prebuild      # here, then carry cuda-prebuilt/ to the GPU machine
#   TP=2 bench/gpu_tp.sh            # on the GPU machine (TP: default the GPUs visible)
set -u
OUT=${OUT:-$PWD/gpu-tp-out}
mkdir -p "$OUT"
MODELS=${MODELS:-/tmp/hayate-models}
TYPE=${TYPE:-q4_k_m}
JOBS=${JOBS:-16}
export PATH=/usr/local/cuda/bin:$PATH
START=$(date +%s)
BUDGET=${BUDGET:-530}
source bench/gpu_common.sh

PREBUILT=${PREBUILT:-cuda-prebuilt}
TARGETS="hayate forward_tensor_parallel_test forward_cuda_tp_test"
prebuild_or_bin "${1:-}"
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l)
TP=${TP:-$GPUS}
{ nvidia-smi; nvidia-smi topo -m; "$BIN/hayate" --version; } >"$OUT/machine.log" 2>&1
echo "== $GPUS GPUs; TP=$TP"
for t in forward_tensor_parallel_test forward_cuda_tp_test; do
  [ -x "$BIN/$t" ] && step "$t" 120 "$BIN/$t"
done

m=$MODELS/l8b-$TYPE.gguf
if [ ! -f "$m" ]; then
  NO_FLOAT_MODEL=1 make_models "$BIN" "$MODELS" bf16 "$OUT/synth.log"
  wait_models 300
  echo "== synth: ${STATUS[synth]}"
fi

PROMPT="-p 'Once upon a time' -n 32 --temp 0 --ignore-eos"
step run-tp1 90 "$BIN/hayate run -m $m $PROMPT --device cuda >$OUT/text-tp1.txt"
step run-tp$TP 120 "$BIN/hayate run -m $m $PROMPT --device cuda --tensor-parallel $TP >$OUT/text-tp$TP.txt"
for n in 1 $TP; do
  step "bench-tp$n" 150 "$BIN/hayate bench model -m $m --device cuda --tensor-parallel $n -p 512 -n 128 -r 2 \
    -o csv --output $OUT/bench-tp$n.csv"
done

# 64 streams through the server: TP=1 against TP=N, the same requests.
serve_load() {  # n
  local port=$((18300 + $1)) log=$OUT/serve-tp$1.server.log
  "$BIN/hayate" serve -m "$m" --device cuda --tensor-parallel "$1" --host 127.0.0.1 --port $port \
    --max-running 64 --kv-blocks 4096 >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  "$BIN/hayate" bench serve --url "http://127.0.0.1:$port" --label "tp$1" -c 64 -n 128 --ignore-eos \
    --requests 128 --no-progress --out "$OUT/serve-tp$1.json"
  kill $pid
  wait $pid 2>/dev/null
}
for n in 1 $TP; do step "serve-tp$n" 150 "serve_load $n"; done

if [ -n "${L70B:-}" ]; then
  # The 70B shape: 8192 wide, 64 heads over 8 KV heads, 28672 FFN columns, 80 layers.
  shape="--arch llama --n-embd 8192 --n-head 64 --n-head-kv 8 --n-ff 28672 --n-ctx 8192 --rope-theta 500000"
  step synth-70b 200 "cd $MODELS && $BIN/hayate synth -o l70b-2l.gguf $shape --n-layer 2 --type bf16 &&
    $BIN/hayate quantize l70b-2l.gguf l70b-2l-q.gguf q4_k_m -t $JOBS &&
    python3 $PWD/bench/cuda_expand.py l70b-2l-q.gguf l70b-q4_k_m.gguf 80 128256 cycle"
  step run-70b 200 "$BIN/hayate run -m $MODELS/l70b-q4_k_m.gguf $PROMPT --device cuda --tensor-parallel $TP"
fi

same() { [ -s "$1" ] && [ -s "$2" ] && cmp -s "$1" "$2" && echo yes || echo NO; }
speeds() {  # the pp512 and tg128 tokens/s of a bench CSV
  [ -s "$1" ] || { echo "- | -"; return; }
  python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
get = lambda t: next((r for r in rows if r.get("test") == t), None)
fmt = lambda r: "%.1f" % float(r["avg_ts"]) if r and r.get("avg_ts") else "-"
print(fmt(get("pp512")), "|", fmt(get("tg128")))
PY
}
served() {  # output tokens/s of a bench serve JSON, whatever its nesting
  python3 - "$1" <<'PY' 2>/dev/null || echo -
import json, sys
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if "output" in k and "per_s" in k and isinstance(v, (int, float)): return v
            r = find(v)
            if r is not None: return r
    if isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None: return r
print("%.1f" % find(json.load(open(sys.argv[1]))))
PY
}
echo
for t in forward_tensor_parallel_test forward_cuda_tp_test; do
  echo "$t: ${STATUS[$t]:-not run} $(grep -h -E 'PASSED|FAILED|SKIPPED' "$OUT/$t.log" 2>/dev/null | tail -1)"
done
echo "greedy TP=$TP == one GPU: $(same "$OUT/text-tp1.txt" "$OUT/text-tp$TP.txt")"
echo
echo "| $TYPE 8B shape | pp512 t/s | tg128 t/s (1 stream) | 64 streams, output t/s |"
echo "| --- | --- | --- | --- |"
for n in 1 $TP; do
  echo "| TP=$n | $(speeds "$OUT/bench-tp$n.csv") | $(served "$OUT/serve-tp$n.json") |"
done
[ -n "${L70B:-}" ] && echo "70B Q4_K_M on $TP GPUs: ${STATUS[run-70b]:-not run}"
grep -h -A6 "tensor parallel" "$OUT/run-tp$TP.log" | head -8
