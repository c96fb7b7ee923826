#!/usr/bin/env bash
# Issue 12, stage 4: one GPU call that checks and times the single-sequence decode step and
# prompts on the Llama-3-8B shape (Q4_K_M and F16, random weights, made as in gpu_common.sh):
# the CUDA tests, per-kernel mat-vec GB/s (cuda_matvec_bench, F16 rows included), tg128 / pp512
# (`hayate bench model --device cuda`) for the default (CUDA graphs), eager launches and each
# variant, a HAYATE_PROFILE=1 table of an eager decode run, memcheck of the kernels this stage changed, and the greedy text against the CPU
# reference. Run from a tree holding bench/ (the prebuilt programs in PREBUILT):
#   PREBUILT=.gpu-carry/pbg OUT=$OUT bash bench/gpu_decode.sh
# STEPS (default tests,matvec,bench,profile,memcheck,greedy,embed); VARIANTS: NAME=ENV;NAME=ENV (ENV
# space-separated) timed besides the default; TYPES (default "q4_k_m f16").
set -u
source "$(dirname "$0")/gpu_common.sh"
gpu_dirs
STEPS=${STEPS:-tests,matvec,bench,profile,memcheck,greedy,embed}
TYPES=${TYPES:-q4_k_m f16}
export PATH=/usr/local/cuda/bin:$PATH
START=$(date +%s)
BUDGET=${BUDGET:-300}
HERE=$(dirname "$0")
BIN=$PWD/$PREBUILT/bin
export LD_LIBRARY_PATH=$PWD/$PREBUILT/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
has() { [[ ",$STEPS," == *",$1,"* ]]; }
mkdir -p "$MODELS"  # the greedy step writes its small models there
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv >"$LOGDIR/gpu.log" 2>&1
[[ " $TYPES " == *" f16 "* ]] || export NO_FLOAT_MODEL=1
if has bench || has profile; then
  [ -f "$MODELS/l8b-q4_k_m.gguf" ] || make_models "$BIN" "$MODELS" f16 "$LOGDIR/synth.log"
fi
# The tests and the per-kernel figures run while the models are made (the synth is one thread).
has tests && step tests 150 "rc=0; for t in backend_cuda_dequant_test backend_cuda_kernels_test backend_cuda_sampling_test \
  backend_cuda_forward_test backend_cuda_graphs_test forward_cuda_split_test; do $BIN/\$t --gtest_brief=1 || rc=1; done; exit \$rc"
# Every CUDA test program but the graphs one (which pairs an eager and a graph backend) again
# with graphs forced on.
has tests && step tests_graphs 120 "rc=0; for t in backend_cuda_kernels_test backend_cuda_sampling_test \
  backend_cuda_forward_test forward_cuda_split_test; do HAYATE_CUDA_GRAPHS=1 $BIN/\$t --gtest_brief=1 || rc=1; done; exit \$rc"
has matvec && step matvec 80 "$BIN/cuda_matvec_bench fast && HAYATE_CUDA_MATVEC_ROWS=1 $BIN/cuda_matvec_bench fast && \
  HAYATE_CUDA_MATVEC_ROWS=2 $BIN/cuda_matvec_bench fast && $BIN/cuda_matvec_bench old"
step roofline 30 "$BIN/cuda_roofline"
[ -n "${SYNTH_PID:-}" ] && wait_models 90
IFS=';' read -ra vs <<<"${VARIANTS:-}"
if has bench; then
  for m in $TYPES; do
    f=$MODELS/l8b-$m.gguf
    [ -f "$f" ] || continue
    step "bench_${m}_new" 60 "$BIN/hayate bench model -m $f --device cuda -p 512 -n 128 -r 2"
    step "bench_${m}_eager" 60 "$BIN/hayate bench model -m $f --device cuda -p 0 -n 128 -r 2 --no-cuda-graphs"
    for v in "${vs[@]}"; do
      step "bench_${m}_${v%%=*}" 60 "env ${v#*=} $BIN/hayate bench model -m $f --device cuda -p 0 -n 128 -r 2"
    done
  done
fi
has profile && step profile 40 "HAYATE_PROFILE=1 $BIN/hayate bench model -m $MODELS/l8b-q4_k_m.gguf --device cuda -p 0 -n 128 -r 1 \
  --no-cuda-graphs"
has memcheck && step memcheck 90 "compute-sanitizer --error-exitcode 3 --tool memcheck $BIN/backend_cuda_kernels_test \
  --gtest_brief=1 --gtest_filter='*q4_K_?:*q6_K_?:*q8_0_?:*f16_?:*bf16_?:*RowsPerWarp*:*RmsNorm*:*FusedGateUp*:*Fast*' && \
  compute-sanitizer --error-exitcode 3 --tool memcheck $BIN/backend_cuda_graphs_test --gtest_brief=1 \
  --gtest_filter=-*Uncapturable*"  # that test provokes capture errors (API errors to memcheck) on purpose
has greedy && step greedy 70 "$(greedy_cmd "$BIN" "$MODELS")"
# /v1/embeddings of a server with graphs (the default) and one without: the same vectors.
has embed && step embed 60 "python3 $HERE/gpu_embed_check.py $BIN/hayate $MODELS/small-f16.gguf $LOGDIR"

cat "$LOGDIR/gpu.log"
for s in tests tests_graphs memcheck; do
  [ -f "$LOGDIR/$s.log" ] && grep -hE "^\[  (PASSED|FAILED|SKIPPED) |ERROR SUMMARY" "$LOGDIR/$s.log" | sed "s/^/$s: /"
done
grep -h "FAILED  \]" "$LOGDIR/tests.log" "$LOGDIR/tests_graphs.log" 2>/dev/null | head -10
grep -h "copy" "$LOGDIR/roofline.log" 2>/dev/null | head -2
[ -f "$LOGDIR/matvec.log" ] && grep -E "\| 1 \|" "$LOGDIR/matvec.log"
bench_lines
[ -f "$LOGDIR/profile.log" ] && grep -E "gpu |waits" "$LOGDIR/profile.log" | head -16
[ -f "$LOGDIR/greedy.log" ] && grep '^greedy' "$LOGDIR/greedy.log"
[ -f "$LOGDIR/embed.log" ] && grep '^embeddings' "$LOGDIR/embed.log"
finish_logs
