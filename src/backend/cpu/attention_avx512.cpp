// AVX-512 attention of a tile of query heads of one sequence: n_tok tokens × n_q heads <= 32
// queries, one per vector lane (attention_kernels.h).
//
// With the queries in the lanes, the scores of a position are one vector: Σ_d K[p][d] × Q^T[d]
// with K broadcast from memory, so neither K nor the scores need transposing or horizontal
// sums; the online softmax is element-wise over the chunk's 16 score vectors, and the output
// O^T[d] += P^T[p] × V[p][d] likewise. Q is transposed in and O out once per tile. Each lane
// sees the same operations whatever the other lanes hold: positions past a lane's own are
// masked to -inf before its maximum and to 0 after the exponential, so a token's result is
// bit for bit the one it gets alone.
// GCC 12's AVX-512 intrinsic headers use _mm512_undefined_*() in ways that trip
// -Wuninitialized once inlined (GCC bug 105593, fixed in 12.3); the pragma must precede them.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cmath>  // INFINITY

#include "backend/cpu/attention_kernels.h"

namespace hayate::detail {
namespace {

constexpr int32_t kChunk = 16;

// e^x for x <= 0, as in attention_avx2.cpp (degree-6 polynomial of 2^f; below -87 towards 0).
inline __m512 exp_neg(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(kExp2Poly[0]);
  for (int i = 1; i < 7; ++i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2Poly[i]));
  return _mm512_scalef_ps(p, n);
}

// head_dim values of a K or V row from value `at` as floats: the row itself (f32) or widened
// into `dst` (f16, q8_0).
inline const float* row_f32(const AttendGroup& a, const void* base, int64_t at, float* dst) {
  const auto* row = static_cast<const uint8_t*>(base) + kv_bytes(a.values, at);
  if (a.values == KvType::F32) return reinterpret_cast<const float*>(row);
  if (a.values == KvType::F16) {
    for (int32_t d = 0; d < a.head_dim; d += 16)
      _mm512_store_ps(dst + d, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * d))));
    return dst;
  }
  for (int32_t b = 0; b < a.head_dim / 32; ++b) {  // Q8_0: 2-byte fp16 scale, 32 codes
    const uint8_t* block = row + 34 * b;
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(static_cast<uint16_t>(block[0] | (block[1] << 8))));
    for (int i = 0; i < 32; i += 16) {
      const __m128i codes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2 + i));
      _mm512_store_ps(dst + 32 * b + i, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(codes))));
    }
  }
  return dst;
}

// Asks for the K and V rows of positions [p0, min(p0 + n, end)) of the kernel's head: decoding
// reads them from DRAM (the weights have streamed through the caches since they were written),
// and a chunk's loads would otherwise wait there one after another.
inline void prefetch_rows(const AttendGroup& a, int32_t p0, int32_t n, int32_t end) {
  const size_t bytes = kv_bytes(a.values, a.head_dim);
  for (int32_t pp = p0; pp < p0 + n && pp < end; ++pp) {
    const size_t at =
        kv_bytes(a.values,
                 head_at(a, static_cast<int64_t>(a.block_table[pp / a.block_size]) * a.block_size + pp % a.block_size));
    for (size_t b = 0; b < bytes; b += 64) {
      _mm_prefetch(static_cast<const char*>(a.k_base) + at + b, _MM_HINT_T0);
      _mm_prefetch(static_cast<const char*>(a.v_base) + at + b, _MM_HINT_T0);
    }
  }
}

