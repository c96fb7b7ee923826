// AVX-512 dot products of F32 / F16 / BF16 weights with F32 activations. Tails use masked
// loads, so any n works without a scalar loop.
// GCC 12's AVX-512 intrinsic headers use _mm512_undefined_*() in ways that trip
// -Wuninitialized once inlined (GCC bug 105593, fixed in 12.3); the pragma must precede them.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "quant/kernels.h"
#include "quant/simd_avx2.h"

namespace hayate::quant::detail {
namespace {

struct LoadF32 {
  static __m512 load(const void* x, int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(x) + i); }
  static __m512 load(const void* x, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(x) + i);
  }
};
struct LoadF16 {
  static __m512 load(const void* x, int64_t i) { return _mm512_cvtph_ps(load256(static_cast<const uint16_t*>(x) + i)); }
  static __m512 load(const void* x, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(x) + i));
  }
};
struct LoadBF16 {
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const void* x, int64_t i) { return widen(load256(static_cast<const uint16_t*>(x) + i)); }
  static __m512 load(const void* x, int64_t i, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(x) + i));
  }
};

template <class Load>
void dot_float(int64_t n, float* s, const void* x, const void* yv) {
  const auto* y = static_cast<const float*>(yv);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_fmadd_ps(Load::load(x, i), _mm512_loadu_ps(y + i), acc0);
    acc1 = _mm512_fmadd_ps(Load::load(x, i + 16), _mm512_loadu_ps(y + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(Load::load(x, i + 32), _mm512_loadu_ps(y + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(Load::load(x, i + 48), _mm512_loadu_ps(y + i + 48), acc3);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(Load::load(x, i), _mm512_loadu_ps(y + i), acc0);
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc1 = _mm512_fmadd_ps(Load::load(x, i, m), _mm512_maskz_loadu_ps(m, y + i), acc1);
  }
  *s = hsum_ps512(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

}  // namespace

void dot_f32_avx512(int64_t n, float* s, const void* x, const void* y) { dot_float<LoadF32>(n, s, x, y); }
void dot_f16_avx512(int64_t n, float* s, const void* x, const void* y) { dot_float<LoadF16>(n, s, x, y); }
void dot_bf16_avx512(int64_t n, float* s, const void* x, const void* y) { dot_float<LoadBF16>(n, s, x, y); }

}  // namespace hayate::quant::detail
