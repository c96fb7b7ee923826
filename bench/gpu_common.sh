# Shared by the GPU scripts (bench/cuda_check.sh, gpu_side_by_side.sh, gpu_layers.sh, gpu_tp.sh, ...); sourced, not run.
# Expects OUT, START (date +%s) and BUDGET (seconds for the whole script) to be set; step logs go
# to LOGDIR (default OUT).
declare -A STATUS

# gpu_dirs: the defaults every GPU script starts from (output and log folders, models, programs).
gpu_dirs() {
  OUT=${OUT:-$PWD/gpu-out}
  LOGDIR=$OUT/logs
  mkdir -p "$LOGDIR"
  MODELS=${MODELS:-/tmp/hayate-models}
  PREBUILT=${PREBUILT:-cuda-prebuilt}
}

# gpu_start DEFAULT_BUDGET: the start of a script that runs carried programs (PREBUILT/bin, their
# libraries in PREBUILT/lib): sets START, BUDGET, BIN and the paths, notes the GPU and any library
# the programs miss.
gpu_start() {
  export PATH=/usr/local/cuda/bin:$PATH
  START=$(date +%s)
  BUDGET=${BUDGET:-$1}
  BIN=$PWD/$PREBUILT/bin
  export LD_LIBRARY_PATH=$PWD/$PREBUILT/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  mkdir -p "$MODELS"
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv >"$LOGDIR/gpu.log" 2>&1
  ldd "$BIN/hayate" | grep "not found" >"$LOGDIR/ldd.log"
  cat "$LOGDIR/ldd.log"
}

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
  timeout "$limit" bash -c "$*" >"${LOGDIR:-$OUT}/$name.log" 2>&1
  local rc=$?
  STATUS[$name]="rc=$rc $(( $(date +%s) - t0 ))s"
  echo "== $name: ${STATUS[$name]} (at $(( $(date +%s) - START ))s)"
  return $rc
}

# prebuild BUILD PREBUILT TARGETS...: on a machine with nvcc and the Debian packages (not the GPU
# one), copies the built programs, stripped, into PREBUILT/bin and the shared libraries they need
# beyond CUDA and libc into PREBUILT/lib, to be carried to a GPU machine whose image lacks them.
prebuild() {
  local build=$1 prebuilt=$2
  shift 2
  rm -rf "$prebuilt" && mkdir -p "$prebuilt/bin" "$prebuilt/lib"
  for t in "$@"; do cp "$build/bin/$t" "$prebuilt/bin/" && strip "$prebuilt/bin/$t"; done
  for t in "$@"; do ldd "$build/bin/$t"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E 'libc\.so|libm\.so|libdl\.so|libpthread|librt\.so|ld-linux|libcuda|libcublas|libstdc\+\+|libgcc_s' |
    xargs -r -I{} cp -L {} "$prebuilt/lib/"
  # OpenBLAS (35 MB, for FAISS's index builds here) does not fit a device call's transfer beside
  # the tree: the reference BLAS and LAPACK (7.5 MB) take its place there.
  local ref=/usr/lib/x86_64-linux-gnu
  if [ -f "$prebuilt/lib/libopenblas.so.0" ] && [ -f $ref/blas/libblas.so.3 ] && [ -f $ref/lapack/liblapack.so.3 ]; then
    cp -L $ref/blas/libblas.so.3 $ref/lapack/liblapack.so.3 "$prebuilt/lib/" && rm "$prebuilt/lib/libopenblas.so.0"
  fi
  du -sh "$prebuilt"
}

# prebuild_or_bin ARG: `SCRIPT --prebuild` (ARG) configures BUILD (default build-cuda), builds
# TARGETS, copies them with prebuild and exits; otherwise sets BIN (and the library path) to the
# carried PREBUILT programs when present, else to build/bin. For scripts that take either.
prebuild_or_bin() {
  if [ "${1:-}" = "--prebuild" ]; then
    BUILD=${BUILD:-build-cuda}
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache &&
      cmake --build "$BUILD" -j"${PREBUILD_JOBS:-2}" --target $TARGETS >"$OUT/prebuild.log" 2>&1 ||
      { tail -30 "$OUT/prebuild.log"; exit 1; }
    prebuild "$BUILD" "$PREBUILT" $TARGETS
    exit 0
  fi
  if [ -z "${BIN:-}" ]; then
    if [ -x "$PREBUILT/bin/hayate" ]; then
      BIN=$PWD/$PREBUILT/bin
      export LD_LIBRARY_PATH=$PWD/$PREBUILT/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
    else
      BIN=$PWD/build/bin
    fi
  fi
}

