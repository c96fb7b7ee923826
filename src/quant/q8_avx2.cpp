// AVX2 kernels of the 32-weight block formats: Q8_0 and Q4_0 dots against Q8_0, and the fast
// activation quantizers (Q8_0, Q8_K) that must match the reference ones bit for bit.
#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/simd_avx2.h"

namespace hayate::quant::detail {
namespace {

inline float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// 32 floats times `inv`, rounded to nearest even, stored as 32 int8 (the same arithmetic as
// the reference: one multiply, one rounding). Also returns the four 8-lane int32 vectors.
inline void round_store_32(const float* x, __m256 inv, int8_t* q, __m256i out[4]) {
  for (int k = 0; k < 4; ++k) out[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), inv));
  const __m256i p01 = _mm256_packs_epi32(out[0], out[1]);
  const __m256i p23 = _mm256_packs_epi32(out[2], out[3]);
  // packs work per 128-bit lane; undo the interleaving of the two lanes.
  const __m256i bytes =
      _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), bytes);
}

}  // namespace

void quantize_q8_0_avx2(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    const float* x = src + i * kBlock32;
    __m256 m = abs_ps(_mm256_loadu_ps(x));
    for (int k = 1; k < 4; ++k) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + 8 * k)));
    const float amax = hmax_ps(m);
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    __m256i lanes[4];
    round_store_32(x, _mm256_set1_ps(inv), b[i].qs, lanes);
    b[i].d = half_from_float(amax / 127.0f);
  }
}

void quantize_q8_k_avx2(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const float* x = src + i * kSuperBlock;
    __m256 m = abs_ps(_mm256_loadu_ps(x));
    for (int k = 1; k < 32; ++k) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + 8 * k)));
    const float amax = hmax_ps(m);
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int g = 0; g < 8; ++g) {
      __m256i lanes[4];
      round_store_32(x + 32 * g, vinv, b[i].qs + 32 * g, lanes);
      b[i].bsums[2 * g] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(lanes[0], lanes[1])));
      b[i].bsums[2 * g + 1] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(lanes[2], lanes[3])));
    }
    b[i].d = amax / 127.0f;
  }
}

void dot_q8_0_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ8_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    const __m256i p = dot_s8_s8(load256(a[i].qs), load256(b[i].qs));
    const __m256 d = _mm256_set1_ps(half_to_float(a[i].d) * half_to_float(b[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum_ps(acc);
}

void dot_q4_0_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ4_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    const __m128i packed = load128(a[i].qs);
    // Low nibbles are elements 0..15, high nibbles 16..31.
    const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low4);
    const __m256i p = dot_s8_s8(_mm256_sub_epi8(nibbles, eight), load256(b[i].qs));
    const __m256 d = _mm256_set1_ps(half_to_float(a[i].d) * half_to_float(b[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum_ps(acc);
}

}  // namespace hayate::quant::detail
