#!/usr/bin/env bash
# Issue 12, stage 7: one GPU call that checks the fused decode launches (Q/K/V and gate/up in one
# mat-vec launch, the residual add with the next RMSNorm, RoPE with the KV-cache write, the
# decode attention's combine done by its chunk kernel) and measures each against its switch in the
# same programs: HAYATE_CUDA_DISABLE=fuse_qkv, fuse_norm, fuse_rope, fuse_combine, and all four
# (the launches of before this stage). Run from a tree holding bench/:
#   PREBUILT=.gpu-carry/pbg7 OUT=$OUT BUDGET=300 bash bench/gpu_stage7.sh
# STEPS (comma list; default all): tests,memcheck,greedy,long,bench,prof. The models are made by
# gpu_common.sh's make_models while the tests run (not counted in the 300 s).
set -u
source "$(dirname "$0")/gpu_common.sh"
gpu_dirs
gpu_start 300
STEPS=${STEPS:-tests,memcheck,greedy,long,bench,prof}
has() { [[ ",$STEPS," == *",$1,"* ]]; }
OFF="fuse_qkv,fuse_norm,fuse_rope,fuse_combine"
has bench && make_models "$BIN" "$MODELS" f16 "$LOGDIR/synth.log"
# The fused test first (each fused launch against the separate ones, memcmp; whole-model logits
# with fusion on and off, eager and under graphs), then the suites that must still pass with the
# fusion on by default; the graphs test also with the fusion off.
has tests && step tests 110 "rc=0; for t in backend_cuda_fused_test backend_cuda_kernels_test backend_cuda_forward_test \
  backend_cuda_graphs_test; do [ -x $BIN/\$t ] && { $BIN/\$t --gtest_brief=1 || rc=1; }; done; \
  echo '-- backend_cuda_graphs_test with HAYATE_CUDA_DISABLE=$OFF'; \
  HAYATE_CUDA_DISABLE=$OFF $BIN/backend_cuda_graphs_test --gtest_brief=1 || rc=1; exit \$rc"
# The new kernels under compute-sanitizer: the small mat-vec parts (every fused format), the
# fused add+RMSNorm, RoPE+KV write and attention combine (memcheck, then racecheck of the last).
has memcheck && step memcheck 60 "compute-sanitizer --error-exitcode 3 --tool memcheck $BIN/backend_cuda_fused_test \
  --gtest_brief=1 --gtest_filter='*PartsOddRows*:*AddRmsNorm*:*RopeStoreKv*:*AttentionCombine*' && \
  compute-sanitizer --error-exitcode 3 --tool racecheck $BIN/backend_cuda_fused_test --gtest_brief=1 \
  --gtest_filter='*AttentionCombine*'"
# Greedy text of the CUDA backend (fusion on) against the CPU reference; greedy_long (after the
# benchmarks) on a longer prompt against the same programs with the fusion off (now==before).
has greedy && step greedy 50 "$(greedy_cmd "$BIN" "$MODELS")"
if has bench; then
  wait_models 100
  for m in q4_k_m f16; do
    f=$MODELS/l8b-$m.gguf
    [ -f "$f" ] || continue
    step "bench_${m}" 40 "$BIN/hayate bench model -m $f --device cuda -p 512 -n 128 -r 2"
    step "bench_${m}_unfused" 30 "HAYATE_CUDA_DISABLE=$OFF $BIN/hayate bench model -m $f --device cuda -p 0 -n 128 -r 2"
    for one in fuse_qkv fuse_norm fuse_rope fuse_combine; do
      [ $m = f16 ] && [ $one != fuse_qkv ] && continue  # the launch-count ones: measured on Q4_K_M
      step "bench_${m}_no_${one#fuse_}" 30 "HAYATE_CUDA_DISABLE=$one $BIN/hayate bench model -m $f --device cuda -p 0 -n 128 -r 2"
    done
  done
fi
has long && step greedy_long 40 "$(greedy_long_cmd "$BIN" "$MODELS" "HAYATE_CUDA_DISABLE=$OFF")"
# Eager per-operation device times (CUDA events), fused and not.
has prof && step prof_tg 30 "HAYATE_PROFILE=1 $BIN/hayate bench model -m $MODELS/l8b-q4_k_m.gguf --device cuda -p 0 -n 64 -r 1 --no-cuda-graphs"
has prof && step prof_tg_unfused 30 "HAYATE_CUDA_DISABLE=$OFF HAYATE_PROFILE=1 $BIN/hayate bench model -m $MODELS/l8b-q4_k_m.gguf --device cuda -p 0 -n 64 -r 1 --no-cuda-graphs"

cat "$LOGDIR/gpu.log"
[ -f "$LOGDIR/tests.log" ] && grep -hE "^\[  (PASSED|FAILED|SKIPPED) |^-- " "$LOGDIR/tests.log"
[ -f "$LOGDIR/tests.log" ] && grep -h "FAILED  \]" "$LOGDIR/tests.log" | head -8
[ -f "$LOGDIR/tests.log" ] && grep -h -B2 -A6 "Failure" "$LOGDIR/tests.log" | head -40
[ -f "$LOGDIR/memcheck.log" ] && grep -hE "ERROR SUMMARY|^\[  (PASSED|FAILED) " "$LOGDIR/memcheck.log"
bench_lines
grep -h '^greedy' "$LOGDIR/greedy.log" "$LOGDIR/greedy_long.log" 2>/dev/null
for p in prof_tg prof_tg_unfused; do
  [ -f "$LOGDIR/$p.log" ] && { echo "-- $p"; grep -E "gpu |engine step" "$LOGDIR/$p.log" | head -16; }
done
finish_logs
