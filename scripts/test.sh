#!/usr/bin/env bash
# The whole test suite, as CI runs it: Release build with tests (warnings are errors), unit and
# integration tests, then the unit tests again under AddressSanitizer + UBSan, then the concurrent
# unit tests (scheduler, engine, thread pool, HTTP client) under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

jobs=$(nproc)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# The sanitizer builds: line tables only (-g1), compressed (-gz), and shared module libraries
# (HAYATE_SHARED_MODULES) so that the test programs do not each carry a copy of the instrumented
# code: with static ones the AddressSanitizer build took 5.6 GB and ran CI's disk full. To keep CI
# inside its time budget (docs/benchmarks.md, "CI time"): -O1, and the src/ libraries compiled in
# unity batches (HAYATE_UNITY_BUILD). Warnings are not errors there: the Release pass checks them,
# and GCC 12 with the sanitizers at -O1 gives a false -Wstringop-overflow.
sanitizer_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -gz -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -gz -DNDEBUG"
  -DHAYATE_SHARED_MODULES=ON -DHAYATE_UNITY_BUILD=ON -DHAYATE_WERROR=OFF)

cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DHAYATE_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

if [ "${HAYATE_SKIP_SANITIZE:-0}" != 1 ]; then
  # Unit tests only: no CUDA (its tests skip without a GPU, and nvcc is the slowest part of a
  # build), no micro-benchmarks, no integration tests (the Release pass runs them). UBSan without
  # its vptr check, the costliest to compile (the rest of UBSan and all of ASan stay).
  cmake -S . -B build-asan "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHAYATE_SANITIZE=ON -DHAYATE_SANITIZE_VPTR=OFF \
    "${sanitizer_flags[@]}" -DHAYATE_CUDA=OFF -DHAYATE_BUILD_BENCH=OFF -DHAYATE_BUILD_INTEGRATION_TESTS=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ctest --output-on-failure -j"$jobs" -L unit --timeout 900)
fi

if [ "${HAYATE_SKIP_TSAN:-0}" != 1 ]; then
  # ThreadSanitizer on the tests whose code runs on several threads (issue 22): the engine loop
  # against its callers, the thread pool, the HTTP client's io thread. Only these binaries are
  # built, to keep the CI time budget (docs/benchmarks.md has what this pass costs).
  tsan_tests=(engine_scheduler_test engine_engine_test core_thread_pool_test net_client_test net_blocking_test)
  cmake -S . -B build-tsan "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHAYATE_TSAN=ON \
    "${sanitizer_flags[@]}" -DHAYATE_CUDA=OFF -DHAYATE_BUILD_BENCH=OFF -DHAYATE_BUILD_INTEGRATION_TESTS=OFF >/dev/null
  cmake --build build-tsan -j"$jobs" --target "${tsan_tests[@]}"
  for t in "${tsan_tests[@]}"; do
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" "build-tsan/bin/$t" --gtest_brief=1
  done
fi
