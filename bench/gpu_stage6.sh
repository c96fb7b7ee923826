#!/usr/bin/env bash
# Issue 12, stage 6: one GPU call that checks stage 5 (the tiled prompt attention, a0cfbf2's
# Q4_K-only loads ahead) as bench/gpu_prefill.sh does, and this stage's decode changes against
# their own switches in the same programs: split-K mat-vec (HAYATE_CUDA_MATVEC_PARTS=1 is the
# kernel before it) and 16-position decode attention chunks without the combine for one chunk
# (HAYATE_CUDA_DISABLE=short_chunks: 64 as before), and HAYATE_CUDA_MATVEC_OCC=4 (one-token Q4_K
# kernels at 4 blocks an SM). Run from a tree holding bench/:
#   PREBUILT=.gpu-carry/pbg6 OUT=$OUT BUDGET=330 bash bench/gpu_stage6.sh
# STEPS (comma list; default all): tests,greedy,long,matvec,bench,prof.
set -u
source "$(dirname "$0")/gpu_common.sh"
gpu_dirs
gpu_start 330
STEPS=${STEPS:-tests,greedy,long,matvec,bench,prof}
has() { [[ ",$STEPS," == *",$1,"* ]]; }
has bench && make_models "$BIN" "$MODELS" f16 "$LOGDIR/synth.log"
has tests && step tests 100 "rc=0; for t in backend_cuda_kernels_test backend_cuda_forward_test backend_cuda_graphs_test; do \
  [ -x $BIN/\$t ] && { $BIN/\$t --gtest_brief=1 || rc=1; }; done; exit \$rc"
has greedy && step greedy 60 "$(greedy_cmd "$BIN" "$MODELS")"
has long && step greedy_long 50 "$(greedy_long_cmd "$BIN" "$MODELS" "HAYATE_CUDA_DISABLE=short_chunks HAYATE_CUDA_MATVEC_PARTS=1")"
# The matrices of one token: split-K (default) and one warp a row, weight GB/s.
has matvec && step matvec 45 "$BIN/cuda_matvec_bench fast | grep -E '\\| 1 \\|'; $BIN/cuda_matvec_bench old | grep -E 'F16.*\\| 1 \\|'; \
  echo '-- HAYATE_CUDA_MATVEC_PARTS=1'; HAYATE_CUDA_MATVEC_PARTS=1 $BIN/cuda_matvec_bench fast | grep -E '\\| 1 \\|'; \
  HAYATE_CUDA_MATVEC_PARTS=1 $BIN/cuda_matvec_bench old | grep -E 'F16.*\\| 1 \\|'; \
  echo '-- HAYATE_CUDA_MATVEC_OCC=4'; HAYATE_CUDA_MATVEC_OCC=4 $BIN/cuda_matvec_bench fast | grep -E 'Q4_K.*\\| 1 \\|'"
if has bench; then
  wait_models 110
  for m in q4_k_m f16; do
    f=$MODELS/l8b-$m.gguf
    [ -f "$f" ] || continue
    step "bench_${m}" 60 "$BIN/hayate bench model -m $f --device cuda -p 512 -n 128 -r 2"
    step "bench_${m}_before" 40 "HAYATE_CUDA_DISABLE=short_chunks HAYATE_CUDA_MATVEC_PARTS=1 $BIN/hayate bench model -m $f --device cuda -p 0 -n 128 -r 2"
    step "bench_${m}_parts1" 40 "HAYATE_CUDA_MATVEC_PARTS=1 $BIN/hayate bench model -m $f --device cuda -p 0 -n 128 -r 2"
    [ $m = q4_k_m ] && step "bench_${m}_occ4" 40 "HAYATE_CUDA_MATVEC_OCC=4 $BIN/hayate bench model -m $f --device cuda -p 0 -n 128 -r 2"
    step "bench_${m}_split" 40 "HAYATE_CUDA_DISABLE=prefill $BIN/hayate bench model -m $f --device cuda -p 512 -n 0 -r 2"
  done
fi
has prof && step prof_tg 30 "HAYATE_PROFILE=1 $BIN/hayate bench model -m $MODELS/l8b-q4_k_m.gguf --device cuda -p 0 -n 64 -r 1 --no-cuda-graphs"
has prof && step prof_pp 30 "HAYATE_PROFILE=1 $BIN/hayate bench model -m $MODELS/l8b-q4_k_m.gguf --device cuda -p 512 -n 0 -r 1"
has prof && step prof_pp_f16 30 "HAYATE_PROFILE=1 $BIN/hayate bench model -m $MODELS/l8b-f16.gguf --device cuda -p 512 -n 0 -r 1"

cat "$LOGDIR/gpu.log"
[ -f "$LOGDIR/tests.log" ] && grep -hE "^\[  (PASSED|FAILED|SKIPPED) " "$LOGDIR/tests.log"
[ -f "$LOGDIR/tests.log" ] && grep -h "FAILED  \]" "$LOGDIR/tests.log" | head -8
bench_lines
grep -h '^greedy' "$LOGDIR/greedy.log" "$LOGDIR/greedy_long.log" 2>/dev/null
[ -f "$LOGDIR/matvec.log" ] && cut -c1-90 "$LOGDIR/matvec.log"
for p in prof_tg prof_pp prof_pp_f16; do [ -f "$LOGDIR/$p.log" ] && grep -E "gpu |engine step" "$LOGDIR/$p.log" | head -14; done
finish_logs
