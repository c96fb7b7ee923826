// AVX-512 kernels of the packed formats (quant/packed.h): G groups of 16 rows × C tokens per
// micro-kernel, lane r of every vector being row r of its group. Integer formats multiply u8
// codes by broadcast int8 activation words with vpdpbusd (64 products per instruction), sum a
// sub-block exactly in int32 and scale once per sub-block or block; float formats broadcast one
// activation per column against the 16 rows' weights.
//
// Batch invariance: a (row, token) pair's lane sees the same operations in the same order
// whatever G and C are and wherever the pair sits in the tile.
// GCC 12's AVX-512 intrinsic headers use _mm512_undefined_*() in ways that trip
// -Wuninitialized once inlined (GCC bug 105593, fixed in 12.3); the pragma must precede them.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/packed.h"
#include "quant/simd_avx2.h"

namespace hayate::quant::detail {
namespace {

constexpr int64_t kRows = 16;
constexpr size_t kQ8_0BlockBytes = 32 + 16 * 32;  // scales, 8 chunks of 64
constexpr size_t kQ6KBlockBytes = 32 + 256 + 8 * 384;

// Where one micro-kernel reads and writes: `w` the first of its groups, `a` its first token.
struct Groups {
  int64_t n;
  const uint8_t* w;
  size_t gb;
  const uint8_t* a;
  size_t arb;
  float* out;
  int64_t os;
  const uint8_t* group(int g) const { return w + static_cast<size_t>(g) * gb; }
  template <class B>
  const B* act(int c) const {
    return reinterpret_cast<const B*>(a + static_cast<size_t>(c) * arb);
  }
  // Row lanes of group g for token c, only the `rows` still wanted (counted from group 0).
  void put(int g, int c, __m512 v, int64_t rows) const {
    float* o = out + c * os + g * kRows;
    const int64_t valid = rows - g * kRows;
    if (valid >= kRows)
      _mm512_storeu_ps(o, v);
    else
      _mm512_mask_storeu_ps(o, static_cast<__mmask16>((1u << valid) - 1), v);
  }
};

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// Asks for `bytes` of a group's stream `kAhead` bytes ahead of `p`, when a tile has one token
// (decoding, bound by DRAM): the decoding step of a block is long enough that the hardware
// prefetcher alone keeps too few lines in flight. From DRAM, one core, one token (CPU time):
// q6_Kx16 37 GB/s with it against 20 without, q4_Kx16 40 against 30; q8_0x16 40 either way.
// Batches read the weights from cache, and lose up to 9% to the extra instructions.
constexpr size_t kAhead = 4096;
template <int C>
inline void prefetch(const uint8_t* p, size_t bytes) {
  if constexpr (C == 1)
    for (size_t i = 0; i < bytes; i += 64) _mm_prefetch(reinterpret_cast<const char*>(p + kAhead + i), _MM_HINT_T0);
}
inline __m512i bcast32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <class K, int G, int C>
void call(const Groups& t, int64_t rows) {
  K::template run<G, C>(t, rows);
}

template <class K, size_t... I>
constexpr auto make_table(std::index_sequence<I...>) {
  return std::array<void (*)(const Groups&, int64_t), sizeof...(I)>{
      &call<K, static_cast<int>(I / K::kC) + 1, static_cast<int>(I % K::kC) + 1>...};
}

// Runs K::run<G, C> over all groups and tokens, smaller tiles at the edges.
template <class K>
void drive(int64_t n, const void* w, size_t gb, int64_t n_rows, const void* act, size_t arb, int64_t n_tok, float* out,
           int64_t os) {
  static constexpr auto table = make_table<K>(std::make_index_sequence<K::kG * K::kC>());
  const int64_t n_groups = (n_rows + kRows - 1) / kRows;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t g0 = 0; g0 < n_groups; g0 += K::kG) {
    const int gg = static_cast<int>(std::min<int64_t>(K::kG, n_groups - g0));
    for (int64_t t0 = 0; t0 < n_tok; t0 += K::kC) {
      const int tt = static_cast<int>(std::min<int64_t>(K::kC, n_tok - t0));
      const Groups tile{n,   wb + static_cast<size_t>(g0) * gb, gb, ab + static_cast<size_t>(t0) * arb,
                        arb, out + t0 * os + g0 * kRows,        os};
      table[static_cast<size_t>((gg - 1) * K::kC + (tt - 1))](tile, n_rows - g0 * kRows);
    }
  }
}

// ---- q8_0x16: offset codes × Q8_0 activations with their sums -------------------------------

template <int kGroups, int kToks>
struct Q8_0x16 {
  static constexpr int kG = kGroups, kC = kToks;
  template <int G, int C>
  static void run(const Groups& t, int64_t rows) {
    __m512 acc[G][C];
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) acc[g][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < t.n / kBlock32; ++i) {
      const uint8_t* wb[G];
      for (int g = 0; g < G; ++g) {
        wb[g] = t.group(g) + static_cast<size_t>(i) * kQ8_0BlockBytes;
        prefetch<C>(wb[g], kQ8_0BlockBytes);
      }
      __m512i isum[G][C];
      for (int g = 0; g < G; ++g)
        for (int c = 0; c < C; ++c) isum[g][c] = _mm512_setzero_si512();
      for (int k = 0; k < 8; ++k) {
        __m512i w[G];
        for (int g = 0; g < G; ++g) w[g] = load512(wb[g] + 32 + 64 * k);
        for (int c = 0; c < C; ++c) {
          const __m512i a = bcast32(t.act<BlockQ8_0Sum>(c)[i].qs + 4 * k);
          for (int g = 0; g < G; ++g) isum[g][c] = _mm512_dpbusd_epi32(isum[g][c], w[g], a);
        }
      }
      for (int g = 0; g < G; ++g) {
        const __m512 dw = _mm512_cvtph_ps(load256(wb[g]));
        for (int c = 0; c < C; ++c) {
          const BlockQ8_0Sum& a = t.act<BlockQ8_0Sum>(c)[i];
          const __m512i exact = _mm512_sub_epi32(isum[g][c], _mm512_set1_epi32(a.sum128));
          acc[g][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a.d)), _mm512_cvtepi32_ps(exact), acc[g][c]);
        }
      }
    }
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) t.put(g, c, acc[g][c], rows);
  }
};

