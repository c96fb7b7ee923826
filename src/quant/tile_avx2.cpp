// AVX2 tiled dot kernels: R weight rows × C tokens per micro-kernel, accumulators in registers
// for the whole row. The weight side of each block (unpacking, scales) is done once per row and
// reused for the C tokens; the activation side once per token and reused for the R rows.
//
// Batch invariance: a (row, token) pair's accumulator sees the same operations in the same
// order whatever R and C are; only which pairs run side by side changes.
#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/repack.h"
#include "quant/simd_avx2.h"

namespace hayate::quant::detail {
namespace {

// Where one micro-kernel reads and writes.
struct Tile {
  int64_t n;
  const uint8_t* w;
  size_t wrb;
  const uint8_t* a;
  size_t arb;
  float* out;
  int64_t os;
  template <class B>
  const B* wrow(int r) const {
    return reinterpret_cast<const B*>(w + static_cast<size_t>(r) * wrb);
  }
  template <class B>
  const B* arow(int t) const {
    return reinterpret_cast<const B*>(a + static_cast<size_t>(t) * arb);
  }
  void put(int r, int t, float v) const { out[t * os + r] = v; }
};

// Runs K::run<R, C> over the whole n_rows × n_tok range, with smaller tiles at the edges.
template <class K, int R, int C>
void call(const Tile& t) {
  K::template run<R, C>(t);
}

template <class K, size_t... I>
constexpr auto make_table(std::index_sequence<I...>) {
  return std::array<void (*)(const Tile&), sizeof...(I)>{
      &call<K, static_cast<int>(I / K::kC) + 1, static_cast<int>(I % K::kC) + 1>...};
}

template <class K>
void tile_driver(int64_t n, const void* w, size_t wrb, int64_t n_rows, const void* act, size_t arb, int64_t n_tok,
                 float* out, int64_t os) {
  static constexpr auto table = make_table<K>(std::make_index_sequence<K::kR * K::kC>());
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t r0 = 0; r0 < n_rows; r0 += K::kR) {
    const int rr = static_cast<int>(n_rows - r0 < K::kR ? n_rows - r0 : K::kR);
    for (int64_t t0 = 0; t0 < n_tok; t0 += K::kC) {
      const int tt = static_cast<int>(n_tok - t0 < K::kC ? n_tok - t0 : K::kC);
      const Tile tile{
          n, wb + static_cast<size_t>(r0) * wrb, wrb, ab + static_cast<size_t>(t0) * arb, arb, out + t0 * os + r0, os};
      table[static_cast<size_t>((rr - 1) * K::kC + (tt - 1))](tile);
    }
  }
}

// ---- Q8_0 and Q4_0 weights against Q8_0 activations ---------------------------------------

// Signed weights w as int8 in a vector; |w| times sign-transferred activations (see dot_s8_s8).
struct Q8_0Weights {
  static __m256i codes(const BlockQ8_0& b) { return load256(b.qs); }
};
struct Q4_0Weights {
  static __m256i codes(const BlockQ4_0& b) {
    const __m128i packed = load128(b.qs);
    const __m256i nibbles =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0F));
    return _mm256_sub_epi8(nibbles, _mm256_set1_epi8(8));
  }
};

template <class Block, class Codes, int kRows, int kToks>
struct Block32Kernel {
  static constexpr int kR = kRows, kC = kToks;
  template <int R, int C>
  static void run(const Tile& t) {
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < t.n / kBlock32; ++i) {
      __m256i w[R], wabs[R];
      __m256 dw[R];
      for (int r = 0; r < R; ++r) {
        const Block& b = t.wrow<Block>(r)[i];
        w[r] = Codes::codes(b);
        wabs[r] = _mm256_abs_epi8(w[r]);
        dw[r] = _mm256_set1_ps(half_to_float(b.d));
      }
      for (int c = 0; c < C; ++c) {
        const BlockQ8_0& a = t.arow<BlockQ8_0>(c)[i];
        const __m256i av = load256(a.qs);
        const __m256 da = _mm256_set1_ps(half_to_float(a.d));
        for (int r = 0; r < R; ++r) {
          const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[r], _mm256_sign_epi8(av, w[r])), ones);
          acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], da), _mm256_cvtepi32_ps(p), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) t.put(r, c, hsum_ps(acc[r][c]));
  }
};

// ---- Q8_0 repacked in groups of 8 rows (quant/repack.h) against Q8_0 activations ----------
//
// Lane j of every vector is row j of a group: a block's 8 chunks are summed in int32 per lane,
// then scaled once, so a pair's value is the same whatever G, C and its place in the tile.
// The weight stream of a tile is G interleaved sequences; asking for each 4 blocks ahead
// measured ~15% faster at 1 and 8 tokens (prefetching past a group's end is harmless).
constexpr size_t kPrefetchAhead = 4 * kQ8_0x8BlockBytes;

