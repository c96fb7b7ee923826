// Internal: the kernels of the packed k-quant formats (quant/packed.h) written once over an
// instruction set S, and the driver every packed kernel runs under. Include only from files
// compiled for S (tile_avx512.cpp, tile_x16_avx2.cpp); everything here has internal linkage for
// the reason given in blocks.h.
//
// S::kLanes rows form a lane block, one row per int32 / float lane: a whole group of 16 with
// AVX-512, half a group with AVX2 (lane block b is then half b % 2 of group b / 2, whose bytes
// sit 4 × 8 further into each 64-byte chunk and 8 elements further into each per-row array).
// A micro-kernel runs G lane blocks × C tokens; a (row, token) pair's lane sees the same
// operations whatever G and C are and wherever it sits (batch invariance).
//
// S provides: vector types I (int32 lanes) and F (float lanes); zero, fzero, load (4 × kLanes
// bytes), bcast32, set8, set32, and_, or_, srli16, slli16, slli32, add, sub, mullo, dot_u8s8
// (acc + Σ of 4 u8 × s8 products per lane; codes below 64 on AVX2, whose maddubs saturates),
// dot_s16 (acc + Σ of 2 s16 × s16 products), u8s (kLanes bytes as int32), s8s, halves (kLanes
// fp16 as floats), bf16s (kLanes bf16 as floats), cvt, fset1, mul, fmadd, fnmadd, store_rows
// (the first `valid` lanes); and a sub-block sum of 4-bit codes × int8 activations in whatever
// form is cheapest: sub_dot (acc + 4 u8 × s8 products per lane, as dot_u8s8 or partial sums
// the scaling completes), sub_scale_of (a scale vector from u8s / s8s into the form sub_scaled
// takes), sub_scaled (the exact int32 scale × sum) and kSixBitRun (how many sub_dot steps of
// 6-bit codes a sum holds).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "quant/blocks.h"

namespace hayate::quant::detail {
namespace {

constexpr int64_t kGroupRows = 16;

// Where one micro-kernel reads and writes: lane blocks lb0.. of the groups from `w`, tokens
// from `a`, output rows from `out` (already at lane block lb0's first row).
template <class S>
struct LaneTile {
  static constexpr int kPer = static_cast<int>(kGroupRows / S::kLanes);
  int64_t n;
  const uint8_t* w;
  size_t gb;
  int64_t lb0;
  const uint8_t* a;
  size_t arb;
  float* out;
  int64_t os;
  const uint8_t* group(int j) const { return w + static_cast<size_t>((lb0 + j) / kPer) * gb; }
  // Byte offset of lane block j's rows in a per-row array of `elem`-byte elements.
  size_t rows_at(int j, size_t elem) const {
    return kPer == 1 ? 0 : static_cast<size_t>((lb0 + j) % kPer) * S::kLanes * elem;
  }
  // ... in each 64-byte chunk of codes (4 bytes a row), fp16 array and byte array.
  struct Rows {
    size_t code, half, byte;
  };
  Rows rows(int j) const { return {rows_at(j, 4), rows_at(j, 2), rows_at(j, 1)}; }
  template <class B>
  const B* act(int c) const {
    return reinterpret_cast<const B*>(a + static_cast<size_t>(c) * arb);
  }
  // Lane block j's rows for token c, only the `rows` still wanted (counted from lane block 0).
  void put(int j, int c, typename S::F v, int64_t rows) const {
    S::store_rows(out + c * os + j * S::kLanes, v, rows - j * S::kLanes);
  }
};

template <class S, class K, int G, int C>
void call(const LaneTile<S>& t, int64_t rows) {
  K::template run<G, C>(t, rows);
}

template <class S, class K, size_t... I>
constexpr auto make_table(std::index_sequence<I...>) {
  return std::array<void (*)(const LaneTile<S>&, int64_t), sizeof...(I)>{
      &call<S, K, static_cast<int>(I / K::kC) + 1, static_cast<int>(I % K::kC) + 1>...};
}

// Runs K::run<G, C> over all lane blocks and tokens, smaller tiles at the edges.
template <class S, class K>
void drive(int64_t n, const void* w, size_t gb, int64_t n_rows, const void* act, size_t arb, int64_t n_tok, float* out,
           int64_t os) {
  static constexpr auto table = make_table<S, K>(std::make_index_sequence<K::kG * K::kC>());
  const int64_t n_blocks = (n_rows + S::kLanes - 1) / S::kLanes;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t b0 = 0; b0 < n_blocks; b0 += K::kG) {
    const int gg = static_cast<int>(std::min<int64_t>(K::kG, n_blocks - b0));
    for (int64_t t0 = 0; t0 < n_tok; t0 += K::kC) {
      const int tt = static_cast<int>(std::min<int64_t>(K::kC, n_tok - t0));
      const LaneTile<S> tile{n, wb, gb, b0, ab + static_cast<size_t>(t0) * arb, arb, out + t0 * os + b0 * S::kLanes,
                             os};
      table[static_cast<size_t>((gg - 1) * K::kC + (tt - 1))](tile, n_rows - b0 * S::kLanes);
    }
  }
}

// A TileDotFn: One's tiles for one token (decoding), Many's for a batch.
template <class S, class One, class Many>
void one_or_many(int64_t n, const void* w, size_t gb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                 int64_t os) {
  if (nt == 1)
    drive<S, One>(n, w, gb, nr, a, arb, nt, out, os);
  else
    drive<S, Many>(n, w, gb, nr, a, arb, nt, out, os);
}

// Defines the TileDotFn `name` as one_or_many<S, One, Many>.
#define HAYATE_PACKED_TILE(name, ...)                                                                           \
  void name(int64_t n, const void* w, size_t gb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out, \
            int64_t os) {                                                                                       \
    one_or_many<__VA_ARGS__>(n, w, gb, nr, a, arb, nt, out, os);                                                \
  }

template <class V, int G, int C>
inline void fill(V (&v)[G][C], V x) {
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < C; ++c) v[g][c] = x;
}

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

