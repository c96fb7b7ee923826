// AVX-512 VNNI dot products of Q8_0 and Q4_0 against Q8_0: vpdpbusd (u8 × s8, four products
// summed into each int32 lane) on 256-bit vectors, one 32-weight block each. Pairing blocks into
// 512-bit vectors measured slower: the 34- and 18-byte blocks need extra inserts per pair.
// GCC 12's AVX-512 intrinsic headers use _mm512_undefined_*() in ways that trip
// -Wuninitialized once inlined (GCC bug 105593, fixed in 12.3); the pragma must precede them.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/simd_avx2.h"

namespace hayate::quant::detail {
namespace {

inline __m256i dot_s8_s8_256(__m256i a, __m256i b) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(a), _mm256_sign_epi8(b, a));
}

// The 32 nibbles of a Q4_0 block, one byte (0..15) per weight in element order.
inline __m256i q4_0_codes(const BlockQ4_0& blk) {
  const __m128i packed = load128(blk.qs);
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0F));
}

}  // namespace

void dot_q8_0_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ8_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  const int64_t nb = n / kBlock32;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m256i p0 = dot_s8_s8_256(load256(a[i].qs), load256(b[i].qs));
    const __m256i p1 = dot_s8_s8_256(load256(a[i + 1].qs), load256(b[i + 1].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(a[i].d) * half_to_float(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(a[i + 1].d) * half_to_float(b[i + 1].d)),
                           _mm256_cvtepi32_ps(p1), acc1);
  }
  if (i < nb) {
    const __m256i p0 = dot_s8_s8_256(load256(a[i].qs), load256(b[i].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(a[i].d) * half_to_float(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
  }
  *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

void dot_q4_0_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ4_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  const int64_t nb = n / kBlock32;
  const __m256i eight = _mm256_set1_epi8(8), zero = _mm256_setzero_si256();
  // codes are value + 8 (0..15): Σ code*y - 8 Σ y, both by vpdpbusd.
  auto block = [&](int64_t k) {
    const __m256i act = load256(b[k].qs);
    const __m256i p =
        _mm256_sub_epi32(_mm256_dpbusd_epi32(zero, q4_0_codes(a[k]), act), _mm256_dpbusd_epi32(zero, eight, act));
    return _mm256_cvtepi32_ps(p);
  };
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(a[i].d) * half_to_float(b[i].d)), block(i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(a[i + 1].d) * half_to_float(b[i + 1].d)), block(i + 1), acc1);
  }
  if (i < nb) acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(a[i].d) * half_to_float(b[i].d)), block(i), acc0);
  *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

}  // namespace hayate::quant::detail