// ---- q4_Kx16 / q5_Kx16: 4- or 5-bit codes with 6-bit sub-block scales and mins × Q8_K ------
//
// Per sub-block of 32 the int32 sums are multiplied by the row's scale (vpmulld) into one total
// per super-block; the mins meet the activation sums of 16 by vpdpwssd on (min, min) pairs.
// q5_Kx16 adds after each sub-block's nibbles a vector of its fifth bits.

template <bool kFifthBit, int kGroups, int kToks>
struct QKx16 {
  static constexpr int kG = kGroups, kC = kToks;
  static constexpr size_t kSubBytes = kFifthBit ? 320 : 256;
  static constexpr size_t kBlockBytes = 320 + 8 * kSubBytes;
  template <int G, int C>
  static void run(const Groups& t, int64_t rows) {
    __m512 acc[G][C];
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) acc[g][c] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int64_t i = 0; i < t.n / kSuperBlock; ++i) {
      const uint8_t* wb[G];
      for (int g = 0; g < G; ++g) wb[g] = t.group(g) + static_cast<size_t>(i) * kBlockBytes;
      __m512i total[G][C], msum[G][C];
      for (int g = 0; g < G; ++g)
        for (int c = 0; c < C; ++c) total[g][c] = msum[g][c] = _mm512_setzero_si512();
      for (int g = 0; g < G; ++g) prefetch<C>(wb[g], 320);
      for (int s = 0; s < 8; ++s) {
        for (int g = 0; g < G; ++g) prefetch<C>(wb[g] + 320 + kSubBytes * s, kSubBytes);
        __m512i sub[G][C];
        for (int g = 0; g < G; ++g)
          for (int c = 0; c < C; ++c) sub[g][c] = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
          __m512i lo[G], hi[G];
          for (int g = 0; g < G; ++g) {
            const uint8_t* sub_bytes = wb[g] + 320 + kSubBytes * s;
            const __m512i q = load512(sub_bytes + 64 * k);
            lo[g] = _mm512_and_si512(q, low4);
            hi[g] = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
            if constexpr (kFifthBit) {
              const __m512i h = load512(sub_bytes + 256), one = _mm512_set1_epi8(1);
              lo[g] = _mm512_or_si512(lo[g], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, k), one), 4));
              hi[g] = _mm512_or_si512(hi[g], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 4 + k), one), 4));
            }
          }
          for (int c = 0; c < C; ++c) {
            const int8_t* y = t.act<BlockQ8_K>(c)[i].qs + 32 * s + 4 * k;
            const __m512i alo = bcast32(y), ahi = bcast32(y + 16);
            for (int g = 0; g < G; ++g)
              sub[g][c] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sub[g][c], lo[g], alo), hi[g], ahi);
          }
        }
        for (int g = 0; g < G; ++g) {
          const __m512i scale = _mm512_cvtepu8_epi32(load128(wb[g] + 64 + 16 * s));
          const __m512i min = _mm512_cvtepu8_epi32(load128(wb[g] + 192 + 16 * s));
          const __m512i min_pair = _mm512_or_si512(min, _mm512_slli_epi32(min, 16));
          for (int c = 0; c < C; ++c) {
            total[g][c] = _mm512_add_epi32(total[g][c], _mm512_mullo_epi32(sub[g][c], scale));
            msum[g][c] = _mm512_dpwssd_epi32(msum[g][c], min_pair, bcast32(t.act<BlockQ8_K>(c)[i].bsums + 2 * s));
          }
        }
      }
      for (int g = 0; g < G; ++g) {
        const __m512 d = _mm512_cvtph_ps(load256(wb[g])), dmin = _mm512_cvtph_ps(load256(wb[g] + 32));
        for (int c = 0; c < C; ++c) {
          const __m512 da = _mm512_set1_ps(t.act<BlockQ8_K>(c)[i].d);
          acc[g][c] = _mm512_fmadd_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(total[g][c]), acc[g][c]);
          acc[g][c] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, da), _mm512_cvtepi32_ps(msum[g][c]), acc[g][c]);
        }
      }
    }
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) t.put(g, c, acc[g][c], rows);
  }
};

