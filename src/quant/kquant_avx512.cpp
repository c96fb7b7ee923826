// AVX-512 dot products of the k-quants against Q8_K activations.
//
// Same arithmetic as kquant_avx2.cpp, 64 weights per step: the unsigned codes times the
// activations by maddubs (pairwise int16; lane k covers weights 2k and 2k+1), then vpdpwssd
// (VNNI) multiplies each int16 lane by its sub-block level and accumulates into int32. The
// level vector is gathered from a 16-entry table with vpermw: lane k of a step starting at
// weight 64c needs the level of group (64c + 2k) / 16, or / 32 for the 32-weight sub-blocks.
// GCC 12's AVX-512 intrinsic headers use _mm512_undefined_*() in ways that trip
// -Wuninitialized once inlined (GCC bug 105593, fixed in 12.3); the pragma must precede them.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/simd_avx2.h"

namespace hayate::quant::detail {
namespace {

inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// Table lane of each int16 lane of a 64-weight step: `first + k / per_group_lanes`.
inline __m512i level_index(int first, int lanes_per_group) {
  alignas(64) int16_t idx[32];
  for (int k = 0; k < 32; ++k) idx[k] = static_cast<int16_t>(first + k / lanes_per_group);
  return _mm512_load_si512(idx);
}

struct Indices {
  __m512i of16[4];  // 16-weight groups: step s of a super-block starts at group 4s
  __m512i of32[4];  // 32-weight groups: step s starts at group 2s
  Indices() {
    for (int s = 0; s < 4; ++s) {
      of16[s] = level_index(4 * s, 8);
      of32[s] = level_index(2 * s, 16);
    }
  }
};

const Indices& indices() {
  static const Indices idx;
  return idx;
}

// One 64-weight step: isum += Σ level[group] * code * y.
inline __m512i step(__m512i isum, __m512i codes, const int8_t* y, __m512i table, __m512i index) {
  const __m512i pairs = _mm512_maddubs_epi16(codes, _mm512_loadu_si512(y));
  return _mm512_dpwssd_epi32(isum, pairs, _mm512_permutexvar_epi16(index, table));
}

inline float finish(__m512 acc, float scalar_part) { return hsum_ps512(acc) - scalar_part; }

}  // namespace

void dot_q2_k_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ2_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  const Indices& ix = indices();
  const __m256i three = _mm256_set1_epi8(3);
  __m512 acc = _mm512_setzero_ps();
  float min_part = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const __m128i sm = load128(a[i].scales);
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(0x0F)));
    const int msum = hsum_epi32(_mm256_madd_epi16(mins, load256(b[i].bsums)));
    const __m512i table = _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sm, _mm_set1_epi8(0x0F))));
    __m512i isum = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      const __m256i qv = load256(a[i].qs + 32 * h);
      const __m512i c01 = join(_mm256_and_si256(qv, three), _mm256_and_si256(_mm256_srli_epi16(qv, 2), three));
      const __m512i c23 =
          join(_mm256_and_si256(_mm256_srli_epi16(qv, 4), three), _mm256_and_si256(_mm256_srli_epi16(qv, 6), three));
      isum = step(isum, c01, b[i].qs + 128 * h, table, ix.of16[2 * h]);
      isum = step(isum, c23, b[i].qs + 128 * h + 64, table, ix.of16[2 * h + 1]);
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(b[i].d * half_to_float(a[i].d)), _mm512_cvtepi32_ps(isum), acc);
    min_part += b[i].d * half_to_float(a[i].dmin) * static_cast<float>(msum);
  }
  *s = finish(acc, min_part);
}