// ---- q4_Kx16 / q5_Kx16: 4- or 5-bit codes with 6-bit sub-block scales and mins × Q8_K ------
//
// Per sub-block of 32 the int32 sums are multiplied by the row's scale into one total per
// super-block; the mins meet the activation sums of 16 through (min, min) int16 pairs.
// q5_Kx16 adds after each sub-block's nibbles a vector of its fifth bits.

template <class S, bool kFifthBit, int kBlocks, int kToks>
struct QKx16 {
  static constexpr int kG = kBlocks, kC = kToks;
  static constexpr size_t kSubBytes = kFifthBit ? 320 : 256;
  static constexpr size_t kBlockBytes = 320 + 8 * kSubBytes;
  using I = typename S::I;
  using F = typename S::F;
  template <int G, int C>
  static void run(const LaneTile<S>& t, int64_t rows) {
    F acc[G][C];
    fill(acc, S::fzero());
    const I low4 = S::set8(0x0F);
    typename LaneTile<S>::Rows at[G];
    for (int g = 0; g < G; ++g) at[g] = t.rows(g);
    for (int64_t i = 0; i < t.n / kSuperBlock; ++i) {
      const uint8_t* wb[G];
      for (int g = 0; g < G; ++g) wb[g] = t.group(g) + static_cast<size_t>(i) * kBlockBytes;
      I total[G][C], msum[G][C];
      fill(total, S::zero());
      fill(msum, S::zero());
      for (int g = 0; g < G; ++g) prefetch<C>(wb[g], 320);
      for (int s = 0; s < 8; ++s) {
        for (int g = 0; g < G; ++g) prefetch<C>(wb[g] + 320 + kSubBytes * s, kSubBytes);
        I sub[G][C];
        fill(sub, S::zero());
        for (int k = 0; k < 4; ++k) {
          I lo[G], hi[G];
          for (int g = 0; g < G; ++g) {
            const uint8_t* sub_bytes = wb[g] + 320 + kSubBytes * s + at[g].code;
            const I q = S::load(sub_bytes + 64 * k);
            lo[g] = S::and_(q, low4);
            hi[g] = S::and_(S::srli16(q, 4), low4);
            if constexpr (kFifthBit) {
              const I h = S::load(sub_bytes + 256), one = S::set8(1);
              lo[g] = S::or_(lo[g], S::slli16(S::and_(S::srli16(h, k), one), 4));
              hi[g] = S::or_(hi[g], S::slli16(S::and_(S::srli16(h, 4 + k), one), 4));
            }
          }
          for (int c = 0; c < C; ++c) {
            const int8_t* y = t.template act<BlockQ8_K>(c)[i].qs + 32 * s + 4 * k;
            const I alo = S::bcast32(y), ahi = S::bcast32(y + 16);
            for (int g = 0; g < G; ++g)
              if constexpr (kFifthBit)
                sub[g][c] = S::dot_u8s8(S::dot_u8s8(sub[g][c], lo[g], alo), hi[g], ahi);
              else
                sub[g][c] = S::sub_dot(S::sub_dot(sub[g][c], lo[g], alo), hi[g], ahi);
          }
        }
        for (int g = 0; g < G; ++g) {
          const I scale = S::u8s(wb[g] + 64 + 16 * s + at[g].byte);
          const I min = S::u8s(wb[g] + 192 + 16 * s + at[g].byte);
          const I min_pair = S::or_(min, S::slli32(min, 16));
          [[maybe_unused]] const I sub_scale = S::sub_scale_of(scale);
          for (int c = 0; c < C; ++c) {
            if constexpr (kFifthBit)
              total[g][c] = S::add(total[g][c], S::mullo(sub[g][c], scale));
            else
              total[g][c] = S::add(total[g][c], S::sub_scaled(sub[g][c], sub_scale));
            msum[g][c] = S::dot_s16(msum[g][c], min_pair, S::bcast32(t.template act<BlockQ8_K>(c)[i].bsums + 2 * s));
          }
        }
      }
      for (int g = 0; g < G; ++g) {
        const F d = S::halves(wb[g] + at[g].half), dmin = S::halves(wb[g] + 32 + at[g].half);
        for (int c = 0; c < C; ++c) {
          const F da = S::fset1(t.template act<BlockQ8_K>(c)[i].d);
          acc[g][c] = S::fmadd(S::mul(d, da), S::cvt(total[g][c]), acc[g][c]);
          acc[g][c] = S::fnmadd(S::mul(dmin, da), S::cvt(msum[g][c]), acc[g][c]);
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
// (s_2u, s_2u+1) meet the activations' bsums pairs as int16 pairs.

template <class S, int kBlocks, int kToks>
struct Q6Kx16 {
  static constexpr int kG = kBlocks, kC = kToks;
  static constexpr size_t kBlockBytes = 32 + 256 + 8 * 384;
  using I = typename S::I;
  using F = typename S::F;
  template <int G, int C>
  static void run(const LaneTile<S>& t, int64_t rows) {
    F acc[G][C];
    fill(acc, S::fzero());
    const I low4 = S::set8(0x0F), low2 = S::set8(3);
    typename LaneTile<S>::Rows at[G];
    for (int g = 0; g < G; ++g) at[g] = t.rows(g);
    for (int64_t i = 0; i < t.n / kSuperBlock; ++i) {
      const uint8_t* wb[G];
      for (int g = 0; g < G; ++g) wb[g] = t.group(g) + static_cast<size_t>(i) * kBlockBytes;
      I total[G][C], ssum[G][C];
      fill(total, S::zero());
      fill(ssum, S::zero());
      for (int g = 0; g < G; ++g) prefetch<C>(wb[g], 288);
      for (int u = 0; u < 8; ++u) {
        const size_t base = 288 + 384 * static_cast<size_t>(u);
        for (int g = 0; g < G; ++g) prefetch<C>(wb[g] + base, 384);
        I sa[G][C], sb[G][C], h0[G], h1[G];
        fill(sa, S::zero());
        fill(sb, S::zero());
        for (int g = 0; g < G; ++g) {
          h0[g] = S::load(wb[g] + base + 256 + at[g].code);
          h1[g] = S::load(wb[g] + base + 320 + at[g].code);
        }
        // The scales are read where they are used (AVX-512's 1 × 8 tile has no register left to
        // hold them), and the loop is unrolled by hand: with the flush inside, GCC kept it
        // rolled and that tile lost a fifth of its speed.
        const auto s0 = [&](int g) { return S::s8s(wb[g] + 32 + 32 * u + at[g].byte); };
        const auto s1 = [&](int g) { return S::s8s(wb[g] + 48 + 32 * u + at[g].byte); };
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          I lo[G], hi[G];
          for (int g = 0; g < G; ++g) {
            const I q = S::load(wb[g] + base + 64 * k + at[g].code);
            const I top0 = S::and_(S::srli16(h0[g], 2 * k), low2);
            const I top1 = S::and_(S::srli16(h1[g], 2 * k), low2);
            lo[g] = S::or_(S::and_(q, low4), S::slli16(top0, 4));
            hi[g] = S::or_(S::and_(S::srli16(q, 4), low4), S::slli16(top1, 4));
          }
          for (int c = 0; c < C; ++c) {
            const int8_t* y = t.template act<BlockQ8_K>(c)[i].qs + 32 * u + 4 * k;
            const I alo = S::bcast32(y), ahi = S::bcast32(y + 16);
            for (int g = 0; g < G; ++g) {
              sa[g][c] = S::sub_dot(sa[g][c], lo[g], alo);
              sb[g][c] = S::sub_dot(sb[g][c], hi[g], ahi);
            }
          }
          if ((k + 1) % S::kSixBitRun == 0)
            for (int g = 0; g < G; ++g) {
              const I f0 = S::sub_scale_of(s0(g)), f1 = S::sub_scale_of(s1(g));
              for (int c = 0; c < C; ++c) {
                total[g][c] = S::add(total[g][c], S::add(S::sub_scaled(sa[g][c], f0), S::sub_scaled(sb[g][c], f1)));
                sa[g][c] = sb[g][c] = S::zero();
              }
            }
        }
        for (int g = 0; g < G; ++g) {
          const I pair = S::or_(S::and_(s0(g), S::set32(0xFFFF)), S::slli32(s1(g), 16));
          for (int c = 0; c < C; ++c)
            ssum[g][c] = S::dot_s16(ssum[g][c], pair, S::bcast32(t.template act<BlockQ8_K>(c)[i].bsums + 2 * u));
        }
      }
      for (int g = 0; g < G; ++g) {
        const F d = S::halves(wb[g] + at[g].half);
        for (int c = 0; c < C; ++c) {
          const I exact = S::sub(total[g][c], S::slli32(ssum[g][c], 5));
          const F da = S::fset1(t.template act<BlockQ8_K>(c)[i].d);
          acc[g][c] = S::fmadd(S::mul(d, da), S::cvt(exact), acc[g][c]);
        }
      }
    }
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) t.put(g, c, acc[g][c], rows);
  }
};

// ---- f16x16 / bf16x16: per column the 16 rows' values × one broadcast f32 activation --------
//
// A lane block's weights of column j are kLanes halves at 32·j (+ 16 for the second AVX2 half);
// each lane's sum is one FMA chain over the columns, so every instruction set and tile shape
// gives the same bits.

template <class S, bool kBf16, int kBlocks, int kToks>
struct FloatX16 {
  static constexpr int kG = kBlocks, kC = kToks;
  using F = typename S::F;
  static F load(const uint8_t* p) {
    if constexpr (kBf16)
      return S::bf16s(p);
    else
      return S::halves(p);
  }
  template <int G, int C>
  static void run(const LaneTile<S>& t, int64_t rows) {
    F acc[G][C];
    fill(acc, S::fzero());
    const float* a[C];
    for (int c = 0; c < C; ++c) a[c] = t.template act<float>(c);
    const uint8_t* col[G];
    for (int g = 0; g < G; ++g) col[g] = t.group(g) + t.rows(g).half;
#pragma GCC unroll 2
    for (int64_t j = 0; j < t.n; ++j) {
      if (j % 2 == 0)
        for (int g = 0; g < G; ++g) prefetch<C>(t.group(g) + 32 * j, 64);
      F w[G];
      for (int g = 0; g < G; ++g) w[g] = load(col[g] + 32 * j);
      for (int c = 0; c < C; ++c) {
        const F x = S::fset1(a[c][j]);
        for (int g = 0; g < G; ++g) acc[g][c] = S::fmadd(w[g], x, acc[g][c]);
      }
    }
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) t.put(g, c, acc[g][c], rows);
  }
};

}  // namespace
}  // namespace hayate::quant::detail
