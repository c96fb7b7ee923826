#!/usr/bin/env bash
# Issue 12's table for hayate in one GPU call (H100, <= 10 minutes): the CUDA tests,
# compute-sanitizer on the new kernels, greedy text against the CPU reference, the two ceilings,
# then Llama-3-8B-shaped random models (F16 and Q4_K_M, made as in bench/gpu_common.sh) timed with
# `hayate bench model --device cuda -p 512 -n 128` and served by `hayate serve --device cuda
# --max-running 64` to bench/serve_concurrency.py (streaming, 64 tokens each) at LEVELS, with
# HAYATE_PROFILE=1 (one table of where the time went per burst of requests, in the server's log).
# The table printed last has the reference engine's figures from the issue (an H100 of an earlier
# session; its CUDA build takes ~11 minutes of the machine, so it is not rebuilt here) and each
# decode figure's ratio to the roofline (weights read once per step at the measured copy rate).
#
#   bash bench/gpu_side_by_side.sh --prebuild   # here: build, copy the programs to cuda-prebuilt/
#   OUT=$OUT bash bench/gpu_side_by_side.sh     # there, carrying cuda-prebuilt/
#
# Variants (environment of the timed programs): new (as built), newp (new with HAYATE_PROFILE=1),
# base (HAYATE_CUDA_DISABLE of everything issue 12 added: logits to the host, cuBLAS for batches,
# the generic Q4_K mat-vec; profiled), b512 (the batched kernel up to 512 tokens, for pp512), bm64
# (its 64-row tiles), oldmv (the coalesced Q4_K/Q6_K/Q8_0 mat-vec off: stage 1's kernels), fast
# and fastp (it on: HAYATE_CUDA_MATVEC_FAST=1; fastp profiled), nomma (the tensor-core matmul of
# matmul_mma.cu off: the older batched kernel), mma1 / mma1p (it with one block a SM; profiled),
# m512 / m512b1 (it up to 512 tokens, so prompts take it instead of cuBLAS), f16 / exact (its
# decoding in f16 or in f32), skip
# (none of that model). BENCH_Q4, SERVE_Q4, BENCH_F16, SERVE_F16 list the variants of each model
# and test (default: new; bench model runs are never profiled). STEPS picks the parts (default all:
# tests,greedy,bench,serve,sanitize; also matvec: the per-kernel mat-vec figures of
# cuda_matvec_bench, mma: its batched-kernel figures only, and compress: issue 17's CUDA checks;
# RACECHECK=0 leaves racecheck out of sanitize). Logs are packed into $OUT/logs.tgz (the device tool brings
# back few files).
set -u
OUT=${OUT:-$PWD/gpu-out}
LOGDIR=$OUT/logs
mkdir -p "$LOGDIR"
MODELS=${MODELS:-/tmp/hayate-models}
JOBS=${JOBS:-16}
PREBUILT=${PREBUILT:-cuda-prebuilt}
STEPS=${STEPS:-tests,greedy,bench,serve,sanitize}
BENCH_Q4=${BENCH_Q4:-new} SERVE_Q4=${SERVE_Q4:-new} BENCH_F16=${BENCH_F16:-new} SERVE_F16=${SERVE_F16:-new}
LEVELS=${LEVELS:-1,1,5,10,20,64,64}
export PATH=/usr/local/cuda/bin:$PATH
START=$(date +%s)
BUDGET=${BUDGET:-570}
source bench/gpu_common.sh
TARGETS="hayate backend_cuda_kernels_test backend_cuda_forward_test backend_cuda_dequant_test backend_cuda_sampling_test
  cuda_roofline cuda_matvec_bench compress_cli_test"

if [ "${1:-}" = "--prebuild" ]; then
  BUILD=${BUILD:-build}
  cmake --build "$BUILD" -j"${PREBUILD_JOBS:-2}" --target $TARGETS >"$OUT/prebuild.log" 2>&1 ||
    { tail -30 "$OUT/prebuild.log"; exit 1; }
  prebuild "$BUILD" "$PREBUILT" $TARGETS
  exit 0
