#!/usr/bin/env bash
# Two hayate binaries side by side on one model (a change that should not move speed: issue 11's
# "performance unchanged" check): `hayate bench model -p 512 -n 128 -r 1`, in the order
# old/new/new/old twice per thread count, so that a machine's drift weighs on both alike.
# Prints every run (with the load average) and each side's median per thread count and test.
#
#   bench/old_vs_new.sh OLD_BIN NEW_BIN MODEL [THREADS="1 2"]
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 OLD_BIN NEW_BIN MODEL [\"1 2\"]" >&2; exit 2; }
old=$1 new=$2 model=$3 threads=${4:-1 2}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
one() {  # one run of side $1 with $2 threads; appends "threads side test tokens/s" lines
  local bin=$old
  [ "$1" = new ] && bin=$new
  "$bin" bench model -m "$model" -p 512 -n 128 -t "$2" -r 1 -o csv 2>/dev/null | tail -n +2 |
    awk -F, -v t="$2" -v s="$1" '{print t, s, $11, $20}' | tee -a "$results"
  echo "  (load $(cut -d' ' -f1 /proc/loadavg))"
}
for t in $threads; do
  for _ in 1 2; do one old "$t"; one new "$t"; one new "$t"; one old "$t"; done
done
echo
echo "| threads | test | old median | new median | new / old |"
echo "| ---: | --- | ---: | ---: | ---: |"
python3 - "$results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    t, side, test, ts = line.split()
    runs.setdefault((int(t), test), {}).setdefault(side, []).append(float(ts))
for (t, test), sides in sorted(runs.items()):
    o, n = statistics.median(sides["old"]), statistics.median(sides["new"])
    print(f"| {t} | {test} | {o:.1f} | {n:.1f} | {n / o:.3f} |")
PY
