// AVX2 dot products of the k-quants against Q8_K activations.
//
// The codes are unpacked to unsigned bytes (offsets such as Q6_K's -32 are applied through
// Q8_K's group sums, as in the scalar kernels), multiplied with the signed activations by
// maddubs (u8 × s8 → pairwise int16, which cannot saturate for codes < 64), and weighted by
// their sub-block level with madd (int16 × int16 → int32). A 32-byte vector of activations
// spans two 16-weight groups, one per 128-bit lane, hence two_halves_epi16 for the levels.
#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/simd_avx2.h"

namespace hayate::quant::detail {
namespace {

inline __m256i weighted(__m256i codes, const int8_t* y, __m256i levels) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, load256(y)), levels);
}

}  // namespace

void dot_q2_k_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ2_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  const __m256i three = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const __m128i sm = load128(a[i].scales);
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(0x0F)));
    const __m256i msum = _mm256_madd_epi16(mins, load256(b[i].bsums));
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      __m256i qv = load256(a[i].qs + 32 * h);
      for (int j = 0; j < 4; ++j) {
        const int k = 8 * h + 2 * j;
        const __m256i levels = two_halves_epi16(a[i].scales[k] & 0x0F, a[i].scales[k + 1] & 0x0F);
        isum = _mm256_add_epi32(isum, weighted(_mm256_and_si256(qv, three), b[i].qs + 128 * h + 32 * j, levels));
        qv = _mm256_srli_epi16(qv, 2);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
    acc_min = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].dmin)), _mm256_cvtepi32_ps(msum), acc_min);
  }
  *s = hsum_ps(acc) - hsum_ps(acc_min);
}

void dot_q3_k_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ3_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    uint64_t biased[2];
    q3k_unpack(a[i].scales, biased);
    const __m256i level16 = q3k_levels(biased);
    auto level = [&biased](int k) { return static_cast<int>((biased[k / 8] >> (8 * (k % 8))) & 0xff) - 32; };
    __m256i hm = load256(a[i].hmask);
    // codes are low + 4*high in 0..7; the "- 4" goes through the group sums.
    __m256i isum =
        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(level16, load256(b[i].bsums)), 2));
    for (int h = 0; h < 2; ++h) {
      __m256i qv = load256(a[i].qs + 32 * h);
      for (int j = 0; j < 4; ++j) {
        const int k = 8 * h + 2 * j;
        const __m256i codes =
            _mm256_or_si256(_mm256_and_si256(qv, three), _mm256_slli_epi16(_mm256_and_si256(hm, one), 2));
        isum = _mm256_add_epi32(isum,
                                weighted(codes, b[i].qs + 128 * h + 32 * j, two_halves_epi16(level(k), level(k + 1))));
        qv = _mm256_srli_epi16(qv, 2);
        hm = _mm256_srli_epi16(hm, 1);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  *s = hsum_ps(acc);
}

void dot_q4_k_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ4_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    uint64_t scales, mins;
    k4_unpack(a[i].scales, &scales, &mins);
    auto level = [scales](int j) { return _mm256_set1_epi16(static_cast<int16_t>((scales >> (8 * j)) & 0xff)); };
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(a[i].qs + 32 * c);
      const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      isum = _mm256_add_epi32(isum, weighted(lo, b[i].qs + 64 * c, level(2 * c)));
      isum = _mm256_add_epi32(isum, weighted(hi, b[i].qs + 64 * c + 32, level(2 * c + 1)));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
    acc_min = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].dmin)),
                              _mm256_cvtepi32_ps(k4_min_sums(mins, b[i].bsums)), acc_min);
  }
  *s = hsum_ps(acc) - hsum_ps(acc_min);
}

void dot_q5_k_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ5_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    uint64_t scales, mins;
    k4_unpack(a[i].scales, &scales, &mins);
    auto level = [scales](int j) { return _mm256_set1_epi16(static_cast<int16_t>((scales >> (8 * j)) & 0xff)); };
    __m256i hbits = load256(a[i].qh);  // bit 0 feeds the low nibbles of chunk c, bit 1 the high
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(a[i].qs + 32 * c);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low4), _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4));
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4));
      isum = _mm256_add_epi32(isum, weighted(lo, b[i].qs + 64 * c, level(2 * c)));
      isum = _mm256_add_epi32(isum, weighted(hi, b[i].qs + 64 * c + 32, level(2 * c + 1)));
      hbits = _mm256_srli_epi16(hbits, 2);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
    acc_min = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].dmin)),
                              _mm256_cvtepi32_ps(k4_min_sums(mins, b[i].bsums)), acc_min);
  }
  *s = hsum_ps(acc) - hsum_ps(acc_min);
}

void dot_q6_k_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ6_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  const __m256i low4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const __m256i level16 = _mm256_cvtepi8_epi16(load128(a[i].scales));
    // codes are 0..63; the "- 32" goes through the group sums.
    __m256i isum =
        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(level16, load256(b[i].bsums)), 5));
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(a[i].ql + 64 * h), ql1 = load256(a[i].ql + 64 * h + 32);
      const __m256i qh = load256(a[i].qh + 32 * h);
      const __m256i codes[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4)),
          _mm256_or_si256(_mm256_and_si256(ql1, low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4)),
      };
      for (int g = 0; g < 4; ++g) {
        const int k = 8 * h + 2 * g;
        const __m256i levels = two_halves_epi16(a[i].scales[k], a[i].scales[k + 1]);
        isum = _mm256_add_epi32(isum, weighted(codes[g], b[i].qs + 128 * h + 32 * g, levels));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(b[i].d * half_to_float(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  *s = hsum_ps(acc);
}

}  // namespace hayate::quant::detail
