// AVX2 kernels of the packed k-quant formats (quant/packed.h): tile_x16.h's kernels with a lane
// block of 8 rows (half a group). vpdpbusd becomes maddubs + madd: the codes are below 64, so
// maddubs's int16 pair sums (at most 2 × 63 × 127) cannot saturate.
#include "quant/kernels.h"
#include "quant/simd_avx2.h"
#include "quant/tile_x16.h"

namespace hayate::quant::detail {
namespace {

struct Avx2 {
  static constexpr int64_t kLanes = 8;
  using I = __m256i;
  using F = __m256;
  static I zero() { return _mm256_setzero_si256(); }
  static F fzero() { return _mm256_setzero_ps(); }
  static I load(const void* p) { return load256(p); }
  static I bcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  static I set8(char v) { return _mm256_set1_epi8(v); }
  static I set32(int v) { return _mm256_set1_epi32(v); }
  static I and_(I a, I b) { return _mm256_and_si256(a, b); }
  static I or_(I a, I b) { return _mm256_or_si256(a, b); }
  static I srli16(I a, int n) { return _mm256_srli_epi16(a, n); }
  static I slli16(I a, int n) { return _mm256_slli_epi16(a, n); }
  static I slli32(I a, int n) { return _mm256_slli_epi32(a, n); }
  static I add(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I mullo(I a, I b) { return _mm256_mullo_epi32(a, b); }
  static I dot_u8s8(I acc, I u, I s) { return _mm256_add_epi32(acc, dot_u8_s8(u, s)); }
  static I dot_s16(I acc, I a, I b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
  static I u8s(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static I s8s(const uint8_t* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static F halves(const uint8_t* p) { return _mm256_cvtph_ps(load128(p)); }
  static F cvt(I a) { return _mm256_cvtepi32_ps(a); }
  static F fset1(float v) { return _mm256_set1_ps(v); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  static void store_rows(float* o, F v, int64_t valid) {
    if (valid >= kLanes) {
      _mm256_storeu_ps(o, v);
      return;
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    for (int64_t i = 0; i < valid; ++i) o[i] = lanes[i];
  }
};

}  // namespace

// Shapes: 1 × 4 was the best of a sweep on Zen 5 (1 core, 2048 × 2048, 64 tokens, CPU time,
// G Mac/s): q4_Kx16 90 (1×2 85, 2×2 89, 1×3 89), q6_Kx16 85 (1×2 70, 2×2 76); the file
// layout's AVX2 tiles did 67 and 58.
HAYATE_PACKED_TILE(tile_q4_kx16_avx2, Avx2, QKx16<Avx2, false, 2, 1>, QKx16<Avx2, false, 1, 4>)
HAYATE_PACKED_TILE(tile_q5_kx16_avx2, Avx2, QKx16<Avx2, true, 2, 1>, QKx16<Avx2, true, 1, 4>)
HAYATE_PACKED_TILE(tile_q6_kx16_avx2, Avx2, Q6Kx16<Avx2, 2, 1>, Q6Kx16<Avx2, 1, 4>)

}  // namespace hayate::quant::detail
