#!/usr/bin/env bash
# One call on a GPU machine (H100/H200, <= 9 minutes): build with CUDA (or use the programs
# `bench/cuda_check.sh --prebuild` made elsewhere, carried as cuda-prebuilt/), run the CUDA tests,
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

BUDGET=${BUDGET:-530}  # seconds for the whole script (the device tool allows 600 per call)

step() {  # step NAME SECONDS COMMAND...: runs with a limit, logs to $OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  local left=$(( BUDGET - 15 - ($(date +%s) - START) ))  # keep 15 s for the table
  if (( left < 10 )); then
    STATUS[$name]="skipped (out of time)"
    echo "== $name: ${STATUS[$name]}"
    return 124
  fi
  (( limit > left )) && limit=$left
  local t0=$(date +%s)
  timeout "$limit" bash -c "$*" >"$OUT/$name.log" 2>&1
  local rc=$?
  STATUS[$name]="rc=$rc $(( $(date +%s) - t0 ))s"
  echo "== $name: ${STATUS[$name]} (at $(( $(date +%s) - START ))s)"
  return $rc
}

{ nvidia-smi; nvcc --version; df -h /tmp .; nproc; free -g; } >"$OUT/machine.log" 2>&1

TARGETS="hayate backend_cuda_kernels_test backend_cuda_forward_test backend_cuda_dequant_test cuda_roofline"
PREBUILT=${PREBUILT:-cuda-prebuilt}

# `cuda_check.sh --prebuild` (on a machine with nvcc and the Debian packages, not the GPU one):
# builds the programs into $PREBUILT/bin with the shared libraries they need beyond CUDA and
# libc in $PREBUILT/lib, to be carried to a GPU machine whose image lacks those packages.
if [ "${1:-}" = "--prebuild" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHAYATE_CUDA_PTXAS_VERBOSE=ON \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache &&
    cmake --build "$BUILD" -j"${PREBUILD_JOBS:-2}" --target $TARGETS >"$OUT/prebuild.log" 2>&1 ||
    { tail -30 "$OUT/prebuild.log"; exit 1; }
  rm -rf "$PREBUILT" && mkdir -p "$PREBUILT/bin" "$PREBUILT/lib"
  for t in $TARGETS; do cp "$BUILD/bin/$t" "$PREBUILT/bin/"; done
  for t in $TARGETS; do ldd "$BUILD/bin/$t"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E 'libc\.so|libm\.so|libdl\.so|libpthread|librt\.so|ld-linux|libcuda|libcublas|libstdc\+\+|libgcc_s' |
    xargs -r -I{} cp -L {} "$PREBUILT/lib/"
  du -sh "$PREBUILT"
  exit 0
fi

if [ -x "$PREBUILT/bin/hayate" ]; then
  BIN=$PREBUILT/bin
  export LD_LIBRARY_PATH=$PWD/$PREBUILT/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  STATUS[build]="prebuilt ($PREBUILT)"
  echo "== using the prebuilt programs in $PREBUILT"
else
  step build 200 "cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DHAYATE_CUDA_PTXAS_VERBOSE=ON && \
    cmake --build $BUILD -j$JOBS --target $TARGETS" ||
    { echo "build failed; see $OUT/build.log"; tail -30 "$OUT/build.log"; exit 1; }
  BIN=$BUILD/bin
fi

# The model synthesis runs in the background while the tests use the GPU (it needs only CPU
# and disk: about 16 GB for BF16 and 5 GB for Q4_K_M).
mkdir -p "$MODELS"
SHAPE="--arch llama --n-embd 4096 --n-layer 32 --n-head 32 --n-head-kv 8 --n-ff 14336 --n-vocab 128256 --n-ctx 8192 --rope-theta 500000"
# setsid: its own process group, so that running out of time stops the whole pipeline.
# SYNTH=0 skips it (a dry run of the script on a machine without a GPU).
if [ "${SYNTH:-1}" = 1 ]; then
  setsid bash -c "timeout 300 $BIN/hayate synth -o $MODELS/l8b-bf16.gguf $SHAPE --type bf16 &&
    timeout 200 $BIN/hayate quantize $MODELS/l8b-bf16.gguf $MODELS/l8b-q4_k_m.gguf q4_k_m -t $JOBS" \
    >"$OUT/synth.log" 2>&1 &
else
  setsid true &
fi
SYNTH_PID=$!

step tests 120 "$BIN/backend_cuda_dequant_test && $BIN/backend_cuda_kernels_test && $BIN/backend_cuda_forward_test"
step memcheck 60 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/hayate run --device cuda -p 'Hello' -n 8 --temp 0"
step memcheck_graphs 40 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/hayate run --device cuda --cuda-graphs -p 'Hello' -n 4 --temp 0"
step roofline 40 "$BIN/cuda_roofline"

# Wait for the synthesis only as long as the budget allows, then use whatever files exist.
while kill -0 $SYNTH_PID 2>/dev/null && (( $(date +%s) - START < BUDGET - 120 )); do sleep 2; done
if kill -0 $SYNTH_PID 2>/dev/null; then
  kill -- -$SYNTH_PID 2>/dev/null
  STATUS[synth]="stopped (out of time; see synth.log)"
else
  wait $SYNTH_PID
  STATUS[synth]="rc=$? (see synth.log)"
fi
for m in bf16 q4_k_m; do
  f=$MODELS/l8b-$m.gguf
  [ -f "$f" ] || continue
  # A half-written file (synthesis stopped) fails to load, which the step's log then says.
  step bench_$m 75 "$BIN/hayate bench model -m $f --device cuda -p 512 -n 128 -r 2 -o json"
  ids=$(python3 -c "print(','.join(str((i*7919+13)%128000) for i in range(512)))")
  step run_$m 45 "$BIN/hayate run -m $f --device cuda --prompt-ids $ids -n 128 --ignore-eos --temp 0"
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
tests = read("tests")
# A skipped test did not run: on a GPU machine every CUDA test should have run.
print("tests: %d passed lines, %d skipped tests, %d failed tests" % (
    tests.count("[  PASSED  ]"), len(re.findall(r"^\[  SKIPPED \] \S+\.", tests, re.M)),
    len(re.findall(r"^\[  FAILED  \] \S+\.", tests, re.M))))
PY
echo
for k in "${!STATUS[@]}"; do echo "$k: ${STATUS[$k]}"; done | sort
echo "total $(( $(date +%s) - START ))s; logs in $OUT"
