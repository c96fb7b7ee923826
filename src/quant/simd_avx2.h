// Internal: small AVX2 helpers shared by the *_avx2.cpp and *_avx512.cpp kernels.
// Include only from files compiled with -mavx2 -mfma -mf16c (see cmake/modules.cmake).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant/blocks.h"

namespace hayate::quant::detail {
namespace {  // internal linkage, for the reason given in blocks.h

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

#ifdef __AVX512DQ__
// Instead of _mm512_reduce_add_ps, whose GCC 12 expansion trips -Wuninitialized.
inline float hsum_ps512(__m512 v) {
  return hsum_ps(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}
#endif

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Float weights as 8 f32 lanes from element i (load) or one float (scalar), for the dot and
// tile kernels of F32 / F16 / BF16 weights.
struct LoadF32x8 {
  static __m256 load(const void* x, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(x) + i); }
  static float scalar(const void* x, int64_t i) { return static_cast<const float*>(x)[i]; }
};
struct LoadF16x8 {
  static __m256 load(const void* x, int64_t i) { return _mm256_cvtph_ps(load128(static_cast<const uint16_t*>(x) + i)); }
  static float scalar(const void* x, int64_t i) { return half_to_float(static_cast<const uint16_t*>(x)[i]); }
};
struct LoadBF16x8 {
  static __m256 load(const void* x, int64_t i) {
    const __m256i wide = _mm256_cvtepu16_epi32(load128(static_cast<const uint16_t*>(x) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float scalar(const void* x, int64_t i) {
    const __m128i bits = _mm_cvtsi32_si128(static_cast<int>(static_cast<const uint16_t*>(x)[i]) << 16);
    return _mm_cvtss_f32(_mm_castsi128_ps(bits));
  }
};

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

// The 8 level bytes of a 64-bit word (see k4_unpack / q3k_unpack) as 8 uint16 lanes.
inline __m128i levels_epu16(uint64_t bytes) {
  return _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(bytes)));
}

// Q4_K / Q5_K: Σ_j min_j * (bsums[2j] + bsums[2j+1]) spread over 8 int32 lanes.
inline __m256i k4_min_sums(uint64_t mins, const int16_t* bsums) {
  const __m128i twice = _mm_shuffle_epi8(_mm_cvtsi64_si128(static_cast<long long>(mins)),
                                         _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
  return _mm256_madd_epi16(_mm256_cvtepu8_epi16(twice), load256(bsums));
}

// Q3_K: the 16 signed levels (-32..31) as int16 lanes, from q3k_unpack's output.
inline __m256i q3k_levels(const uint64_t biased[2]) {
  const __m128i bytes = _mm_set_epi64x(static_cast<long long>(biased[1]), static_cast<long long>(biased[0]));
  return _mm256_sub_epi16(_mm256_cvtepu8_epi16(bytes), _mm256_set1_epi16(32));
}

}  // namespace
}  // namespace hayate::quant::detail
