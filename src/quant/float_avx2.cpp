// AVX2 + FMA + F16C dot products of F32 / F16 / BF16 weights with F32 activations.
#include "quant/kernels.h"
#include "quant/simd_avx2.h"

namespace hayate::quant::detail {
namespace {

// Four independent accumulators hide the FMA latency; any n works (scalar tail).
template <class Load>
void dot_float(int64_t n, float* s, const void* x, const void* yv) {
  const auto* y = static_cast<const float*>(yv);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(Load::load(x, i), _mm256_loadu_ps(y + i), acc0);
    acc1 = _mm256_fmadd_ps(Load::load(x, i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(Load::load(x, i + 16), _mm256_loadu_ps(y + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(Load::load(x, i + 24), _mm256_loadu_ps(y + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(Load::load(x, i), _mm256_loadu_ps(y + i), acc0);
  float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += Load::scalar(x, i) * y[i];
  *s = sum;
}

}  // namespace

void dot_f32_avx2(int64_t n, float* s, const void* x, const void* y) { dot_float<LoadF32x8>(n, s, x, y); }
void dot_f16_avx2(int64_t n, float* s, const void* x, const void* y) { dot_float<LoadF16x8>(n, s, x, y); }
void dot_bf16_avx2(int64_t n, float* s, const void* x, const void* y) { dot_float<LoadBF16x8>(n, s, x, y); }

}  // namespace hayate::quant::detail
