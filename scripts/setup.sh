#!/usr/bin/env bash
# Installs the Debian packages hayate's build and tests need. Idempotent: packages already
# present are skipped, so a second run is quick and changes nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libpcre2-dev nlohmann-json3-dev libcli11-dev
  libboost-dev prometheus-cpp-dev libspdlog-dev libfmt-dev libtomlplusplus-dev zlib1g-dev libzstd-dev
  zstd xz-utils gzip
  libssl-dev openssl libhiredis-dev redis-server
  libfaiss-dev libblas-dev liblapack-dev libsqlite3-dev
  # OpenBLAS (its OpenMP build, so FAISS's one-thread searches keep one thread) becomes the
  # libblas.so.3 that FAISS calls: with the reference BLAS alone an IVF4096 build over 1M
  # vectors ran over 20 minutes of sgemm here, with this one 68 s (docs/benchmarks.md).
  libopenblas0-openmp
  libpoppler-cpp-dev
  libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  nodejs npm
  chromium chromium-driver
  prometheus nginx postgresql libpq-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm may come from elsewhere than Debian (the machine image ships its own).
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}")
  missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]}"

if ((${#missing[@]} == 0)); then
  echo "setup: all packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