template <int kGroups, int kToks>
struct Q8_0x8Kernel {
  static constexpr int kR = kGroups, kC = kToks;
  template <int G, int C>
  static void run(const Tile& t, int64_t rows) {
    __m256 acc[G][C];
    for (int g = 0; g < G; ++g)
      for (int c = 0; c < C; ++c) acc[g][c] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < t.n / kBlock32; ++i) {
      const uint8_t* wb[G];
      for (int g = 0; g < G; ++g)
        wb[g] = t.w + static_cast<size_t>(g) * t.wrb + static_cast<size_t>(i) * kQ8_0x8BlockBytes;
      for (int g = 0; g < G; ++g)
        for (int l = 0; l < 5; ++l)
          _mm_prefetch(reinterpret_cast<const char*>(wb[g] + kPrefetchAhead + 64 * l), _MM_HINT_T0);
      __m256i isum[G][C];
      for (int g = 0; g < G; ++g)
        for (int c = 0; c < C; ++c) isum[g][c] = _mm256_setzero_si256();
      for (int k = 0; k < 8; ++k) {
        __m256i w[G], wabs[G];
        for (int g = 0; g < G; ++g) {
          w[g] = load256(wb[g] + 16 + 32 * k);
          wabs[g] = _mm256_abs_epi8(w[g]);
        }
        for (int c = 0; c < C; ++c) {
          int32_t word;
          std::memcpy(&word, t.arow<BlockQ8_0>(c)[i].qs + 4 * k, 4);
          const __m256i av = _mm256_set1_epi32(word);
          for (int g = 0; g < G; ++g)
            isum[g][c] = _mm256_add_epi32(
                isum[g][c], _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[g], _mm256_sign_epi8(av, w[g])), ones));
        }
      }
      __m256 da[C];
      for (int c = 0; c < C; ++c) da[c] = _mm256_set1_ps(half_to_float(t.arow<BlockQ8_0>(c)[i].d));
      for (int g = 0; g < G; ++g) {
        const __m256 dw = _mm256_cvtph_ps(load128(wb[g]));
        for (int c = 0; c < C; ++c)
          acc[g][c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, da[c]), _mm256_cvtepi32_ps(isum[g][c]), acc[g][c]);
      }
    }
    for (int g = 0; g < G; ++g) {
      const int64_t valid = std::min<int64_t>(kQ8_0x8Rows, rows - g * kQ8_0x8Rows);
      for (int c = 0; c < C; ++c) {
        float* o = t.out + c * t.os + g * kQ8_0x8Rows;
        if (valid == kQ8_0x8Rows) {
          _mm256_storeu_ps(o, acc[g][c]);
        } else {
          alignas(32) float lanes[8];
          _mm256_store_ps(lanes, acc[g][c]);
          std::memcpy(o, lanes, static_cast<size_t>(valid) * sizeof(float));
        }
      }
    }
  }
};

template <class K, int G, int C>
void call_groups(const Tile& t, int64_t rows) {
  K::template run<G, C>(t, rows);
}

template <class K, size_t... I>
constexpr auto make_group_table(std::index_sequence<I...>) {
  return std::array<void (*)(const Tile&, int64_t), sizeof...(I)>{
      &call_groups<K, static_cast<int>(I / K::kC) + 1, static_cast<int>(I % K::kC) + 1>...};
}

// Like tile_driver, over groups of 8 rows (the last group may hold fewer wanted rows).
template <class K>
void group_driver(int64_t n, const void* w, size_t group_bytes, int64_t n_rows, const void* act, size_t arb,
                  int64_t n_tok, float* out, int64_t os) {
  static constexpr auto table = make_group_table<K>(std::make_index_sequence<K::kR * K::kC>());
  const int64_t n_groups = (n_rows + kQ8_0x8Rows - 1) / kQ8_0x8Rows;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t g0 = 0; g0 < n_groups; g0 += K::kR) {
    const int gg = static_cast<int>(std::min<int64_t>(K::kR, n_groups - g0));
    for (int64_t t0 = 0; t0 < n_tok; t0 += K::kC) {
      const int tt = static_cast<int>(std::min<int64_t>(K::kC, n_tok - t0));
      const Tile tile{n,   wb + static_cast<size_t>(g0) * group_bytes, group_bytes, ab + static_cast<size_t>(t0) * arb,
                      arb, out + t0 * os + g0 * kQ8_0x8Rows,           os};
      table[static_cast<size_t>((gg - 1) * K::kC + (tt - 1))](tile, n_rows - g0 * kQ8_0x8Rows);
    }
  }
}

