#!/usr/bin/env bash
# Issue 20 on a GPU in one device call: mixture-of-experts models, sliding windows, gemma3 and phi3
# on the CUDA backend (docs/cuda.md, "Issue 20"), against the reference backend and transformers.
#
#   bash bench/gpu_issue20.sh --prebuild   # here: builds the targets in build/ (BUILD=...), copies them
#                                          # stripped to cuda-prebuilt/ (PREBUILT=...)
#   OUT=$OUT bash bench/gpu_issue20.sh     # there, from the checkout root, carrying cuda-prebuilt/
#
# Runs each CUDA test program (a log per step under $OUT/logs; "FAILED" lines name the position,
# expert or token), the MoE and family tests again under HAYATE_CUDA_GRAPHS=1, compute-sanitizer
# memcheck on the MoE and windowed-attention tests, and hf_reference_test (transformers' logits and
# greedy text, now with --device cuda) from this checkout's tests/data/hf. BUDGET (default 540 s)
# caps the whole run; the table of steps comes last.
set -u
cd "$(dirname "$0")/.."
source bench/gpu_common.sh
PREBUILT=${PREBUILT:-cuda-prebuilt}
TESTS="backend_cuda_moe_test backend_cuda_families_test backend_cuda_kernels_test backend_cuda_forward_test
       backend_cuda_graphs_test"
if [[ "${1:-}" == "--prebuild" ]]; then
  BUILD=${BUILD:-build}
  ninja -C "$BUILD" -j2 hayate hf_reference_test $TESTS || exit 1
  prebuild "$BUILD" "$PREBUILT" hayate hf_reference_test $TESTS
  exit 0
fi

gpu_dirs
gpu_start 540
for t in $TESTS; do
  step "$t" 150 "$BIN/$t --gtest_brief=1"
done
step moe_graphs 90 "HAYATE_CUDA_GRAPHS=1 $BIN/backend_cuda_moe_test --gtest_brief=1 --gtest_filter='CudaMoeForward*:CudaMoeText*'"
step families_graphs 60 "HAYATE_CUDA_GRAPHS=1 $BIN/backend_cuda_families_test --gtest_brief=1"
step memcheck_moe 120 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/backend_cuda_moe_test --gtest_brief=1 \
  --gtest_filter='CudaMoeKernels*:CudaMoe.*:*LogitsMatchReference/qwen3moe_q4_k_m'"
step memcheck_window 60 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/backend_cuda_kernels_test --gtest_brief=1 \
  --gtest_filter='CudaOps.Windowed*:CudaOps.GegluAndScale:CudaOps.Rope*'"
step hf_reference 150 "HAYATE_TEST_BIN=$BIN/hayate HAYATE_HF_MODELS=$PWD/tests/data/hf $BIN/hf_reference_test"

echo "== issue 20 on $(head -2 "$LOGDIR/gpu.log" | tail -1)"
for name in $TESTS moe_graphs families_graphs memcheck_moe memcheck_window hf_reference; do
  printf '%-28s %s\n' "$name" "${STATUS[$name]:-not run}"
  grep -h -E '^\[  FAILED  \]|Failure$' "$LOGDIR/$name.log" 2>/dev/null | head -5
done