// ---- q6_Kx16: 6-bit codes (value + 32) with int8 scales per 16 × Q8_K -----------------------
//
// Σ scale·(code - 32)·a = Σ scale·Σ code·a - 32 Σ scale·bsum, all in int32; the scale pairs
// (s_2u, s_2u+1) meet the activations' bsums pairs by vpdpwssd.

template <int kGroups, int kToks>
struct Q6Kx16 {
  static constexpr int kG = kGroups, kC = kToks;
  template <int G, int C>
  static void run(const Groups& t, int64_t rows) {
    __m512 acc[G][C];
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) acc[g][c] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi8(0x0F), low2 = _mm512_set1_epi8(3);
    for (int64_t i = 0; i < t.n / kSuperBlock; ++i) {
      const uint8_t* wb[G];
      for (int g = 0; g < G; ++g) wb[g] = t.group(g) + static_cast<size_t>(i) * kQ6KBlockBytes;
      __m512i total[G][C], ssum[G][C];
      for (int g = 0; g < G; ++g)
        for (int c = 0; c < C; ++c) total[g][c] = ssum[g][c] = _mm512_setzero_si512();
      for (int g = 0; g < G; ++g) prefetch<C>(wb[g], 288);
      for (int u = 0; u < 8; ++u) {
        const size_t base = 288 + 384 * static_cast<size_t>(u);
        for (int g = 0; g < G; ++g) prefetch<C>(wb[g] + base, 384);
        __m512i sa[G][C], sb[G][C], h0[G], h1[G];
        for (int g = 0; g < G; ++g) {
          h0[g] = load512(wb[g] + base + 256);
          h1[g] = load512(wb[g] + base + 320);
          for (int c = 0; c < C; ++c) sa[g][c] = sb[g][c] = _mm512_setzero_si512();
        }
        for (int k = 0; k < 4; ++k) {
          __m512i lo[G], hi[G];
          for (int g = 0; g < G; ++g) {
            const __m512i q = load512(wb[g] + base + 64 * k);
            const __m512i top0 = _mm512_and_si512(_mm512_srli_epi16(h0[g], 2 * k), low2);
            const __m512i top1 = _mm512_and_si512(_mm512_srli_epi16(h1[g], 2 * k), low2);
            lo[g] = _mm512_or_si512(_mm512_and_si512(q, low4), _mm512_slli_epi16(top0, 4));
            hi[g] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q, 4), low4), _mm512_slli_epi16(top1, 4));
          }
          for (int c = 0; c < C; ++c) {
            const int8_t* y = t.act<BlockQ8_K>(c)[i].qs + 32 * u + 4 * k;
            const __m512i alo = bcast32(y), ahi = bcast32(y + 16);
            for (int g = 0; g < G; ++g) {
              sa[g][c] = _mm512_dpbusd_epi32(sa[g][c], lo[g], alo);
              sb[g][c] = _mm512_dpbusd_epi32(sb[g][c], hi[g], ahi);
            }
          }
        }
        for (int g = 0; g < G; ++g) {
          const __m512i s0 = _mm512_cvtepi8_epi32(load128(wb[g] + 32 + 32 * u));
          const __m512i s1 = _mm512_cvtepi8_epi32(load128(wb[g] + 48 + 32 * u));
          const __m512i pair =
              _mm512_or_si512(_mm512_and_si512(s0, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(s1, 16));
          for (int c = 0; c < C; ++c) {
            total[g][c] = _mm512_add_epi32(
                total[g][c], _mm512_add_epi32(_mm512_mullo_epi32(sa[g][c], s0), _mm512_mullo_epi32(sb[g][c], s1)));
            ssum[g][c] = _mm512_dpwssd_epi32(ssum[g][c], pair, bcast32(t.act<BlockQ8_K>(c)[i].bsums + 2 * u));
          }
        }
      }
      for (int g = 0; g < G; ++g) {
        const __m512 d = _mm512_cvtph_ps(load256(wb[g]));
        for (int c = 0; c < C; ++c) {
          const __m512i exact = _mm512_sub_epi32(total[g][c], _mm512_slli_epi32(ssum[g][c], 5));
          const __m512 da = _mm512_set1_ps(t.act<BlockQ8_K>(c)[i].d);
          acc[g][c] = _mm512_fmadd_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(exact), acc[g][c]);
        }
      }
    }
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) t.put(g, c, acc[g][c], rows);
  }
};