// ---- k-quants against Q8_K activations ------------------------------------------------------
//
// Each pair accumulates d·isum - dmin·msum per super-block into one float vector.

inline __m256i weighted(__m256i codes, const int8_t* y, __m256i levels) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, load256(y)), levels);
}

template <int kRows, int kToks>
struct Q4KKernel {
  static constexpr int kR = kRows, kC = kToks;
  template <int R, int C>
  static void run(const Tile& t) {
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < t.n / kSuperBlock; ++i) {
      uint64_t scales[R], mins[R];
      for (int r = 0; r < R; ++r) k4_unpack(t.wrow<BlockQ4_K>(r)[i].scales, &scales[r], &mins[r]);
      __m256i isum[R][C];
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) isum[r][c] = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) {
        for (int r = 0; r < R; ++r) {
          const __m256i q = load256(t.wrow<BlockQ4_K>(r)[i].qs + 32 * k);
          const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
          const __m256i llo = _mm256_set1_epi16(static_cast<int16_t>((scales[r] >> (16 * k)) & 0xff));
          const __m256i lhi = _mm256_set1_epi16(static_cast<int16_t>((scales[r] >> (16 * k + 8)) & 0xff));
          for (int c = 0; c < C; ++c) {
            const int8_t* y = t.arow<BlockQ8_K>(c)[i].qs + 64 * k;
            isum[r][c] =
                _mm256_add_epi32(isum[r][c], _mm256_add_epi32(weighted(lo, y, llo), weighted(hi, y + 32, lhi)));
          }
        }
      }
      for (int r = 0; r < R; ++r) {
        const BlockQ4_K& b = t.wrow<BlockQ4_K>(r)[i];
        const float d = half_to_float(b.d), dmin = half_to_float(b.dmin);
        for (int c = 0; c < C; ++c) {
          const BlockQ8_K& a = t.arow<BlockQ8_K>(c)[i];
          const __m256i msum = k4_min_sums(mins[r], a.bsums);
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(a.d * d), _mm256_cvtepi32_ps(isum[r][c]), acc[r][c]);
          acc[r][c] = _mm256_fnmadd_ps(_mm256_set1_ps(a.d * dmin), _mm256_cvtepi32_ps(msum), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) t.put(r, c, hsum_ps(acc[r][c]));
  }
};

template <int kRows, int kToks>
struct Q6KKernel {
  static constexpr int kR = kRows, kC = kToks;
  template <int R, int C>
  static void run(const Tile& t) {
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < t.n / kSuperBlock; ++i) {
      __m256i isum[R][C];
      for (int r = 0; r < R; ++r) {
        // codes are 0..63; the "- 32" goes through the group sums.
        const __m256i level16 = _mm256_cvtepi8_epi16(load128(t.wrow<BlockQ6_K>(r)[i].scales));
        for (int c = 0; c < C; ++c)
          isum[r][c] = _mm256_sub_epi32(
              _mm256_setzero_si256(),
              _mm256_slli_epi32(_mm256_madd_epi16(level16, load256(t.arow<BlockQ8_K>(c)[i].bsums)), 5));
      }
      for (int h = 0; h < 2; ++h) {
        for (int r = 0; r < R; ++r) {
          // All four 32-code groups of this half at once (one load of ql and qh each).
          const BlockQ6_K& b = t.wrow<BlockQ6_K>(r)[i];
          const __m256i ql0 = load256(b.ql + 64 * h), ql1 = load256(b.ql + 64 * h + 32);
          const __m256i qh = load256(b.qh + 32 * h);
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
            const __m256i levels = two_halves_epi16(b.scales[k], b.scales[k + 1]);
            for (int c = 0; c < C; ++c)
              isum[r][c] = _mm256_add_epi32(isum[r][c],
                                            weighted(codes[g], t.arow<BlockQ8_K>(c)[i].qs + 128 * h + 32 * g, levels));
          }
        }
      }
      for (int r = 0; r < R; ++r) {
        const float d = half_to_float(t.wrow<BlockQ6_K>(r)[i].d);
        for (int c = 0; c < C; ++c)
          acc[r][c] =
              _mm256_fmadd_ps(_mm256_set1_ps(t.arow<BlockQ8_K>(c)[i].d * d), _mm256_cvtepi32_ps(isum[r][c]), acc[r][c]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) t.put(r, c, hsum_ps(acc[r][c]));
  }
};

// ---- float weights against f32 activations -------------------------------------------------