fi
[ -x "$PREBUILT/bin/hayate" ] || { echo "no $PREBUILT/bin/hayate: run with --prebuild first"; exit 1; }
BIN=$PWD/$PREBUILT/bin
export LD_LIBRARY_PATH=$PWD/$PREBUILT/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
has() { [[ ",$STEPS," == *",$1,"* ]]; }
env_of() {  # the variant's environment
  case $1 in
    base) echo "HAYATE_CUDA_DISABLE=top_logits,batched,matvec_q4k HAYATE_PROFILE=1" ;;
    b512) echo "HAYATE_CUDA_BATCHED_MAX_TOKENS=512" ;;
    bm64) echo "HAYATE_CUDA_BATCHED_BM=64" ;;
    newp) echo "HAYATE_PROFILE=1" ;;
    oldmv) echo "HAYATE_CUDA_DISABLE=matvec_fast" ;;
    fast) echo "HAYATE_CUDA_MATVEC_FAST=1" ;;
    fastp) echo "HAYATE_CUDA_MATVEC_FAST=1 HAYATE_PROFILE=1" ;;
    nomma) echo "HAYATE_CUDA_DISABLE=mma" ;;
    mma1) echo "HAYATE_CUDA_MMA_BLOCKS=1" ;;
    mma1p) echo "HAYATE_CUDA_MMA_BLOCKS=1 HAYATE_PROFILE=1" ;;
    m512) echo "HAYATE_CUDA_MMA_MAX_TOKENS=512" ;;
    f16) echo "HAYATE_CUDA_MMA_EXACT=0" ;;
    exact) echo "HAYATE_CUDA_MMA_EXACT=1" ;;
    m512b1) echo "HAYATE_CUDA_MMA_MAX_TOKENS=512 HAYATE_CUDA_MMA_BLOCKS=1" ;;
    graphs) echo "HAYATE_CUDA_GRAPHS=1" ;;
    gfused) echo "HAYATE_CUDA_GRAPHS=1 HAYATE_CUDA_SWIGLU_FUSED=1 HAYATE_CUDA_MMA_EXACT=0" ;;
    *) echo "HAYATE_CUDA_DISABLE=" ;;
  esac
}
# Profiled runs (events around every operation cost time) serve fewer levels.
levels_of() { case $1 in base | newp | fastp | mma1p) echo "1,8,64" ;; graphs | gfused | f16) echo "${LEVELS_VARIANT:-$LEVELS}" ;; *) echo "$LEVELS" ;; esac; }
mkdir -p "$MODELS"

{ nvidia-smi; nvcc --version; df -h /tmp .; nproc; free -g; } >"$LOGDIR/machine.log" 2>&1
if has bench || has serve; then make_models "$BIN" "$MODELS" f16 "$LOGDIR/synth.log"; fi

has tests && step tests 150 "rc=0; for t in backend_cuda_dequant_test backend_cuda_kernels_test \
  backend_cuda_sampling_test backend_cuda_forward_test; do $BIN/\$t || rc=1; done; \
  HAYATE_CUDA_MATVEC_FAST=1 $BIN/backend_cuda_forward_test || rc=1; exit \$rc"
has greedy && step greedy 60 "$(greedy_cmd "$BIN" "$MODELS")"
has greedy && step greedy_fast 60 "export HAYATE_CUDA_MATVEC_FAST=1; $(greedy_cmd "$BIN" "$MODELS")"
step roofline 40 "$BIN/cuda_roofline"
# Per-kernel mat-vec GB/s: rows per warp chosen (auto, with the older kernels), then forced to 1,
# 2 and 4; then the batched kernel with and without its L2 prefetch.
has matvec && step matvec 90 "$BIN/cuda_matvec_bench && HAYATE_CUDA_MATVEC_ROWS=1 $BIN/cuda_matvec_bench fast && \
  HAYATE_CUDA_MATVEC_ROWS=2 $BIN/cuda_matvec_bench fast && HAYATE_CUDA_MATVEC_ROWS=4 $BIN/cuda_matvec_bench fast; \
  $BIN/cuda_matvec_bench batched"
