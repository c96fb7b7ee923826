// AVX-512 kernels of the packed formats (quant/packed.h): G groups of 16 rows × C tokens per
// micro-kernel, lane r of every vector being row r of its group. Integer formats multiply u8
// codes by broadcast int8 activation words with vpdpbusd (64 products per instruction), sum a
// sub-block exactly in int32 and scale once per sub-block or block; float formats broadcast one
// activation per column against the 16 rows' weights. The k-quant and float kernels are
// tile_x16.h's, instantiated here for AVX-512.
//
// Batch invariance: a (row, token) pair's lane sees the same operations in the same order
// whatever G and C are and wherever the pair sits in the tile.
// GCC 12's AVX-512 intrinsic headers use _mm512_undefined_*() in ways that trip
// -Wuninitialized once inlined (GCC bug 105593, fixed in 12.3); the pragma must precede them.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "quant/kernels.h"
#include "quant/packed.h"
#include "quant/simd_avx2.h"
#include "quant/tile_x16.h"

namespace hayate::quant::detail {
namespace {

// The instruction set of tile_x16.h's kernels: a lane block is a whole group.
struct Avx512 {
  static constexpr int64_t kLanes = 16;
  using I = __m512i;
  using F = __m512;
  static I zero() { return _mm512_setzero_si512(); }
  static F fzero() { return _mm512_setzero_ps(); }
  static I load(const void* p) { return _mm512_loadu_si512(p); }
  static I bcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static I set8(char v) { return _mm512_set1_epi8(v); }
  static I set32(int v) { return _mm512_set1_epi32(v); }
  static I and_(I a, I b) { return _mm512_and_si512(a, b); }
  static I or_(I a, I b) { return _mm512_or_si512(a, b); }
  static I srli16(I a, int n) { return _mm512_srli_epi16(a, static_cast<unsigned>(n)); }
  static I slli16(I a, int n) { return _mm512_slli_epi16(a, static_cast<unsigned>(n)); }
  static I slli32(I a, int n) { return _mm512_slli_epi32(a, static_cast<unsigned>(n)); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I mullo(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I dot_u8s8(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static I dot_s16(I acc, I a, I b) { return _mm512_dpwssd_epi32(acc, a, b); }
  static constexpr int kSixBitRun = 4;
  static I sub_dot(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static I sub_scale_of(I scale) { return scale; }
  static I sub_scaled(I sum, I scale) { return _mm512_mullo_epi32(sum, scale); }
  static I u8s(const uint8_t* p) { return _mm512_cvtepu8_epi32(load128(p)); }
  static I s8s(const uint8_t* p) { return _mm512_cvtepi8_epi32(load128(p)); }
  static F halves(const uint8_t* p) { return _mm512_cvtph_ps(load256(p)); }
  static F bf16s(const uint8_t* p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load256(p)), 16));
  }
  static F cvt(I a) { return _mm512_cvtepi32_ps(a); }
  static F fset1(float v) { return _mm512_set1_ps(v); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static void store_rows(float* o, F v, int64_t valid) {
    if (valid >= kLanes)
      _mm512_storeu_ps(o, v);
    else
      _mm512_mask_storeu_ps(o, static_cast<__mmask16>((1u << valid) - 1), v);
  }
};

using Groups = LaneTile<Avx512>;
constexpr size_t kQ8_0BlockBytes = 32 + 16 * 32;  // scales, 8 chunks of 64

// ---- q8_0x16: offset codes × Q8_0 activations with their sums -------------------------------

template <int kGroups, int kToks>
struct Q8_0x16 {
  static constexpr int kG = kGroups, kC = kToks;
  template <int G, int C>
  static void run(const Groups& t, int64_t rows) {
    __m512 acc[G][C];
    fill(acc, _mm512_setzero_ps());
    for (int64_t i = 0; i < t.n / kBlock32; ++i) {
      const uint8_t* wb[G];
      for (int g = 0; g < G; ++g) {
        wb[g] = t.group(g) + static_cast<size_t>(i) * kQ8_0BlockBytes;
        prefetch<C>(wb[g], kQ8_0BlockBytes);
      }
      // The sums start at the activation offset's negative, so they end exact with no
      // subtraction (integer sums: the same bits in any order).
      __m512i isum[G][C];
      for (int c = 0; c < C; ++c) {
        const __m512i offset = _mm512_set1_epi32(-t.act<BlockQ8_0Sum>(c)[i].sum128);
        for (int g = 0; g < G; ++g) isum[g][c] = offset;
      }
      for (int k = 0; k < 8; ++k) {
        __m512i w[G];
        for (int g = 0; g < G; ++g) w[g] = Avx512::load(wb[g] + 32 + 64 * k);
        for (int c = 0; c < C; ++c) {
          const __m512i a = Avx512::bcast32(t.act<BlockQ8_0Sum>(c)[i].qs + 4 * k);
          for (int g = 0; g < G; ++g) isum[g][c] = _mm512_dpbusd_epi32(isum[g][c], w[g], a);
        }
      }
      for (int g = 0; g < G; ++g) {
        const __m512 dw = _mm512_cvtph_ps(load256(wb[g]));
        for (int c = 0; c < C; ++c) {
          const __m512 da = _mm512_set1_ps(t.act<BlockQ8_0Sum>(c)[i].d);
          acc[g][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum[g][c]), acc[g][c]);
        }
      }
    }
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) t.put(g, c, acc[g][c], rows);
  }
};

}  // namespace

// Shapes: G × C accumulators (plus the integer sums) within the 32 zmm registers, the best of
// a sweep on Zen 5 (1 core, 2048 × 2048, 64 tokens, best of 5; G Mac/s, under load): q8_0x16
// 2×8 401 (1×12 294, 3×4 377), q4_Kx16 2×4 368 (1×6 287, 3×3 322), q6_Kx16 1×8 265 (1×4 225,
// 2×4 248), f16x16 4×6 134 (2×12 131: the FMA ports' peak is about 135). One token (decoding)
// takes two groups: from DRAM (16384 × 4096, CPU time) q8_0x16 45 GB/s at 2 against 40 at 4.
HAYATE_PACKED_TILE(tile_q8_0x16_avx512, Avx512, Q8_0x16<2, 1>, Q8_0x16<2, 8>)
HAYATE_PACKED_TILE(tile_q4_kx16_avx512, Avx512, QKx16<Avx512, false, 2, 1>, QKx16<Avx512, false, 2, 4>)
HAYATE_PACKED_TILE(tile_q5_kx16_avx512, Avx512, QKx16<Avx512, true, 2, 1>, QKx16<Avx512, true, 2, 4>)
HAYATE_PACKED_TILE(tile_q6_kx16_avx512, Avx512, Q6Kx16<Avx512, 2, 1>, Q6Kx16<Avx512, 1, 8>)
HAYATE_PACKED_TILE(tile_f16x16_avx512, Avx512, FloatX16<Avx512, false, 2, 1>, FloatX16<Avx512, false, 4, 6>)
HAYATE_PACKED_TILE(tile_bf16x16_avx512, Avx512, FloatX16<Avx512, true, 2, 1>, FloatX16<Avx512, true, 4, 6>)

}  // namespace hayate::quant::detail
