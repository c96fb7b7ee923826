#!/usr/bin/env bash
# Builds one libFuzzer target with clang and runs it for a while.
#
#   scripts/fuzz.sh gguf_fuzz            # 60 seconds
#   scripts/fuzz.sh gguf_fuzz 600 -jobs=2 -workers=2
#
# Seeds come from tests/fuzz/corpus/<module>/ (read only); new inputs go to
# $BUILD_DIR/corpus/<target>/ and crashes to $BUILD_DIR/artifacts/<target>/. A dictionary
# tests/fuzz/<module>.dict is used when present. Extra arguments go to libFuzzer.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 <target, e.g. gguf_fuzz> [seconds=60] [libFuzzer flags...]" >&2
  exit 2
fi
target="$1"
seconds="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build-fuzz}"
module="${target%%_*}"
max_len="${MAX_LEN:-65536}"

# No CUDA: a fuzzer runs on the CPU, and nvcc with clang's sanitizer flags is slow or refuses.
CC="${CC:-clang}" CXX="${CXX:-clang++}" cmake -S "$root" -B "$build" -G Ninja \
  -DHAYATE_FUZZ=ON -DHAYATE_BUILD_TESTS=ON -DHAYATE_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "$target"

corpus="$build/corpus/$target"
artifacts="$build/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
args=(-max_total_time="$seconds" -max_len="$max_len" -artifact_prefix="$artifacts/" -print_final_stats=1)
[[ -f "$root/tests/fuzz/$module.dict" ]] && args+=(-dict="$root/tests/fuzz/$module.dict")
seeds=()
[[ -d "$root/tests/fuzz/corpus/$module" ]] && seeds+=("$root/tests/fuzz/corpus/$module")

echo "fuzzing $target for ${seconds}s (corpus $corpus, crashes in $artifacts)" >&2
exec "$build/bin/$target" "${args[@]}" "$@" "$corpus" "${seeds[@]}"
