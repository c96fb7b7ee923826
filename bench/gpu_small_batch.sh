#!/usr/bin/env bash
# Issue 12: where a decode step of 2..8 sequences loses time (on an H100, 2026-12-07, a step of 5
# Q4_K_M sequences took 9.3 ms against 4.7 ms for one: docs/benchmarks.md, "GPU: split-K parts by
# format"). One device call (~150 s): the mat-vec per matrix at 2, 4 and 8 tokens with rows per
# warp chosen and forced to 1, 2 and 4, then `hayate serve` on the 8B-shaped Q4_K_M model at 1, 2,
# 5, 8 and 10 streams (each level twice: the first run captures that batch size's CUDA graph) with
# each rows-per-warp setting.
#   here:  source bench/gpu_common.sh && prebuild build PB hayate cuda_matvec_bench, then tar PB as PB.tar.xz
#   there: PB=.gpu-carry/pb5 OUT=$OUT bash bench/gpu_small_batch.sh
set -u
: "${OUT:?}"
PB=${PB:-.gpu-carry/pb5}
[ -x "$PB/bin/hayate" ] || tar xJf "$PB.tar.xz" -C "$(dirname "$PB")"
PREBUILT=$PB
source bench/gpu_common.sh
gpu_dirs
gpu_start ${BUDGET:-200}
export -f serve_one
export BIN
make_models "$BIN" "$MODELS" f16 "$LOGDIR/synth.log"
for r in auto 1 2 4; do
  if [ $r = auto ]; then e=""; else e="HAYATE_CUDA_MATVEC_ROWS=$r"; fi
  step mv_rows_$r 40 "env $e $BIN/cuda_matvec_bench fast | grep -vE '\\| 1 \\|'"
done

wait_models 150
for r in auto 1 2 4; do
  if [ $r = auto ]; then e="HAYATE_CUDA_DISABLE="; else e="HAYATE_CUDA_MATVEC_ROWS=$r"; fi
  step serve_rows_$r 45 "serve_one $MODELS/l8b-q4_k_m.gguf '$e' $LOGDIR/server_$r.log 1,1,2,2,5,5,8,8,10,10"
done
for f in "$LOGDIR"/mv_*.log; do echo "== $(basename $f)"; cut -c1-100 "$f"; done
for f in "$LOGDIR"/serve_rows_*.log; do echo "== $(basename $f)"; cat "$f"; done
finish_logs
