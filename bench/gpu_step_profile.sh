#!/usr/bin/env bash
# Where one decode step of the Llama-3-8B Q4_K_M shape goes, in one GPU call (issue 12, stage 3):
# tg128 eager and with --cuda-graphs, HAYATE_PROFILE=1 tables (host time per engine phase,
# device time per operation kind), ncu's duration of every kernel of a few decode steps
# (--clock-control none), and `hayate run` of 128 tokens through the engine (top logits on the
# GPU). Run from the root of a tree holding bench/ and the prebuilt programs:
#   PREBUILT=pbb OUT=$OUT bash bench/gpu_step_profile.sh
# VARIANTS: extra environments to time tg128 under, as NAME=ENV;NAME=ENV (ENV space-separated).
set -u
source "$(dirname "$0")/gpu_common.sh"
gpu_dirs
NO_FLOAT_MODEL=1
export PATH=/usr/local/cuda/bin:$PATH NO_FLOAT_MODEL
START=$(date +%s)
BUDGET=${BUDGET:-300}
BIN=$PWD/$PREBUILT/bin
export LD_LIBRARY_PATH=$PWD/$PREBUILT/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv >"$LOGDIR/gpu.log" 2>&1
{ which nsys ncu compute-sanitizer; nproc; } >>"$LOGDIR/gpu.log" 2>&1
[ -f "$MODELS/l8b-q4_k_m.gguf" ] || make_models "$BIN" "$MODELS" f16 "$LOGDIR/synth.log"
# The tests run while the model is made (the synth is single-threaded).
[[ ",${STEPS:-tests}," == *",tests,"* ]] && step tests 100 "$BIN/backend_cuda_graphs_test && \
  $BIN/backend_cuda_forward_test && $BIN/forward_cuda_split_test && $BIN/backend_cuda_sampling_test && \
  $BIN/backend_cuda_kernels_test --gtest_brief=1"
[ -n "${SYNTH_PID:-}" ] && wait_models 60
f=$MODELS/l8b-q4_k_m.gguf
tg() { echo "$BIN/hayate bench model -m $f --device cuda -p 0 -n 128 -r 2 $*"; }
# hayate_base: the programs before this stage, when carried, for a baseline on the same card.
[ -x "$BIN/hayate_base" ] && step tg_base 60 "$(tg | sed 's|/hayate |/hayate_base |')"
step tg_eager 60 "$(tg)"
step tg_graphs 60 "$(tg --cuda-graphs)"
IFS=';' read -ra vs <<<"${VARIANTS:-}"
for v in "${vs[@]}"; do step "tg_${v%%=*}" 60 "env ${v#*=} $(tg)"; done
step prof_eager 60 "HAYATE_PROFILE=1 $(tg | sed 's/-r 2/-r 1/')"
step prof_graphs 60 "HAYATE_PROFILE=1 $(tg --cuda-graphs | sed 's/-r 2/-r 1/')"
[[ ",${STEPS:-tests}," == *",tests,"* ]] && step memcheck 60 "compute-sanitizer --error-exitcode 3 --tool memcheck \
  $BIN/backend_cuda_graphs_test && compute-sanitizer --error-exitcode 3 --tool memcheck $BIN/backend_cuda_kernels_test \
  --gtest_filter='*FusedGateUpSwiglu*'"
step run_eager 30 "HAYATE_PROFILE=1 $BIN/hayate run -m $f --device cuda -p 'Once upon a time' -n 128 --temp 0 --ignore-eos"
step run_graphs 30 "HAYATE_PROFILE=1 $BIN/hayate run -m $f --device cuda --cuda-graphs -p 'Once upon a time' -n 128 --temp 0 --ignore-eos"
# Kernels 700.. are decode steps of the 128 (after the prompt's ~450); 1400 of them are ~3 steps.
step ncu 80 "ncu --clock-control none --launch-skip 1000 --launch-count 700 --metrics gpu__time_duration.sum --csv \
  $BIN/hayate run -m $f --device cuda -p 'Hello' -n 8 --temp 0 --ignore-eos >$LOGDIR/ncu.csv"
[ -f "$LOGDIR/ncu.csv" ] && python3 - "$LOGDIR/ncu.csv" <<'PY' >"$LOGDIR/ncu_sum.txt" 2>&1
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
h = rows[0]; ik = h.index('Kernel Name'); iv = h.index('Metric Value'); iu = h.index('Metric Unit')
tot = collections.defaultdict(float); cnt = collections.Counter()
for r in rows[1:]:
    v = float(r[iv].replace(',', '')); v = v / 1000 if r[iu] == 'nsecond' else v * (1000 if r[iu] == 'msecond' else 1)
    k = r[ik].split('(')[0][:60]; tot[k] += v; cnt[k] += 1
all_us = sum(tot.values()); n = sum(cnt.values())
print(f"ncu: {n} kernels, {all_us:.0f} us of kernel time")
for k, v in sorted(tot.items(), key=lambda x: -x[1]):
    print(f"{v:10.0f} us {cnt[k]:6d} x {v/cnt[k]:8.2f} us  {k}")
PY
cat "$LOGDIR/gpu.log"
grep -hE "PASSED|FAILED|SKIPPED \]|ERROR SUMMARY" "$LOGDIR/tests.log" "$LOGDIR/memcheck.log" 2>/dev/null | sort | uniq -c
for s in tg_base tg_eager tg_graphs ${vs[@]+"${vs[@]%%=*}"}; do
  s=${s#tg_}; [ -f "$LOGDIR/tg_$s.log" ] && grep -h "tg128" "$LOGDIR/tg_$s.log" | tail -1 | sed "s/^/$s: /"
done
for s in prof_eager prof_graphs run_eager run_graphs; do
  echo "-- $s"; grep -E "engine step|forward|waits|top logits|output proc|to host|gpu " "$LOGDIR/$s.log" | head -24
done
head -25 "$LOGDIR/ncu_sum.txt" 2>/dev/null
finish_logs