void dot_q3_k_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ3_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  const Indices& ix = indices();
  const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    uint64_t biased[2];
    q3k_unpack(a[i].scales, biased);
    const __m256i level16 = q3k_levels(biased);
    const __m512i table = _mm512_zextsi256_si512(level16);
    // codes are low + 4*high in 0..7; the "- 4" goes through the group sums.
    const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(level16, load256(b[i].bsums)), 2);
    __m512i isum = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr));
    __m256i hm = load256(a[i].hmask);
    for (int h = 0; h < 2; ++h) {
      __m256i qv = load256(a[i].qs + 32 * h);
      __m256i codes[4];
      for (int j = 0; j < 4; ++j) {
        codes[j] = _mm256_or_si256(_mm256_and_si256(qv, three), _mm256_slli_epi16(_mm256_and_si256(hm, one), 2));
        qv = _mm256_srli_epi16(qv, 2);
        hm = _mm256_srli_epi16(hm, 1);
      }
      isum = step(isum, join(codes[0], codes[1]), b[i].qs + 128 * h, table, ix.of16[2 * h]);
      isum = step(isum, join(codes[2], codes[3]), b[i].qs + 128 * h + 64, table, ix.of16[2 * h + 1]);
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(b[i].d * half_to_float(a[i].d)), _mm512_cvtepi32_ps(isum), acc);
  }
  *s = finish(acc, 0);
}

namespace {

// Q4_K and Q5_K share everything but the fifth bit.
template <bool kFifthBit, class Block>
void dot_k4_like(int64_t n, float* s, const Block* a, const BlockQ8_K* b) {
  const Indices& ix = indices();
  const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  __m512 acc = _mm512_setzero_ps();
  __m256 acc_min = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    uint64_t scales, mins;
    k4_unpack(a[i].scales, &scales, &mins);
    const __m512i table = _mm512_zextsi128_si512(levels_epu16(scales));
    __m512i isum = _mm512_setzero_si512();
    __m256i hbits = _mm256_setzero_si256();
    if constexpr (kFifthBit) hbits = load256(a[i].qh);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(a[i].qs + 32 * c);
      __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kFifthBit) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4));
        hbits = _mm256_srli_epi16(hbits, 2);
      }
      isum = step(isum, join(lo, hi), b[i].qs + 64 * c, table, ix.of32[c]);
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(b[i].d * half_to_float(a[i].d)), _mm512_cvtepi32_ps(isum), acc);
    acc_min = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].dmin)),
                              _mm256_cvtepi32_ps(k4_min_sums(mins, b[i].bsums)), acc_min);
  }
  *s = finish(acc, hsum_ps(acc_min));
}

}  // namespace

void dot_q4_k_avx512(int64_t n, float* s, const void* x, const void* y) {
  dot_k4_like<false>(n, s, static_cast<const BlockQ4_K*>(x), static_cast<const BlockQ8_K*>(y));
}

void dot_q5_k_avx512(int64_t n, float* s, const void* x, const void* y) {
  dot_k4_like<true>(n, s, static_cast<const BlockQ5_K*>(x), static_cast<const BlockQ8_K*>(y));
}

void dot_q6_k_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ6_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  const Indices& ix = indices();
  const __m512i low4 = _mm512_set1_epi8(0x0F), three = _mm512_set1_epi8(3);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const __m256i level16 = _mm256_cvtepi8_epi16(load128(a[i].scales));
    const __m512i table = _mm512_zextsi256_si512(level16);
    // codes are 0..63; the "- 32" goes through the group sums.
    const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(level16, load256(b[i].bsums)), 5);
    __m512i isum = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr));
    for (int h = 0; h < 2; ++h) {
      // Low nibbles of ql[64h..64h+64) are weights 0..63 of this half, high nibbles 64..127;
      // their top bits are qh bits 0-1 / 2-3 (first 64) and 4-5 / 6-7 (last 64).
      const __m512i ql = _mm512_loadu_si512(a[i].ql + 64 * h);
      const __m256i qh = load256(a[i].qh + 32 * h);
      const __m512i top01 = join(qh, _mm256_srli_epi16(qh, 2));
      const __m512i top23 = join(_mm256_srli_epi16(qh, 4), _mm256_srli_epi16(qh, 6));
      const __m512i first =
          _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_slli_epi16(_mm512_and_si512(top01, three), 4));
      const __m512i second = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                             _mm512_slli_epi16(_mm512_and_si512(top23, three), 4));
      isum = step(isum, first, b[i].qs + 128 * h, table, ix.of16[2 * h]);
      isum = step(isum, second, b[i].qs + 128 * h + 64, table, ix.of16[2 * h + 1]);
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(b[i].d * half_to_float(a[i].d)), _mm512_cvtepi32_ps(isum), acc);
  }
  *s = finish(acc, 0);
}

}  // namespace hayate::quant::detail
