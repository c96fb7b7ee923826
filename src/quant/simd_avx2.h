// Internal: small AVX2 helpers shared by the *_avx2.cpp and *_avx512.cpp kernels.
// Include only from files compiled with -mavx2 -mfma -mf16c (see cmake/modules.cmake).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace hayate::quant::detail {

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Σ over pairs of u8 × s8 products, widened to 8 int32 lanes (4 pairs per lane).
inline __m256i dot_u8_s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed × signed bytes via |a| and sign-transferred b (valid while no byte of b is -128).
inline __m256i dot_s8_s8(__m256i a, __m256i b) { return dot_u8_s8(_mm256_abs_epi8(a), _mm256_sign_epi8(b, a)); }

// A vector of 16 int16: the low 8 lanes (bytes 0..15) `lo`, the high 8 `hi`.
inline __m256i two_halves_epi16(int lo, int hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi)), _mm_set1_epi16(static_cast<int16_t>(lo)));
}

}  // namespace hayate::quant::detail
