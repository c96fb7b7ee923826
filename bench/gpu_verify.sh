#!/usr/bin/env bash
# One device call (<= ~450 s on an H100 or H200) that checks what stages 6 and 7 of issue 12,
# issue 20's CUDA paths and issue 24's gathered top-k changed, then measures the decode step:
#   1. correctness, two streams side by side (timing does not matter here) while the 8B models
#      are made: bench/gpu_issue20.sh (MoE, families, windows, kernels, forward, graphs, memcheck,
#      hf_reference_test on CUDA over the carried tests/data/hf folders), and the fused test, the
#      graphs test with every fusion off, memcheck/racecheck of the fused kernels, greedy text
#      (gpu_stage7.sh's greedy and greedy-long steps) and forward_cuda_tp_test (one NCCL rank);
#   2. speed, one program at a time: tg128 (and pp512) of the Q4_K_M and F16 8B shapes default,
#      with every stage-7 fusion off, and with stage 6 off (HAYATE_CUDA_DISABLE=short_chunks
#      HAYATE_CUDA_MATVEC_PARTS=1); the one-token mat-vec per matrix; an eager profile;
#   3. issue 16: /metrics of `hayate serve --device cuda` shows NVML's GPU memory and utilisation.
# Programs: PREBUILT (default .gpu-carry/pb) from `prebuild` (gpu_common.sh) of hayate,
# hf_reference_test, cuda_matvec_bench and the backend_cuda_* / forward_cuda_tp_test programs.
#   PREBUILT=.gpu-carry/pb OUT=$OUT bash bench/gpu_verify.sh
set -u
cd "$(dirname "$0")/.."
source bench/gpu_common.sh
PREBUILT=${PREBUILT:-.gpu-carry/pb}
[ -x "$PREBUILT/bin/hayate" ] || [ ! -f "$PREBUILT.tar.xz" ] || tar xJf "$PREBUILT.tar.xz" -C "$(dirname "$PREBUILT")"
gpu_dirs
gpu_start 520
ROOT=$OUT
N=$(find / -xdev -name 'libnccl.so.2*' 2>/dev/null | head -1)
echo "nccl: ${N:-none}" >"$LOGDIR/nccl.log"
[ -n "$N" ] && export LD_LIBRARY_PATH=$(dirname "$N"):$LD_LIBRARY_PATH
OFF="fuse_qkv,fuse_norm,fuse_rope,fuse_combine"
S6OFF="HAYATE_CUDA_DISABLE=short_chunks HAYATE_CUDA_MATVEC_PARTS=1"

# 1. correctness
make_models "$BIN" "$MODELS" f16 "$LOGDIR/synth.log"
(OUT=$ROOT/i20 BUDGET=240 PREBUILT=$PREBUILT bash bench/gpu_issue20.sh >"$LOGDIR/i20.log" 2>&1) &
I20=$!
step fused 90 "$BIN/backend_cuda_fused_test --gtest_brief=1 && HAYATE_CUDA_DISABLE=$OFF $BIN/backend_cuda_graphs_test --gtest_brief=1"
step tp 60 "$BIN/forward_cuda_tp_test --gtest_brief=1"
(OUT=$ROOT/s7 STEPS=memcheck,greedy,long BUDGET=150 PREBUILT=$PREBUILT bash bench/gpu_stage7.sh >"$LOGDIR/s7.log" 2>&1)
wait $I20
wait_models 160

# 2. speed, one program at a time
q=$MODELS/l8b-q4_k_m.gguf f=$MODELS/l8b-f16.gguf
B="$BIN/hayate bench model --device cuda -r 2"
step bench_q4 35 "$B -m $q -p 512 -n 128"
step bench_q4_unfused 25 "HAYATE_CUDA_DISABLE=$OFF $B -m $q -p 0 -n 128"
step bench_f16 45 "$B -m $f -p 512 -n 128"
# 3. issue 16: NVML figures in /metrics while serving on the GPU
step gpu_metrics 30 "$BIN/hayate serve --device cuda --port 18181 >$LOGDIR/serve.log 2>&1 & sp=\$!; \
  for i in \$(seq 1 60); do kill -0 \$sp 2>/dev/null || break; curl -sf http://127.0.0.1:18181/health >/dev/null && break; sleep 0.5; done; \
  curl -s http://127.0.0.1:18181/v1/chat/completions -H 'content-type: application/json' \
    -d '{\"messages\":[{\"role\":\"user\",\"content\":\"What is 12 + 30?\"}],\"max_tokens\":16,\"temperature\":0}'; echo; \
  sleep 1.5; curl -s http://127.0.0.1:18181/metrics | grep -E '^hayate_gpu'; kill \$sp; wait \$sp"

step bench_q4_stage6_off 25 "$S6OFF $B -m $q -p 0 -n 128"
step bench_f16_unfused 35 "HAYATE_CUDA_DISABLE=$OFF $B -m $f -p 0 -n 128"
step matvec 20 "$BIN/cuda_matvec_bench fast | grep -E '\\| 1 \\|'"
step prof_tg 30 "HAYATE_PROFILE=1 $BIN/hayate bench model -m $q --device cuda -p 0 -n 64 -r 1 --no-cuda-graphs"

echo "== on $(head -2 "$LOGDIR/gpu.log" | tail -1); $(cat "$LOGDIR/nccl.log")"
tail -16 "$LOGDIR/i20.log"
grep -hE "^\[  (PASSED|FAILED) |FAILED  \]" "$LOGDIR/fused.log" "$LOGDIR/tp.log" | head -12
grep -vE "^== " "$LOGDIR/s7.log" | tail -22
bench_lines
cut -c1-100 "$LOGDIR/matvec.log"
grep -E "gpu |engine step" "$LOGDIR/prof_tg.log" | head -16
cat "$LOGDIR/gpu_metrics.log"
finish_logs