template <class Load, int kRows, int kToks>
struct FloatKernel {
  static constexpr int kR = kRows, kC = kToks;
  template <int R, int C>
  static void run(const Tile& t) {
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    const void* wr[R];
    const float* ar[C];
    for (int r = 0; r < R; ++r) wr[r] = t.w + static_cast<size_t>(r) * t.wrb;
    for (int c = 0; c < C; ++c) ar[c] = reinterpret_cast<const float*>(t.a + static_cast<size_t>(c) * t.arb);
    int64_t i = 0;
    for (; i + 8 <= t.n; i += 8) {
      __m256 w[R];
      for (int r = 0; r < R; ++r) w[r] = Load::load(wr[r], i);
      for (int c = 0; c < C; ++c) {
        const __m256 a = _mm256_loadu_ps(ar[c] + i);
        for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(w[r], a, acc[r][c]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) {
        float s = hsum_ps(acc[r][c]);
        for (int64_t j = i; j < t.n; ++j) s += Load::scalar(wr[r], j) * ar[c][j];
        t.put(r, c, s);
      }
  }
};

// ---- the rest: one vec_dot per pair, weight row reused from L1 across the tokens ----------

template <void (*kDot)(int64_t, float*, const void*, const void*)>
void tile_by_pairs(int64_t n, const void* w, size_t wrb, int64_t n_rows, const void* act, size_t arb, int64_t n_tok,
                   float* out, int64_t os) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t t = 0; t < n_tok; ++t) kDot(n, &out[t * os + r], wb + static_cast<size_t>(r) * wrb, ab + t * arb);
}

}  // namespace

// Shapes: the int8 kernels are limited by the multiply port, the float ones by FMA and loads;
// 16 ymm registers bound R×C plus the R decoded weight vectors.
void tile_q8_0_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                    int64_t os) {
  tile_driver<Block32Kernel<BlockQ8_0, Q8_0Weights, 2, 4>>(n, w, wrb, nr, a, arb, nt, out, os);
}
// Shapes measured on Zen 2 (bench/quant_dot_bench tile/q8_0x8, medians of 3, 1 thread, one run
// per shape): 4 groups × 1 token for decoding (14.5 G MAC/s against 11.2 for 2 × 4), 2 groups ×
// 4 tokens for batches. In one run against the plain Q8_0 tile: 14.1 / 30.7 / 40.2 G MAC/s at
// 1 / 8 / 64 tokens against 5.4 / 18.7 / 21.9 (docs/benchmarks.md, "CPU kernels").
void tile_q8_0x8_avx2(int64_t n, const void* w, size_t group_bytes, int64_t nr, const void* a, size_t arb, int64_t nt,
                      float* out, int64_t os) {
  if (nt == 1)
    group_driver<Q8_0x8Kernel<4, 1>>(n, w, group_bytes, nr, a, arb, nt, out, os);
  else
    group_driver<Q8_0x8Kernel<2, 4>>(n, w, group_bytes, nr, a, arb, nt, out, os);
}
void tile_q4_0_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                    int64_t os) {
  tile_driver<Block32Kernel<BlockQ4_0, Q4_0Weights, 2, 4>>(n, w, wrb, nr, a, arb, nt, out, os);
}
void tile_q4_k_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                    int64_t os) {
  tile_driver<Q4KKernel<2, 3>>(n, w, wrb, nr, a, arb, nt, out, os);
}
void tile_q6_k_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                    int64_t os) {
  tile_driver<Q6KKernel<1, 4>>(n, w, wrb, nr, a, arb, nt, out, os);
}
void tile_f32_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                   int64_t os) {
  tile_driver<FloatKernel<LoadF32x8, 4, 3>>(n, w, wrb, nr, a, arb, nt, out, os);
}
void tile_f16_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                   int64_t os) {
  tile_driver<FloatKernel<LoadF16x8, 4, 3>>(n, w, wrb, nr, a, arb, nt, out, os);
}
void tile_bf16_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                    int64_t os) {
  tile_driver<FloatKernel<LoadBF16x8, 4, 3>>(n, w, wrb, nr, a, arb, nt, out, os);
}
void tile_q2_k_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                    int64_t os) {
  tile_by_pairs<dot_q2_k_avx2>(n, w, wrb, nr, a, arb, nt, out, os);
}
void tile_q3_k_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                    int64_t os) {
  tile_by_pairs<dot_q3_k_avx2>(n, w, wrb, nr, a, arb, nt, out, os);
}
void tile_q5_k_avx2(int64_t n, const void* w, size_t wrb, int64_t nr, const void* a, size_t arb, int64_t nt, float* out,
                    int64_t os) {
  tile_by_pairs<dot_q5_k_avx2>(n, w, wrb, nr, a, arb, nt, out, os);
}

}  // namespace hayate::quant::detail
