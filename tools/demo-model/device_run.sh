#!/usr/bin/env bash
# Trains the demo model in ONE device call and brings back all that the steps after it need.
#
#   device run:  bash tools/demo-model/device_run.sh .demodata/v2      carry: [".demodata/v2"], timeout_s 600
#
# DATA (default .demodata/v2, an ignored folder named in carry) is make_corpus.py's output with
# train.jsonl compressed to train.jsonl.xz (xz -9) or train.jsonl.gz and no plain train.jsonl
# left. The transfer (the session's checkout's tracked files plus the carry) is capped at 64 MiB;
# with the checkout at 59.9 MB only the xz corpus (4.0 MB; gzip -9: 9.9 MB) fits.
# Under $OUT it writes:
#   demo-hf.tar.gz.part0, .part1, ...   the HF directory train.py wrote (hf/), tar.gz split into 15 MB parts
#   demo-hf.tar.gz.sha256               the whole tar.gz's checksum, for after `cat part* >`
#   train.log                           train.py's output
#   summary.json                        the figures printed last
# Time: train.py is given DEMO_MINUTES (default 7) of training and is stopped after
# DEMO_TRAIN_LIMIT_S (default 540) seconds in all, so packing still happens inside a 10-minute
# call; a run stopped after saving still returns its model (train.py saves before measuring).
set -euo pipefail

data=${1:-.demodata/v2}
minutes=${DEMO_MINUTES:-7}
limit=${DEMO_TRAIN_LIMIT_S:-540}
here=$(cd "$(dirname "$0")" && pwd)
: "${OUT:?OUT must name the folder whose files come back}"

for f in heldout_addition.jsonl heldout_world.jsonl heldout_other.jsonl heldout_text.txt; do
  if [[ ! -f $data/$f ]]; then
    echo "device_run.sh: $data/$f is missing: run make_corpus.py --out $data, then xz -9 $data/train.jsonl" >&2
    exit 2
  fi
done
if [[ -f $data/train.jsonl ]]; then
  echo "device_run.sh: $data/train.jsonl is there; compress it (xz -9) so that it fits the transfer" >&2
  exit 2
fi
corpora=$(cd "$data" && ls train.jsonl.xz train.jsonl.gz 2>/dev/null | paste -sd ' ' || true)
if [[ $(wc -w <<<"$corpora") -ne 1 ]]; then
  echo "device_run.sh: $data must hold one of train.jsonl.xz (xz -9, 4 MB for recipe 3) or train.jsonl.gz;" \
    "it holds: ${corpora:-neither}" >&2
  exit 2
fi

work=$(mktemp -d)
set +e
PYTHONUNBUFFERED=1 timeout --kill-after=15 "$limit" python3 "$here/train.py" --data "$data" --out "$work" \
  --minutes "$minutes" 2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
set -e
echo "train.py exit status $rc after $SECONDS s"

if [[ ! -f $work/hf/model.safetensors ]]; then
  echo "device_run.sh: train.py saved no model; see train.log" >&2
  exit 1
fi
tar -C "$work" -czf "$work/demo-hf.tar.gz" hf
(cd "$work" && sha256sum demo-hf.tar.gz) >"$OUT/demo-hf.tar.gz.sha256"
split -b 15000000 -d -a 1 "$work/demo-hf.tar.gz" "$OUT/demo-hf.tar.gz.part"
du -b "$work/hf"/* "$OUT"/* | sort -k2

python3 - "$work/hf" "$OUT/summary.json" "$rc" "$SECONDS" <<'EOF'
import json, os, sys
hf, out, rc, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def read(name):
    path = os.path.join(hf, name)
    return json.load(open(path)) if os.path.exists(path) else None
log, ppl, ev, ref = read("train_log.json") or {}, read("reference_ppl.json"), read("pytorch_eval.json"), read("reference.json")
acc = lambda name: None if not ev or name not in ev else round(ev[name]["accuracy"], 4)
summary = {
    "train_py_exit": rc, "seconds": seconds, "steps": log.get("steps"), "tokens": log.get("tokens"),
    "parameters": log.get("parameters"), "corpus": log.get("corpus"),
    "vocab": ref and ref.get("vocab_size"),
    "reference_logits_device": ref and ref.get("device"),
    "pytorch_world_heldout": acc("heldout_world.jsonl"),
    "pytorch_world_by_shape": ev and {k: round(v["accuracy"], 4) for k, v in ev["heldout_world.jsonl"].get("per_shape", {}).items()},
    "pytorch_world_by_task": ev and {k: round(v["accuracy"], 3) for k, v in ev["heldout_world.jsonl"]["per_task"].items()},
    "pytorch_addition_heldout": acc("heldout_addition.jsonl"),
    "pytorch_other_by_task": ev and {k: round(v["accuracy"], 3) for k, v in ev["heldout_other.jsonl"]["per_task"].items()},
    "pytorch_perplexity": ppl and round(ppl["perplexity"], 4),
}
json.dump(summary, open(out, "w"), indent=1)
print("SUMMARY " + json.dumps(summary))
EOF
exit "$rc"
