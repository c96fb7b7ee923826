#!/usr/bin/env bash
# The benchmark programme of issue 23 against one model: the seed's speed ladder (1/5/10/20
# users), the long-generation workload, the multi-turn retention workload, the quality suites
# (when this build has `hayate eval gsm8k` & co. and sample files are given), then the report.
#
#   bench/programme.sh [options]
#     --hayate BIN        the program (default build/bin/hayate)
#     --model FILE        a GGUF to serve (default: the embedded demo model)
#     --format NAME       its weight format, for the report's matrix (default: read from the file
#                         name; Q8_0 for the embedded model)
#     --label NAME        the server's name in the report (default "hayate FORMAT")
#     --url URL           measure a server that is already running instead of starting one
#                         (--pid PID to sample its CPU and memory)
#     --out DIR           results, report.html and report.md (default /tmp/hayate-programme)
#     --requests N        requests per ladder step (default 40)
#     --long-requests N   long-generation requests (default 4)
#     --long-tokens N     tokens per long answer (default 2000, the seed's)
#     --turns N           turns per retention conversation (default 10, the seed's)
#     --conversations N   retention conversations run side by side (default 4)
#     --eval-data DIR     sample files DIR/SUITE*.jsonl of gsm8k, humaneval, jcommonsenseqa, jnli,
#                         marc-ja (default tests/data/eval)
#     --eval-limit N      items per suite (default 20)
#     --gsm8k-shots N     worked examples before each GSM8K question (default 8, the benchmark's;
#                         the embedded model's 512-token context takes 1)
#     --jglue-score HOW   loglik (the choice's log-likelihood, as JGLUE's leaderboards score
#                         them: needs a server that returns the prompt's log-probabilities with
#                         echo, as hayate's and vLLM's do; the default when this script starts
#                         hayate) or generate (any server: the default with --url)
# Every step's command is printed before it runs; a suite this build lacks or without a file is
# skipped with a line that says so. Exits non-zero when a step fails.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
hayate=$repo/build/bin/hayate
model="" format="" label="" url="" pid="" out=/tmp/hayate-programme
requests=40 long_requests=4 long_tokens=2000 turns=10 conversations=4
eval_data=$repo/tests/data/eval eval_limit=20 gsm8k_shots=8 jglue_score=""
while (($#)); do
  case $1 in
    --hayate) hayate=$2 ;;
    --model) model=$2 ;;
    --format) format=$2 ;;
    --label) label=$2 ;;
    --url) url=$2 ;;
    --pid) pid=$2 ;;
    --out) out=$2 ;;
    --requests) requests=$2 ;;
    --long-requests) long_requests=$2 ;;
    --long-tokens) long_tokens=$2 ;;
    --turns) turns=$2 ;;
    --conversations) conversations=$2 ;;
    --eval-data) eval_data=$2 ;;
    --eval-limit) eval_limit=$2 ;;
    --gsm8k-shots) gsm8k_shots=$2 ;;
    --jglue-score) jglue_score=$2 ;;
    -h | --help)
      sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "programme.sh: unknown option $1 (--help lists them)" >&2
      exit 2
      ;;
  esac
  shift 2
done
[[ -x $hayate ]] || { echo "programme.sh: $hayate is not an executable (build it, or pass --hayate)" >&2; exit 2; }
if [[ -z $format ]]; then
  if [[ -z $model ]]; then
    format=Q8_0  # assets/demo-q8_0.gguf
  else
    format=$(basename "$model" | grep -ioE 'q[0-9]_k_[ms]|q[0-9]_[0-9k]|bf16|f16|f32' | head -1 | tr a-z A-Z || true)
  fi
fi
label=${label:-hayate ${format:-unknown format}}
# llama.cpp's server and Ollama return no prompt logprobs: a server of unknown kind is asked to generate.
if [[ -z $jglue_score && -z $url ]]; then
  jglue_score=loglik
elif [[ -z $jglue_score ]]; then
  jglue_score=generate
fi
case $jglue_score in
  loglik | generate) ;;
  *) echo "programme.sh: --jglue-score must be loglik or generate, got '$jglue_score'" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)

run() {
  { printf '+'; printf ' %q' "$@"; echo; } >&2
  "$@"
}

server_pid=""
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT
if [[ -z $url ]]; then
  serve_args=(serve --port 0)
  [[ -n $model ]] && serve_args+=(-m "$model")
  echo "+ $hayate ${serve_args[*]} (log: $out/serve.log)" >&2
  "$hayate" "${serve_args[@]}" >"$out/serve.log" 2>&1 &
  server_pid=$!
  pid=$server_pid
  for ((i = 0; i < 600; ++i)); do  # a large model may take a minute to load
    port=$(grep -oE 'listening on [^ ]+:[0-9]+' "$out/serve.log" | grep -oE '[0-9]+$' || true)
    [[ -n $port ]] && grep -q 'ready in' "$out/serve.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log" >&2; echo "programme.sh: the server exited" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n ${port:-} ]] || { echo "programme.sh: the server did not start within 60 s ($out/serve.log)" >&2; exit 1; }
  url=http://127.0.0.1:$port
fi

bench=(bench serve --url "$url" --label "$label" --no-progress)
[[ -n $pid ]] && bench+=(--pid "$pid")
start=$(date +%s)
run "$hayate" "${bench[@]}" --workload story --ladder seed --requests "$requests" --out "$out/speed.json"
run "$hayate" "${bench[@]}" --workload long --max-tokens "$long_tokens" --concurrency 1 --requests "$long_requests" \
  --out "$out/long.json"
run "$hayate" "${bench[@]}" --workload retention --turns "$turns" --concurrency "$conversations" \
  --requests $((turns * conversations)) --out "$out/retention.json"

results=("$out/speed.json" "$out/long.json" "$out/retention.json")
model_id=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["targets"][0]["model"])' "$out/speed.json")
suites=$("$hayate" eval --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
for suite in gsm8k humaneval jcommonsenseqa jnli marc-ja; do
  if ! grep -qx -- "$suite" <<<"$suites"; then
    echo "programme.sh: quality suite $suite skipped: this build has no \`hayate eval $suite\`" >&2
    continue
  fi
  file=$(ls "$eval_data/$suite"*.jsonl 2>/dev/null | head -1 || true)
  if [[ -z $file ]]; then
    echo "programme.sh: quality suite $suite skipped: no $eval_data/$suite*.jsonl" >&2
    continue
  fi
  extra=()
  case $suite in
    gsm8k) extra=(--shots "$gsm8k_shots") ;;
    jcommonsenseqa | jnli | marc-ja) extra=(--score "$jglue_score") ;;
  esac
  run "$hayate" eval "$suite" "$file" --url "$url" --limit "$eval_limit" --label-model "$model_id" \
    --label-format "$format" --summary "$out/eval-$suite.json" --no-progress "${extra[@]}"
  results+=("$out/eval-$suite.json")
done

run "$hayate" report "${results[@]}" --html "$out/report.html" --md "$out/report.md"
echo "programme.sh: done in $(($(date +%s) - start)) s; report: $out/report.html" >&2