# The batched kernels alone: the older one and the tensor-core one at 16..512 tokens.
has mma && step mma 120 "$BIN/cuda_matvec_bench batched"
# Issue 17 on the GPU: compress_cli_test runs the hayate it was built beside (a path of the build
# machine, linked here) with every command on CUDA; then the compression benchmark on CUDA.
has compress && step compress 120 "b=\$(strings $BIN/compress_cli_test | grep -m1 '/build/bin/hayate\$'); \
  [ -e \$b ] || { mkdir -p \$(dirname \$b) && ln -s $BIN/hayate \$b; }; nvidia-smi --query-gpu=name --format=csv,noheader; \
  HAYATE_COMPRESS_DEVICE=cuda $BIN/compress_cli_test; \
  PYTHONUNBUFFERED=1 python3 bench/compress_bench.py --bin $BIN/hayate --device cuda --skip-1mb"

export -f serve_one
export BIN LEVELS

if has bench || has serve; then
  wait_models 200
  for m in q4_k_m f16; do
    f=$MODELS/l8b-$m.gguf
    [ -f "$f" ] || continue
    [ $m = f16 ] && { bench=$BENCH_F16; serve=$SERVE_F16; } || { bench=$BENCH_Q4; serve=$SERVE_Q4; }
    if has bench; then
      for v in $bench; do
        [ "$v" = skip ] && continue
        step bench_${m}_$v 80 "env $(env_of $v | sed 's/HAYATE_PROFILE=1//') $BIN/hayate bench model -m $f --device cuda \
          -p 512 -n 128 -r 2 -o json"
      done
    fi
    if has serve; then
      for v in $serve; do
        [ "$v" = skip ] && continue
        step serve_${m}_$v 170 "serve_one $f '$(env_of $v)' $LOGDIR/server_${m}_$v.log $(levels_of $v)"
      done
    fi
  done
fi

if has sanitize; then
  san="compute-sanitizer --error-exitcode 3"
  step memcheck_new 75 "export HAYATE_CUDA_MATVEC_FAST=1; $san --tool memcheck $BIN/backend_cuda_kernels_test \
      --gtest_filter='*q4_K_3*:*q4_K_64*:*q6_K_9*:*q8_0_77*:*q3_K_9*:*Batched*:*RowsPerWarp*:*q4_K_?:*q6_K_?:*q8_0_?:*Attention*:*TensorCore*' && \
    $san --tool memcheck $BIN/backend_cuda_sampling_test --gtest_filter='*MatchTheHostOrder' && \
    $san --tool memcheck $BIN/hayate run --device cuda -p Hello -n 8 --temp 0"
  [ "${RACECHECK:-1}" = 0 ] || step racecheck_new 90 "export HAYATE_CUDA_MATVEC_FAST=1; $san --tool racecheck $BIN/backend_cuda_sampling_test --gtest_filter='*MatchTheHostOrder' && \
    $san --tool racecheck $BIN/backend_cuda_kernels_test --gtest_filter='*q8_0_9*:*q4_K_64:*RowsPerWarp*:*Attention*:*RmsNorm*:*TensorCore*'"
fi
[ -f "$LOGDIR/mma.log" ] && grep -E '\| (16|64|512) \|' "$LOGDIR/mma.log"
[ -f "$LOGDIR/matvec.log" ] && grep -E '^kernel|\| (1|8|64) \|' "$LOGDIR/matvec.log"
[ -f "$LOGDIR/greedy_fast.log" ] && grep '^greedy' "$LOGDIR/greedy_fast.log" | sed 's/^/HAYATE_CUDA_MATVEC_FAST=1 /'
[ -f "$LOGDIR/compress.log" ] && grep -E 'PASSED|FAILED|^\| hayate' "$LOGDIR/compress.log" | head -8
python3 bench/gpu_table.py "$LOGDIR"
echo
finish_logs
