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

// Arithmetic peaks of one core, the ceiling of prompt processing: 12 independent chains of
// 8-lane FMAs (items = multiply-adds), and of the int8 step the quantized kernels use
// (maddubs + madd: 32 u8×s8 products summed into 8 int32, items = multiply-adds).
volatile float g_a = 0.999f, g_b = 0.001f;  // opaque to the compiler
volatile int g_u = 3;

__attribute__((target("avx2,fma"), noinline)) float fma_loop(int64_t n) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * g_b);
  const __m256 a = _mm256_set1_ps(g_a), b = _mm256_set1_ps(g_b);
  for (int64_t k = 0; k < n; ++k)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  return _mm256_cvtss_f32(s);
}

__attribute__((target("avx2"), noinline)) int int8_loop(int64_t n) {
  __m256i acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_set1_epi32(i * g_u);
  const __m256i u = _mm256_set1_epi8(static_cast<char>(g_u)), s8 = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  for (int64_t k = 0; k < n; ++k)
    for (int i = 0; i < 8; ++i)
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_add_epi8(s8, acc[i])), ones));
  __m256i t = acc[0];
  for (int i = 1; i < 8; ++i) t = _mm256_add_epi32(t, acc[i]);
  return _mm256_extract_epi32(t, 0);
}

void BM_FmaPeak(benchmark::State& state) {
  constexpr int64_t kIter = 1 << 22;
  for (auto _ : state) {
    int64_t n = kIter;
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(fma_loop(n));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kIter * 12 * 8);
}

void BM_Int8Peak(benchmark::State& state) {
  constexpr int64_t kIter = 1 << 22;
  for (auto _ : state) {
    int64_t n = kIter;
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(int8_loop(n));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kIter * 8 * 32);
}

}  // namespace

BENCHMARK(BM_FmaPeak)->Name("fma_f32_peak_1core")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Int8Peak)->Name("int8_maddubs_peak_1core")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Read)
    ->Name("read_2GiB")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);
