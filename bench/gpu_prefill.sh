#!/usr/bin/env bash
# Issue 12, stage 5: one GPU call that checks and times the tiled prompt attention
# (attention_prefill.cu) on the Llama-3-8B shape (Q4_K_M and F16, random weights, made as in
# gpu_common.sh): the CUDA tests (kernels, forward, graphs), the greedy text of a short and a
# ~30-token prompt (prefill kernel) against the CPU reference and the split kernel
# (HAYATE_CUDA_DISABLE=prefill), pp512/tg128 with and without the kernel, and a HAYATE_PROFILE=1
# table of the 512-token prompt. Run from a tree holding bench/ (programs in PREBUILT):
#   PREBUILT=.gpu-carry/pbg OUT=$OUT bash bench/gpu_prefill.sh
set -u
source "$(dirname "$0")/gpu_common.sh"
gpu_dirs
gpu_start 240
make_models "$BIN" "$MODELS" f16 "$LOGDIR/synth.log"
step tests 90 "rc=0; for t in backend_cuda_kernels_test backend_cuda_forward_test backend_cuda_graphs_test; do \
  [ -x $BIN/\$t ] && { $BIN/\$t --gtest_brief=1 || rc=1; }; done; exit \$rc"
step greedy 60 "$(greedy_cmd "$BIN" "$MODELS")"
step greedy_long 50 "$(greedy_long_cmd "$BIN" "$MODELS")"
wait_models 100
for m in q4_k_m f16; do
  f=$MODELS/l8b-$m.gguf
  [ -f "$f" ] || continue
  step "bench_${m}" 60 "$BIN/hayate bench model -m $f --device cuda -p 512 -n 128 -r 2"
  step "bench_${m}_split" 45 "HAYATE_CUDA_DISABLE=prefill $BIN/hayate bench model -m $f --device cuda -p 512 -n 0 -r 2"
done
step prof_pp 40 "HAYATE_PROFILE=1 $BIN/hayate bench model -m $MODELS/l8b-q4_k_m.gguf --device cuda -p 512 -n 0 -r 1"

cat "$LOGDIR/gpu.log"
grep -hE "^\[  (PASSED|FAILED|SKIPPED) " "$LOGDIR/tests.log"
grep -h "FAILED  \]" "$LOGDIR/tests.log" | head -8
bench_lines
grep -h '^greedy' "$LOGDIR/greedy.log" "$LOGDIR/greedy_long.log"
grep -E "gpu |engine step" "$LOGDIR/prof_pp.log" | head -20
finish_logs