// ---- f16x16 / bf16x16 against f32 activations -----------------------------------------------

struct LoadF16x16 {
  static __m512 load(const uint8_t* p) { return _mm512_cvtph_ps(load256(p)); }
};
struct LoadBF16x16 {
  static __m512 load(const uint8_t* p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load256(p)), 16));
  }
};

template <class Load, int kGroups, int kToks>
struct FloatX16 {
  static constexpr int kG = kGroups, kC = kToks;
  template <int G, int C>
  static void run(const Groups& t, int64_t rows) {
    __m512 acc[G][C];
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) acc[g][c] = _mm512_setzero_ps();
    const float* a[C];
    for (int c = 0; c < C; ++c) a[c] = t.act<float>(c);
#pragma GCC unroll 2
    for (int64_t j = 0; j < t.n; ++j) {
      if (j % 2 == 0)
        for (int g = 0; g < G; ++g) prefetch<C>(t.group(g) + 32 * j, 64);
      __m512 w[G];
      for (int g = 0; g < G; ++g) w[g] = Load::load(t.group(g) + 32 * j);
      for (int c = 0; c < C; ++c) {
        const __m512 x = _mm512_set1_ps(a[c][j]);
        for (int g = 0; g < G; ++g) acc[g][c] = _mm512_fmadd_ps(w[g], x, acc[g][c]);
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
void tile_q8_0x16_avx512(int64_t n, const void* w, size_t gb, int64_t nr, const void* a, size_t arb, int64_t nt,
                         float* out, int64_t os) {
  if (nt == 1)
    drive<Q8_0x16<2, 1>>(n, w, gb, nr, a, arb, nt, out, os);
  else
    drive<Q8_0x16<2, 8>>(n, w, gb, nr, a, arb, nt, out, os);
}
void tile_q4_kx16_avx512(int64_t n, const void* w, size_t gb, int64_t nr, const void* a, size_t arb, int64_t nt,
                         float* out, int64_t os) {
  if (nt == 1)
    drive<QKx16<false, 2, 1>>(n, w, gb, nr, a, arb, nt, out, os);
  else
    drive<QKx16<false, 2, 4>>(n, w, gb, nr, a, arb, nt, out, os);
}
void tile_q5_kx16_avx512(int64_t n, const void* w, size_t gb, int64_t nr, const void* a, size_t arb, int64_t nt,
                         float* out, int64_t os) {
  if (nt == 1)
    drive<QKx16<true, 2, 1>>(n, w, gb, nr, a, arb, nt, out, os);
  else
    drive<QKx16<true, 2, 4>>(n, w, gb, nr, a, arb, nt, out, os);
}
void tile_q6_kx16_avx512(int64_t n, const void* w, size_t gb, int64_t nr, const void* a, size_t arb, int64_t nt,
                         float* out, int64_t os) {
  if (nt == 1)
    drive<Q6Kx16<2, 1>>(n, w, gb, nr, a, arb, nt, out, os);
  else
    drive<Q6Kx16<1, 8>>(n, w, gb, nr, a, arb, nt, out, os);
}
void tile_f16x16_avx512(int64_t n, const void* w, size_t gb, int64_t nr, const void* a, size_t arb, int64_t nt,
                        float* out, int64_t os) {
  if (nt == 1)
    drive<FloatX16<LoadF16x16, 2, 1>>(n, w, gb, nr, a, arb, nt, out, os);
  else
    drive<FloatX16<LoadF16x16, 4, 6>>(n, w, gb, nr, a, arb, nt, out, os);
}
void tile_bf16x16_avx512(int64_t n, const void* w, size_t gb, int64_t nr, const void* a, size_t arb, int64_t nt,
                         float* out, int64_t os) {
  if (nt == 1)
    drive<FloatX16<LoadBF16x16, 2, 1>>(n, w, gb, nr, a, arb, nt, out, os);
  else
    drive<FloatX16<LoadBF16x16, 4, 6>>(n, w, gb, nr, a, arb, nt, out, os);
}

}  // namespace hayate::quant::detail