# make_models BIN MODELS TYPE LOG: in the background (setsid: its own process group, so running
# out of time stops the whole pipeline), the Llama-3-8B-shaped random models l8b-TYPE.gguf
# (f16 or bf16) and l8b-q4_k_m.gguf. `hayate synth` is single-threaded and took over 300 s for
# the 8 G random values of this shape on an H200 machine, so it makes 2 layers with the
# tokenizer's vocabulary and bench/cuda_expand.py widens that to 32 layers and 128256 rows (layers
# and rows repeat: the same bytes to move, the same FLOPs). For Q4_K_M only a "more bits" layer
# (0) and a plain one (5) of a 32-layer header are quantized, then placed by the rule of
# src/quant/mix.cpp (use_more_bits), so every tensor has the type a whole `hayate quantize` gives
# it. NO_FLOAT_MODEL=1 makes the Q4_K_M model only. Sets SYNTH_PID.
make_models() {
  local bin=$1 models=$2 type=$3 log=$4
  local shape="--arch llama --n-embd 4096 --n-head 32 --n-head-kv 8 --n-ff 14336 --n-ctx 8192 --rope-theta 500000"
  local qmap
  # A warm machine keeps /tmp between calls: models an earlier call made are reused.
  if [ -f "$models/l8b-q4_k_m.gguf" ] && { [ -n "${NO_FLOAT_MODEL:-}" ] || [ -f "$models/l8b-$type.gguf" ]; }; then
    echo "make_models: reusing $models/l8b-{$type,q4_k_m}.gguf" >"$log"
    SYNTH_PID=""
    return 0
  fi
  qmap=$(python3 -c "n=32; print(','.join('%d:%d' % (i, 0 if i < n//8 or i >= 7*n//8 or (i - n//8) % 3 == 2 else 5) for i in range(n)))")
  mkdir -p "$models"
  setsid bash -c "set -e -o pipefail; t0=\$(date +%s); cd $models
    timeout 120 $bin/hayate synth -o l8b-2l.gguf $shape --n-layer 2 --type $type
    echo \"synth: 2 layers in \$(( \$(date +%s) - t0 ))s\"
    if [ -z \"${NO_FLOAT_MODEL:-}\" ]; then
      python3 $PWD/bench/cuda_expand.py l8b-2l.gguf l8b-$type.gguf 32 128256 cycle
      echo \"synth: $type expanded at \$(( \$(date +%s) - t0 ))s\"
    fi
    python3 $PWD/bench/cuda_expand.py l8b-2l.gguf l8b-qsrc.gguf 32 0 0:0,5:1
    timeout 120 $bin/hayate quantize l8b-qsrc.gguf l8b-qsmall.gguf q4_k_m -t ${JOBS:-16} | tail -1
    python3 $PWD/bench/cuda_expand.py l8b-qsmall.gguf l8b-q4_k_m.gguf 32 128256 $qmap
    rm -f l8b-2l.gguf l8b-qsrc.gguf l8b-qsmall.gguf
    echo \"synth: q4_k_m at \$(( \$(date +%s) - t0 ))s\"" >"$log" 2>&1 &
  SYNTH_PID=$!
}

# wait_models LIMIT: waits for make_models while the budget allows LIMIT more seconds after it.
wait_models() {
  if [ -z "${SYNTH_PID:-}" ]; then STATUS[synth]="reused"; return 0; fi
  while kill -0 "$SYNTH_PID" 2>/dev/null && (( $(date +%s) - START < BUDGET - $1 )); do sleep 2; done
  if kill -0 "$SYNTH_PID" 2>/dev/null; then
    kill -- -"$SYNTH_PID" 2>/dev/null
    STATUS[synth]="stopped (out of time; see synth.log)"
  else
    wait "$SYNTH_PID"
    STATUS[synth]="rc=$? (see synth.log)"
  fi
}

# greedy_cmd BIN MODELS: the command of a step comparing the greedy text of the CUDA backend with
# the CPU ones (the reference fp32 oracle and the threaded one) on the embedded model and small
# synthetic models: same text, or where it parts.
greedy_cmd() {
  local bin=$1 models=$2
  echo "for ty in f32 f16 bf16 q8_0 q4_k_m; do \
    $bin/hayate synth -o $models/small-\$ty.gguf --arch llama --n-embd 512 --n-layer 4 --n-head 8 --n-head-kv 4 \
      --n-ff 1024 --type \$ty 2>/dev/null; done; \
  for m in '' \$(ls $models/small-*.gguf); do \
    a=\"-p 'Once upon a time' -n 48 --temp 0 --ignore-eos \${m:+-m \$m}\"; \
    ref=\$(eval $bin/hayate run \$a --device cpu --backend reference 2>/dev/null); \
    cpu=\$(eval $bin/hayate run \$a --device cpu 2>/dev/null); \
    gpu=\$(eval $bin/hayate run \$a --device cuda --no-cuda-graphs 2>/dev/null); \
    gra=\$(eval $bin/hayate run \$a --device cuda --cuda-graphs 2>/dev/null); \
    echo \"greedy \${m:-embedded}: cuda==reference \$([ \"\$gpu\" = \"\$ref\" ] && echo yes || echo NO)\" \
      \"cuda==cpu \$([ \"\$gpu\" = \"\$cpu\" ] && echo yes || echo NO)\" \
      \"graphs==eager \$([ \"\$gra\" = \"\$gpu\" ] && echo yes || echo NO) (\${#gpu} bytes)\"; \
    [ \"\$gpu\" = \"\$ref\" ] || printf 'reference: %q\\ncuda:      %q\\n' \"\$ref\" \"\$gpu\"; \
  done"
}

# greedy_long_cmd BIN MODELS [BEFORE_ENV]: the command of a step comparing, on a ~30-token prompt
# (the tiled prompt attention's path), the greedy text of the CUDA backend with the CPU reference
# and with the split attention kernel (HAYATE_CUDA_DISABLE=prefill); with BEFORE_ENV (variables
# that switch a stage's changes off) also with those programs as they were before it.
greedy_long_cmd() {
  local bin=$1 models=$2 before=${3:-}
  local prompt="The quick brown fox jumps over the lazy dog while the old cat sleeps on a warm mat near the stone fireplace of a quiet house in the hills"
  echo "for m in '' \$(ls $models/small-*.gguf); do \
    a=\"-p '$prompt' -n 24 --temp 0 --ignore-eos \${m:+-m \$m}\"; \
    ref=\$(eval $bin/hayate run \$a --device cpu --backend reference 2>/dev/null); \
    on=\$(eval $bin/hayate run \$a --device cuda 2>/dev/null); \
    off=\$(eval HAYATE_CUDA_DISABLE=prefill $bin/hayate run \$a --device cuda 2>/dev/null); \
    old=\$on; [ -n '$before' ] && old=\$(eval $before $bin/hayate run \$a --device cuda 2>/dev/null); \
    echo \"greedy-long \${m:-embedded}: prefill==reference \$([ \"\$on\" = \"\$ref\" ] && echo yes || echo NO)\" \
      \"prefill==split \$([ \"\$on\" = \"\$off\" ] && echo yes || echo NO)\" \
      \"now==before \$([ \"\$on\" = \"\$old\" ] && echo yes || echo NO) (\${#on} bytes)\"; done"
}

# bench_lines: the pp512 / tg128 figures of every $LOGDIR/bench_*.log, a line each named by its step.
bench_lines() {
  local f
  for f in "$LOGDIR"/bench_*.log; do
    [ -f "$f" ] && grep -hoE "(pp512|tg128): [0-9.]+" "$f" | sed "s|^|$(basename "$f" .log) |"
  done
}

# finish_logs: every step's status, the total time, then $LOGDIR packed into $OUT/logs.tgz.
finish_logs() {
  local k
  for k in "${!STATUS[@]}"; do echo "$k: ${STATUS[$k]}"; done | sort
  echo "total $(( $(date +%s) - START ))s"
  tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$LOGDIR"
}

# serve_one MODEL ENV SERVER_LOG LEVELS: serves MODEL on CUDA ($BIN/hayate, ENV its environment),
# runs bench/serve_concurrency.py at the concurrency LEVELS (streaming), stops it. Callers that run
# it through `step` (a new bash) export -f it and export BIN.
serve_one() {
  local port=$(( 18000 + RANDOM % 2000 ))
  env $2 "$BIN/hayate" serve -m "$1" --device cuda --max-running 64 --port "$port" >"$3" 2>&1 &
  local pid=$!
  # Ready when /health answers 200 (it listens while the model still loads).
  for _ in $(seq 1 240); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "the server ended; see $3"; return 1; }
    sleep 0.5
  done
  PYTHONUNBUFFERED=1 python3 bench/serve_concurrency.py "http://127.0.0.1:$port" --levels "$4" --stream
  local rc=$?
  kill -TERM "$pid"
  wait "$pid"
  return $rc
}
