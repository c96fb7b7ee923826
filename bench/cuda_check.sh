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
BUDGET=${BUDGET:-530}  # seconds for the whole script (the device tool allows 600 per call)
source bench/gpu_common.sh

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
  prebuild "$BUILD" "$PREBUILT" $TARGETS
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
# and disk: about 16 GB for BF16 and 5 GB for Q4_K_M). SYNTH=0 skips it (a dry run of the
# script on a machine without a GPU).
if [ "${SYNTH:-1}" = 1 ]; then
  make_models "$PWD/$BIN" "$MODELS" bf16 "$OUT/synth.log"
else
  setsid true &
  SYNTH_PID=$!
fi

step tests 120 "rc=0; for t in backend_cuda_dequant_test backend_cuda_kernels_test backend_cuda_forward_test; do \
  $BIN/\$t || rc=1; done; exit \$rc"
step greedy 60 "$(greedy_cmd "$BIN" "$MODELS")"
step memcheck 60 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/hayate run --device cuda -p 'Hello' -n 8 --temp 0"
step memcheck_graphs 40 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/hayate run --device cuda --cuda-graphs -p 'Hello' -n 4 --temp 0"
step memcheck_kernels 90 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/backend_cuda_kernels_test"
step roofline 40 "$BIN/cuda_roofline"

# Wait for the synthesis only as long as the budget allows, then use whatever files exist.
wait_models 120
for m in bf16 q4_k_m; do
  f=$MODELS/l8b-$m.gguf
  [ -f "$f" ] || continue
  # A half-written file (synthesis stopped) fails to load, which the step's log then says.
  step bench_$m 75 "$BIN/hayate bench model -m $f --device cuda -p 512 -n 128 -r 2 -o json"
  # Decode is many small launches: the same test with each step captured and replayed as a graph.
  step bench_${m}_graphs 50 "$BIN/hayate bench model -m $f --device cuda --cuda-graphs -p 0 -n 128 -r 2 -o json"
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
for mt in ("bf16", "bf16_graphs", "q4_k_m", "q4_k_m_graphs"):
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
    if mt.endswith("_graphs"):
        continue
    run = re.search(r"prompt (\d+) tokens in .*?\(([\d.]+) tok/s\); generated (\d+) tokens in .*?\(([\d.]+) tok/s\)",
                    read("run_" + mt))
    if run:
        print(f"| {mt} | run: decode {run.group(3)} after a {run.group(1)} prompt | {run.group(4)} | | | |")
print("\nroofline:", roof or "(no result)")
tests = read("tests")
# One line per finished test ("[  STATUS  ] Suite.Name (N ms)"); the summary repeats names without
# a time. A skipped test did not run: on a GPU machine only the no-device test should skip.
def finished(status):
    return sorted(set(re.findall(r"^\[ *%s *\] (\S+) \(\d+ ms\)" % status, tests, re.M)))
ok, skipped, failed = finished("OK"), finished("SKIPPED"), finished("FAILED")
print("tests: %d passed, %d skipped %s, %d failed %s" % (len(ok), len(skipped), skipped[:5], len(failed), failed))
for line in read("greedy").splitlines():
    if line.startswith("greedy"):
        print(line)
PY
echo
for k in "${!STATUS[@]}"; do echo "$k: ${STATUS[$k]}"; done | sort
echo "total $(( $(date +%s) - START ))s; logs in $OUT"
