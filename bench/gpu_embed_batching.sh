#!/usr/bin/env bash
# Issue 15's embedding batching on the GPU in one device call: the bge-small-shaped encoder
# (bench/make_bge_small.py: 384-d, 12 layers, 12 heads of 32, random weights) converted to f32 and
# quantized to q8_0, served by `hayate serve --device cuda`, and bench/rag_embed_batching.py's
# chunks/s one request at a time against requests of BATCH chunks, for WORDS=12 (26-token chunks)
# and WORDS=120 (242-token chunks), with the micro-batcher's window off
# (HAYATE_MICRO_BATCH_WAIT_MS=0) and on (its default 100 ms). docs/benchmarks.md, "A bge-small-shaped
# encoder on the backend kernels", has the CPU's figures for the same commands.
#
#   bash bench/gpu_embed_batching.sh --prebuild   # here: builds hayate and the encoder test in build/
#                                                 # (BUILD=...), copies them stripped to cuda-prebuilt/
#   OUT=$OUT bash bench/gpu_embed_batching.sh     # there, from the checkout root, carrying cuda-prebuilt/
#
# First runs backend_cuda_encoder_test (the CUDA encoder against the reference backend), again
# with every step captured as a CUDA graph (HAYATE_CUDA_GRAPHS=1, as `hayate serve` runs) and its
# operations under compute-sanitizer memcheck, then the benchmark rows; the table comes last (a
# log per step under $OUT/logs, packed into logs.tgz).
# Environment: CHUNKS (64), BATCH (32), REPS (3), TYPES ("f32 q8_0"), WORDS_LIST ("12 120"),
# DEVICES ("cuda"; add cpu for the same rows on this machine's CPU), THREADS (8), BUDGET (540 s).
set -u
cd "$(dirname "$0")/.."
source bench/gpu_common.sh
PREBUILT=${PREBUILT:-cuda-prebuilt}
TESTS="backend_cuda_encoder_test"
if [[ "${1:-}" == "--prebuild" ]]; then
  BUILD=${BUILD:-build}
  ninja -C "$BUILD" -j2 hayate $TESTS || exit 1
  prebuild "$BUILD" "$PREBUILT" hayate $TESTS
  exit 0
fi

gpu_dirs
gpu_start 540
CHUNKS=${CHUNKS:-64}
BATCH=${BATCH:-32}
REPS=${REPS:-3}
TYPES=${TYPES:-"f32 q8_0"}
WORDS_LIST=${WORDS_LIST:-"12 120"}
DEVICES=${DEVICES:-cuda}
THREADS=${THREADS:-8}

step encoder_test 150 "$BIN/backend_cuda_encoder_test --gtest_brief=1"
step encoder_test_graphs 120 "HAYATE_CUDA_GRAPHS=1 $BIN/backend_cuda_encoder_test --gtest_brief=1"
step memcheck_encoder 120 "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/backend_cuda_encoder_test \
  --gtest_brief=1 --gtest_filter='CudaEncoderOps.*'"
# The model: plain Python (no numpy or torch needed), then hayate's converter and quantizer.
step make_model 180 "set -e; python3 bench/make_bge_small.py $MODELS/bge-small; \
  $BIN/hayate convert $MODELS/bge-small -o $MODELS/bge-small-f32.gguf --outtype f32; \
  $BIN/hayate quantize $MODELS/bge-small-f32.gguf $MODELS/bge-small-q8_0.gguf q8_0 -t 8; ls -l $MODELS"

rows=()
if [[ "${STATUS[make_model]}" == rc=0* ]]; then
  for device in $DEVICES; do
    for ty in $TYPES; do
      for words in $WORDS_LIST; do
        for window in off on; do
          name="embed_${device}_${ty}_w${words}_${window}"
          wait_env=""
          [[ $window == off ]] && wait_env="HAYATE_MICRO_BATCH_WAIT_MS=0"
          step "$name" 150 "$wait_env MODEL=$MODELS/bge-small-$ty.gguf DEVICE=$device CHUNKS=$CHUNKS BATCH=$BATCH \
            WORDS=$words REPS=$REPS THREADS=$THREADS PYTHONUNBUFFERED=1 python3 bench/rag_embed_batching.py $BIN/hayate"
          rows+=("$name $device $ty $words $window")
        done
      done
    done
  done
fi

echo "== embedding batching on $(head -2 "$LOGDIR/gpu.log" | tail -1) (CHUNKS=$CHUNKS BATCH=$BATCH REPS=$REPS)"
for name in encoder_test encoder_test_graphs memcheck_encoder make_model; do
  printf '%-18s %s\n' "$name" "${STATUS[$name]:-not run}"
  grep -h -E '^\[  (PASSED|SKIPPED|FAILED)  \]|Failure$|ERROR SUMMARY' "$LOGDIR/$name.log" 2>/dev/null | head -8
done
printf '| %-6s | %-5s | %5s | %-6s | %14s | %13s | %8s | %s\n' device model words window "one, chunks/s" \
  "batched (${BATCH})" "speed-up" "ratio per rep"
for row in "${rows[@]}"; do
  read -r name device ty words window <<<"$row"
  log="$LOGDIR/$name.log"
  median=$(grep -h "^median over" "$log" 2>/dev/null)
  one=$(sed -nE 's/.*one at a time ([0-9.]+) chunks\/s.*/\1/p' <<<"$median")
  many=$(sed -nE 's/.*batches of [0-9]+ ([0-9.]+) chunks\/s.*/\1/p' <<<"$median")
  ratio=$(sed -nE 's/.*speed-up ([0-9.]+x).*/\1/p' <<<"$median")
  per_rep=$(grep -hoE '[0-9.]+x \(load' "$log" 2>/dev/null | sed 's/ (load//' | paste -sd/ -)
  printf '| %-6s | %-5s | %5s | %-6s | %14s | %13s | %8s | %s\n' "$device" "$ty" "$words" "$window" \
    "${one:-?}" "${many:-?}" "${ratio:-${STATUS[$name]}}" "${per_rep:-}"
done
finish_logs
