// AVX2 kernels of the packed formats (quant/packed.h): tile_x16.h's kernels with a lane block of
// 8 rows (half a group). vpdpbusd becomes maddubs + madd: the codes are below 64, so maddubs's
// int16 pair sums (at most 2 × 63 × 128) cannot saturate; within a sub-block the maddubs
// results add up as int16 and one madd by the scale finishes them (sub_dot / sub_scaled).
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
  // maddubs results summed as int16, then one madd with (scale, scale) pairs: the same exact
  // int32 total as dot_u8s8 + mullo with about half the multiplies. The int16 sums cannot wrap:
  // a maddubs lane is at most 2 × 15 × 128 = 3,840 for 4-bit codes, 8 of them 30,720; 2 × 63
  // × 128 = 16,128 for 6-bit ones, 2 of them (kSixBitRun) 32,256.
  static constexpr int kSixBitRun = 2;
  // The empty asm keeps each step's sum in its register: left free, GCC reassociates the chain
  // into a tree whose many partial products spill to the stack (about a third of the loop).
  static I sub_dot(I acc, I u, I s) {
    I sum = _mm256_add_epi16(acc, _mm256_maddubs_epi16(u, s));
    asm("" : "+x"(sum));
    return sum;
  }
  static I sub_scale_of(I scale) { return _mm256_blend_epi16(scale, _mm256_slli_epi32(scale, 16), 0xAA); }
  static I sub_scaled(I sum, I scale) { return _mm256_madd_epi16(sum, scale); }
  static I u8s(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static I s8s(const uint8_t* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static F halves(const uint8_t* p) { return _mm256_cvtph_ps(load128(p)); }
  static F bf16s(const uint8_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
  }
  static F cvt(I a) { return _mm256_cvtepi32_ps(a); }
  static F fset1(float v) { return _mm256_set1_ps(v); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
  // Branch-free and with no local array, so GCC keeps a tile's accumulators in registers
  // (a lane copy loop here kept them in memory: a store per accumulator per column).
  static void store_rows(float* o, F v, int64_t valid) {
    const int wanted = static_cast<int>(std::clamp<int64_t>(valid, 0, kLanes));
    const I mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(wanted), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(o, mask, v);
  }
};

}  // namespace

// Shapes: a sweep on Zen 5 (quant_dot_bench prompt/: 1 core, 2048 × 2048 × 512 tokens in the
// backend's 64 × 64 tasks, G Mac/s, 2 runs, machine shared), with the int16 sub-block sums and
// the branch-free store: q4_Kx16 1×4 102-112 (1×2 100, 1×3 87, 2×2 88-98, 2×3 94-103),
// q6_Kx16 1×4 65-66 (1×2 37-57, 1×3 62-64, 2×2 35-40), f16x16 3×4 52 (2×6 50-52, 2×5 43-49,
// 2×4 44-48, 1×8 33-39, 4×3 23: spills). Before them (same bench, same sitting): q4_Kx16 1×4
// 53-71, q6_Kx16 1×4 44-53, and the file layout's F16 tile 24.
HAYATE_PACKED_TILE(tile_q4_kx16_avx2, Avx2, QKx16<Avx2, false, 2, 1>, QKx16<Avx2, false, 1, 4>)
HAYATE_PACKED_TILE(tile_q5_kx16_avx2, Avx2, QKx16<Avx2, true, 2, 1>, QKx16<Avx2, true, 1, 4>)
HAYATE_PACKED_TILE(tile_q6_kx16_avx2, Avx2, Q6Kx16<Avx2, 2, 1>, Q6Kx16<Avx2, 1, 4>)
HAYATE_PACKED_TILE(tile_f16x16_avx2, Avx2, FloatX16<Avx2, false, 2, 1>, FloatX16<Avx2, false, 3, 4>)
HAYATE_PACKED_TILE(tile_bf16x16_avx2, Avx2, FloatX16<Avx2, true, 2, 1>, FloatX16<Avx2, true, 3, 4>)

}  // namespace hayate::quant::detail