// V vectors of 16 query lanes: with V = 2 each broadcast K or V value feeds two FMAs (the
// kernel is otherwise bound by the broadcast loads). A lane's operations do not depend on V.
template <int V>
void attend(const AttendGroup& a, int32_t n_tok, const int32_t* first, const int32_t* pos, const float* const* q,
            float* const* out) {
  constexpr int32_t kL = 16 * V;
  const int32_t hd = a.head_dim, n_q = a.n_q, lanes = n_tok * n_q;
  const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(hd));
  // Q^T and O^T: the tile's queries, one float per lane, for each dimension.
  alignas(64) static thread_local float qt[kMaxHeadDim][kL], ot[kMaxHeadDim][kL];
  alignas(64) static thread_local float kbuf[kChunk][kMaxHeadDim], vbuf[kChunk][kMaxHeadDim];
  alignas(64) float p[kChunk][kL];  // scores, then weights, of the chunk's positions
  alignas(64) int32_t lane_pos[kL], lane_first[kL];
  int32_t last = 0, start = INT32_MAX;
  for (int32_t i = 0; i < kL; ++i) {
    lane_pos[i] = i < lanes ? pos[i / n_q] : -1;  // unused lanes: every position masked
    lane_first[i] = i < lanes ? first[i / n_q] : 0;
    last = lane_pos[i] > last ? lane_pos[i] : last;
    if (i < lanes) start = lane_first[i] < start ? lane_first[i] : start;
  }
  // Chunks start at multiples of kChunk, so a lane meets the same chunks in any tile; chunks
  // wholly before a lane's window leave it untouched (no maximum yet: correction 0, weights 0).
  start = start / kChunk * kChunk;
  prefetch_rows(a, start, 2 * kChunk, last + 1);
  for (int32_t d = 0; d < hd; ++d)
    for (int32_t i = 0; i < kL; ++i) {
      qt[d][i] = i < lanes ? q[i / n_q][(i % n_q) * hd + d] * scale : 0.0f;
      ot[d][i] = 0.0f;
    }
  __m512 m[V], l[V];
  for (int v = 0; v < V; ++v) {
    m[v] = _mm512_set1_ps(-INFINITY);
    l[v] = _mm512_setzero_ps();
  }

  for (int32_t p0 = start; p0 <= last; p0 += kChunk) {
    const int32_t np = last + 1 - p0 < kChunk ? last + 1 - p0 : kChunk;
    prefetch_rows(a, p0 + 2 * kChunk, kChunk, last + 1);
    const float* k[kChunk];
    const float* vr[kChunk];
    for (int32_t j = 0; j < np; ++j) {
      const int32_t pp = p0 + j;
      const int64_t at =
          head_at(a, static_cast<int64_t>(a.block_table[pp / a.block_size]) * a.block_size + pp % a.block_size);
      k[j] = row_f32(a, a.k_base, at, kbuf[j]);
      vr[j] = row_f32(a, a.v_base, at, vbuf[j]);
    }
    // Scores of 8 positions at a time, 4 dimensions per step.
    for (int32_t j0 = 0; j0 < np; j0 += 8) {
      const int32_t nj = np - j0 < 8 ? np - j0 : 8;
      __m512 s[8][V];
      for (int32_t j = 0; j < 8; ++j)
        for (int v = 0; v < V; ++v) s[j][v] = _mm512_setzero_ps();
      for (int32_t d0 = 0; d0 < hd; d0 += 4) {
        __m512 qv[4][V];
        for (int u = 0; u < 4; ++u)
          for (int v = 0; v < V; ++v) qv[u][v] = _mm512_load_ps(&qt[d0 + u][16 * v]);
        for (int32_t j = 0; j < nj; ++j)
          for (int u = 0; u < 4; ++u) {
            const __m512 kv = _mm512_set1_ps(k[j0 + j][d0 + u]);
            for (int v = 0; v < V; ++v) s[j][v] = _mm512_fmadd_ps(kv, qv[u][v], s[j][v]);
          }
      }
      for (int32_t j = 0; j < nj; ++j)
        for (int v = 0; v < V; ++v) _mm512_store_ps(&p[j0 + j][16 * v], s[j][v]);
    }
    // Online softmax, lane by lane. Lanes whose positions all lie before this chunk keep their
    // maximum (correction e^0 = 1) and add nothing.
    __m512 correction[V];
    for (int v = 0; v < V; ++v) {
      const __m512i lane_positions = _mm512_load_si512(&lane_pos[16 * v]);
      const __m512i lane_firsts = _mm512_load_si512(&lane_first[16 * v]);
      __mmask16 live[kChunk];
      __m512 chunk_max = _mm512_set1_ps(-INFINITY);
      for (int32_t j = 0; j < np; ++j) {
        const __m512i at = _mm512_set1_epi32(p0 + j);
        live[j] = _mm512_mask_cmp_epi32_mask(_mm512_cmp_epi32_mask(lane_positions, at, _MM_CMPINT_NLT), lane_firsts, at,
                                             _MM_CMPINT_LE);
        chunk_max = _mm512_mask_max_ps(chunk_max, live[j], chunk_max, _mm512_load_ps(&p[j][16 * v]));
      }
      const __m512 new_max = _mm512_max_ps(m[v], chunk_max);
      const __mmask16 started = _mm512_cmp_ps_mask(m[v], _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
      correction[v] = _mm512_maskz_mov_ps(started, exp_neg(_mm512_sub_ps(m[v], new_max)));
      __m512 sum = _mm512_setzero_ps();
      for (int32_t j = 0; j < np; ++j) {
        const __m512 e = _mm512_maskz_mov_ps(live[j], exp_neg(_mm512_sub_ps(_mm512_load_ps(&p[j][16 * v]), new_max)));
        _mm512_store_ps(&p[j][16 * v], e);
        sum = _mm512_add_ps(sum, e);
      }
      l[v] = _mm512_fmadd_ps(l[v], correction[v], sum);
      m[v] = new_max;
    }
    // O^T[d] = O^T[d] × correction + Σ_j P^T[j] × V[j][d], 8 dimensions at a time.
    for (int32_t d0 = 0; d0 < hd; d0 += 8) {
      __m512 o[8][V];
      for (int u = 0; u < 8; ++u)
        for (int v = 0; v < V; ++v) o[u][v] = _mm512_mul_ps(_mm512_load_ps(&ot[d0 + u][16 * v]), correction[v]);
      for (int32_t j = 0; j < np; ++j) {
        __m512 w[V];
        for (int v = 0; v < V; ++v) w[v] = _mm512_load_ps(&p[j][16 * v]);
        for (int u = 0; u < 8; ++u) {
          const __m512 x = _mm512_set1_ps(vr[j][d0 + u]);
          for (int v = 0; v < V; ++v) o[u][v] = _mm512_fmadd_ps(w[v], x, o[u][v]);
        }
      }
      for (int u = 0; u < 8; ++u)
        for (int v = 0; v < V; ++v) _mm512_store_ps(&ot[d0 + u][16 * v], o[u][v]);
    }
  }
  alignas(64) float inv[kL];
  for (int v = 0; v < V; ++v) _mm512_store_ps(&inv[16 * v], _mm512_div_ps(_mm512_set1_ps(1.0f), l[v]));
  for (int32_t i = 0; i < lanes; ++i) {
    float* o = out[i / n_q] + (i % n_q) * hd;
    for (int32_t d = 0; d < hd; ++d) o[d] = ot[d][i] * inv[i];
  }
}

}  // namespace

void attend_tile_avx512(const AttendGroup& a, int32_t n_tok, const int32_t* first, const int32_t* pos,
                        const float* const* q, float* const* out) {
  if (n_tok * a.n_q > 16)
    attend<2>(a, n_tok, first, pos, q, out);
  else
    attend<1>(a, n_tok, first, pos, q, out);
}

}  // namespace hayate::detail
