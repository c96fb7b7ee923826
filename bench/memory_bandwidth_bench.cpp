// Read bandwidth of this machine, the ceiling of token generation (each token streams every
// weight through the cores once): AVX2 loads over a 2 GiB buffer, split between 1 or 2
// threads. bytes_per_second is the total over all threads (real time).
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <memory>

namespace {

constexpr size_t kBytes = size_t{2} << 30;

uint8_t* buffer() {
  static std::unique_ptr<uint8_t[]> buf = [] {
    std::unique_ptr<uint8_t[]> b(new uint8_t[kBytes]);
    std::memset(b.get(), 1, kBytes);  // touch every page before timing
    return b;
  }();
  return buf.get();
}

__attribute__((target("avx2"))) int64_t read_avx2(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  return _mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1) + _mm256_extract_epi64(s, 2) +
         _mm256_extract_epi64(s, 3);
}

void BM_Read(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx2")) {
    state.SkipWithError("no AVX2 on this CPU");
    return;
  }
  uint8_t* base = buffer();
  const size_t slice = kBytes / static_cast<size_t>(state.threads()) / 4096 * 4096;
  const uint8_t* p = base + slice * static_cast<size_t>(state.thread_index());
  for (auto _ : state) benchmark::DoNotOptimize(read_avx2(p, slice));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(slice));
}

}  // namespace

BENCHMARK(BM_Read)
    ->Name("read_2GiB")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);
