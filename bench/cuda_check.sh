#!/usr/bin/env bash
# One call on a GPU machine (H100/H200, <= 9 minutes): build with CUDA, run the CUDA tests,
# compute-sanitizer memcheck on a short run, the two ceilings (copy bandwidth, bf16 GEMM), then
# a Llama-3-8B-shaped random model (BF16 and Q4_K_M) timed with `hayate bench model` and
# `hayate run`, and a short table with roofline ratios last. Logs under $OUT (default ./cuda-out).
# Each step has its own time limit and the script goes on after a failure, so one broken step
# still leaves the others' numbers.
set -u
OUT=${OUT:-$PWD/cuda-out}
mkdir -p "$OUT"
BUILD=${BUILD:-build-cuda}
MODELS=${MODELS:-/tmp/hayate-models}
JOBS=${JOBS:-16}
export PATH=/usr/local/cuda/bin:$PATH
START=$(date +%s)
declare -A STATUS

step() {  # step NAME SECONDS COMMAND...: runs with a limit, logs to $OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  timeout "$limit" bash -c "$*" >"$OUT/$name.log" 2>&1
  local rc=$?
  STATUS[$name]="rc=$rc $(( $(date +%s) - t0 ))s"
  echo "== $name: ${STATUS[$name]} (at $(( $(date +%s) - START ))s)"
  return $rc
}

{ nvidia-smi; nvcc --version; df -h /tmp .; nproc; free -g; } >"$OUT/machine.log" 2>&1

step build 240 "cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DHAYATE_BUILD_BENCH=ON \
  -DHAYATE_CUDA_PTXAS_VERBOSE=ON && cmake --build $BUILD -j$JOBS --target hayate backend_cuda_kernels_test \
  backend_cuda_forward_test cuda_roofline" || { echo "build failed; see $OUT/build.log"; tail -30 "$OUT/build.log"; exit 1; }
BIN=$BUILD/bin

# The model synthesis runs in the background while the tests use the GPU (it needs only CPU
# and disk: about 16 GB for BF16 and 5 GB for Q4_K_M).
mkdir -p "$MODELS"
SHAPE="--arch llama --n-embd 4096 --n-layer 32 --n-head 32 --n-head-kv 8 --n-ff 14336 --n-vocab 128256 --n-ctx 8192 --rope-theta 500000"
( timeout 300 $BIN/hayate synth -o $MODELS/l8b-bf16.gguf $SHAPE --type bf16 &&
  timeout 200 $BIN/hayate quantize $MODELS/l8b-bf16.gguf $MODELS/l8b-q4_k_m.gguf q4_k_m -t $JOBS ) \
  >"$OUT/synth.log" 2>&1 &
SYNTH_PID=$!

step tests 150 "$BIN/backend_cuda_kernels_test && $BIN/backend_cuda_forward_test"
step memcheck 90 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/hayate run --device cuda -p 'Hello' -n 8 --temp 0"
step memcheck_graphs 60 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/hayate run --device cuda --cuda-graphs -p 'Hello' -n 4 --temp 0"
step roofline 60 "$BIN/cuda_roofline"

wait $SYNTH_PID
STATUS[synth]="rc=$? (see synth.log)"
for m in bf16 q4_k_m; do
  f=$MODELS/l8b-$m.gguf
  [ -f "$f" ] || continue
  step bench_$m 90 "$BIN/hayate bench model -m $f --device cuda -p 512 -n 128 -r 2 -o json"
  ids=$(python3 -c "print(','.join(str((i*7919+13)%128000) for i in range(512)))")
  step run_$m 60 "$BIN/hayate run -m $f --device cuda --prompt-ids $ids -n 128 --ignore-eos --temp 0"
done

python3 - "$OUT" <<'PY'
import json, os, re, sys
out = sys.argv[1]
def read(name):
    try:
        return open(os.path.join(out, name + ".log")).read()
    except OSError:
        return ""
roof = {}
m = re.search(r"\{.*\}", read("roofline"))
if m:
    roof = json.loads(m.group(0))
bw = roof.get("copy_gb_per_s")
tf = roof.get("bf16_gemm_tflops_14336x512x4096")
print("\n| model | test | tok/s | achieved | ceiling | ratio |")
print("|---|---|---:|---:|---:|---:|")
for mt in ("bf16", "q4_k_m"):
    text = read("bench_" + mt)
    j = re.search(r"\{.*\}\s*$", text, re.S)
    if not j:
        print(f"| {mt} | (no bench output) | | | | |")
        continue
    try:
        rows = json.loads(j.group(0))["results"]
    except Exception as e:
        print(f"| {mt} | (unreadable: {e}) | | | | |")
        continue
    for r in rows:
        ts = r["median_ts"]
        if r["test"].startswith("tg"):
            gbs = r["model_size_bytes"] * ts / 1e9  # each decoded token reads every weight once
            ratio = f"{gbs / bw:.2f}" if bw else "?"
            print(f"| {mt} | {r['test']} | {ts:.1f} | {gbs:.0f} GB/s | {bw} GB/s | {ratio} |")
        else:
            tflops = 2 * r["n_params"] * ts / 1e12
            ratio = f"{tflops / tf:.2f}" if tf else "?"
            print(f"| {mt} | {r['test']} | {ts:.1f} | {tflops:.1f} TFLOP/s | {tf} TFLOP/s | {ratio} |")
    run = re.search(r"prompt (\d+) tokens in .*?\(([\d.]+) tok/s\); generated (\d+) tokens in .*?\(([\d.]+) tok/s\)",
                    read("run_" + mt))
    if run:
        print(f"| {mt} | run: decode {run.group(3)} after a {run.group(1)} prompt | {run.group(4)} | | | |")
print("\nroofline:", roof or "(no result)")
PY
echo
for k in "${!STATUS[@]}"; do echo "$k: ${STATUS[$k]}"; done | sort
echo "total $(( $(date +%s) - START ))s; logs in $OUT"
