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
# and disk: about 16 GB for BF16 and 5 GB for Q4_K_M). `hayate synth` is single-threaded and
# took over 300 s for the 8 G random values of this shape on the H200 machine, so it makes 2
# layers with the tokenizer's vocabulary and bench/cuda_expand.py widens that to 32 layers and
# 128256 rows (layers and rows repeat: the same bytes to move, the same FLOPs).
mkdir -p "$MODELS"
SHAPE="--arch llama --n-embd 4096 --n-head 32 --n-head-kv 8 --n-ff 14336 --n-ctx 8192 --rope-theta 500000"
# setsid: its own process group, so that running out of time stops the whole pipeline.
# SYNTH=0 skips it (a dry run of the script on a machine without a GPU).
if [ "${SYNTH:-1}" = 1 ]; then
  # Q4_K_M: quantize only a "more bits" layer (0) and a plain one (5) of a 32-layer header with
  # the small vocabulary, then place them by the rule of src/quant/mix.cpp (use_more_bits), so
  # the tensor types are those `hayate quantize` gives the whole model.
  QMAP=$(python3 -c "n=32; print(','.join('%d:%d' % (i, 0 if i < n//8 or i >= 7*n//8 or (i - n//8) % 3 == 2 else 5) for i in range(n)))")
  setsid bash -c "set -e -o pipefail; t0=\$(date +%s); cd $MODELS
    timeout 120 $PWD/$BIN/hayate synth -o l8b-2l.gguf $SHAPE --n-layer 2 --type bf16
    echo \"synth: 2 layers in \$(( \$(date +%s) - t0 ))s\"
    python3 $PWD/bench/cuda_expand.py l8b-2l.gguf l8b-bf16.gguf 32 128256 cycle
    echo \"synth: bf16 expanded at \$(( \$(date +%s) - t0 ))s\"
    python3 $PWD/bench/cuda_expand.py l8b-2l.gguf l8b-qsrc.gguf 32 0 0:0,5:1
    timeout 120 $PWD/$BIN/hayate quantize l8b-qsrc.gguf l8b-qsmall.gguf q4_k_m -t $JOBS | tail -1
    python3 $PWD/bench/cuda_expand.py l8b-qsmall.gguf l8b-q4_k_m.gguf 32 128256 $QMAP
    rm -f l8b-2l.gguf l8b-qsrc.gguf l8b-qsmall.gguf
    echo \"synth: q4_k_m at \$(( \$(date +%s) - t0 ))s\"" \
    >"$OUT/synth.log" 2>&1 &
else
  setsid true &
fi
SYNTH_PID=$!

step tests 120 "rc=0; for t in backend_cuda_dequant_test backend_cuda_kernels_test backend_cuda_forward_test; do \
  $BIN/\$t || rc=1; done; exit \$rc"
# Greedy text of the CUDA backend against the CPU ones (the reference fp32 oracle and the
# threaded one) on the embedded model and small synthetic models: same text, or where it parts.
step greedy 60 "for ty in f32 f16 bf16 q8_0 q4_k_m; do \
    $BIN/hayate synth -o $MODELS/small-\$ty.gguf --arch llama --n-embd 512 --n-layer 4 --n-head 8 --n-head-kv 4 \
      --n-ff 1024 --type \$ty 2>/dev/null; done; \
  for m in '' \$(ls $MODELS/small-*.gguf); do \
    a=\"-p 'Once upon a time' -n 48 --temp 0 --ignore-eos \${m:+-m \$m}\"; \
    ref=\$(eval $BIN/hayate run \$a --device cpu --backend reference 2>/dev/null); \
    cpu=\$(eval $BIN/hayate run \$a --device cpu 2>/dev/null); \
    gpu=\$(eval $BIN/hayate run \$a --device cuda 2>/dev/null); \
    gra=\$(eval $BIN/hayate run \$a --device cuda --cuda-graphs 2>/dev/null); \
    echo \"greedy \${m:-embedded}: cuda==reference \$([ \"\$gpu\" = \"\$ref\" ] && echo yes || echo NO)\" \
      \"cuda==cpu \$([ \"\$gpu\" = \"\$cpu\" ] && echo yes || echo NO)\" \
      \"graphs==eager \$([ \"\$gra\" = \"\$gpu\" ] && echo yes || echo NO) (\${#gpu} bytes)\"; \
    [ \"\$gpu\" = \"\$ref\" ] || printf 'reference: %q\\ncuda:      %q\\n' \"\$ref\" \"\$gpu\"; \
  done"
step memcheck 60 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/hayate run --device cuda -p 'Hello' -n 8 --temp 0"
step memcheck_graphs 40 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/hayate run --device cuda --cuda-graphs -p 'Hello' -n 4 --temp 0"
step memcheck_kernels 90 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/backend_cuda_kernels_test"
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
