// AVX-512 attention of up to kMaxTileTokens tokens of one sequence (attention_kernels.h).
//
// Per chunk of 16 positions, K is widened and transposed once (16 × 16 blocks through a shuffle
// network), so a query head's 16 scores are head_dim FMAs of a broadcast query value against
// a row of K^T, with no horizontal sums; V is widened once. Every query head of every token of
// the tile reuses both. Each token's lanes see the same operations whatever the tile holds:
// positions past a token's own are masked to -inf before its maximum and never enter its sums.
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
  __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

inline __m512 load16(const void* base, int64_t at, bool f16) {
  if (f16)
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + at)));
  return _mm512_loadu_ps(static_cast<const float*>(base) + at);
}

// r[i] = row i of a 16 × 16 block in, column i out.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88);
    t[4 + i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xDD);
    t[8 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88);
    t[12 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xDD);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
    r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
    r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xDD);
  }
}

}  // namespace

void attend_tile_avx512(const AttendGroup& a, int32_t n_tok, const int32_t* pos, const float* const* q,
                        float* const* out) {
  const int32_t hd = a.head_dim, n_q = a.n_q;
  const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(hd));
  const int64_t off = static_cast<int64_t>(a.kv_head) * hd;
  alignas(64) static thread_local float kt[kMaxHeadDim][kChunk];  // K^T of the chunk
  alignas(64) static thread_local float vr[kChunk][kMaxHeadDim];  // V of the chunk, widened
  float m[kMaxTileTokens][kMaxGroup], l[kMaxTileTokens][kMaxGroup];
  int32_t last = 0;
  for (int32_t t = 0; t < n_tok; ++t) {
    last = pos[t] > last ? pos[t] : last;
    for (int32_t h = 0; h < n_q; ++h) {
      m[t][h] = -INFINITY;
      l[t][h] = 0.0f;
    }
    for (int64_t i = 0; i < static_cast<int64_t>(n_q) * hd; i += 16) _mm512_storeu_ps(out[t] + i, _mm512_setzero_ps());
  }
  for (int32_t p0 = 0; p0 <= last; p0 += kChunk) {
    const int32_t np = last + 1 - p0 < kChunk ? last + 1 - p0 : kChunk;
    int64_t at[kChunk];
    for (int32_t j = 0; j < kChunk; ++j) {
      const int32_t p = p0 + (j < np ? j : np - 1);  // rows past the end repeat the last (masked)
      at[j] =
          (static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size) * a.kv_dim + off;
    }
    for (int32_t d0 = 0; d0 < hd; d0 += 16) {
      __m512 r[16];
      for (int32_t j = 0; j < kChunk; ++j) r[j] = load16(a.k_base, at[j] + d0, a.f16);
      transpose16(r);
      for (int32_t i = 0; i < 16; ++i) _mm512_store_ps(kt[d0 + i], r[i]);
      for (int32_t j = 0; j < np; ++j) _mm512_store_ps(&vr[j][d0], load16(a.v_base, at[j] + d0, a.f16));
    }
    for (int32_t t = 0; t < n_tok; ++t) {
      const int32_t valid = pos[t] + 1 - p0;  // this token's positions in the chunk
      if (valid <= 0) continue;
      const int32_t nv = valid < kChunk ? valid : kChunk;
      const __mmask16 live = static_cast<__mmask16>(nv == kChunk ? 0xFFFF : (1u << nv) - 1);
      for (int32_t h = 0; h < n_q; ++h) {
        const float* qh = q[t] + static_cast<int64_t>(h) * hd;
        // Four independent chains over the head's dimensions, summed in a fixed order.
        __m512 s4[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int32_t d = 0; d < hd; d += 4)
          for (int u = 0; u < 4; ++u)
            s4[u] = _mm512_fmadd_ps(_mm512_set1_ps(qh[d + u]), _mm512_load_ps(kt[d + u]), s4[u]);
        __m512 s = _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(s4[0], s4[1]), _mm512_add_ps(s4[2], s4[3])),
                                 _mm512_set1_ps(scale));
        s = _mm512_mask_blend_ps(live, _mm512_set1_ps(-INFINITY), s);
        const float chunk_max = _mm512_reduce_max_ps(s);
        const float new_max = m[t][h] > chunk_max ? m[t][h] : chunk_max;
        const float correction = __builtin_expf(m[t][h] - new_max);  // 0 on the first chunk
        const __m512 e = _mm512_maskz_mov_ps(live, exp_neg(_mm512_sub_ps(s, _mm512_set1_ps(new_max))));
        alignas(64) float w[kChunk];
        _mm512_store_ps(w, e);
        l[t][h] = l[t][h] * correction + _mm512_reduce_add_ps(e);
        m[t][h] = new_max;
        float* o = out[t] + static_cast<int64_t>(h) * hd;
        const __m512 corr = _mm512_set1_ps(correction);
        for (int32_t d0 = 0; d0 < hd; d0 += 64) {
          // Up to four output vectors, each with an even and an odd chain over the positions.
          const int nvec = hd - d0 >= 64 ? 4 : (hd - d0) / 16;
          __m512 even[4], odd[4];
          for (int u = 0; u < nvec; ++u) {
            even[u] = _mm512_mul_ps(_mm512_loadu_ps(o + d0 + 16 * u), corr);
            odd[u] = _mm512_setzero_ps();
          }
          int32_t j = 0;
          for (; j + 2 <= nv; j += 2) {
            const __m512 w0 = _mm512_set1_ps(w[j]), w1 = _mm512_set1_ps(w[j + 1]);
            for (int u = 0; u < nvec; ++u) {
              even[u] = _mm512_fmadd_ps(w0, _mm512_load_ps(&vr[j][d0 + 16 * u]), even[u]);
              odd[u] = _mm512_fmadd_ps(w1, _mm512_load_ps(&vr[j + 1][d0 + 16 * u]), odd[u]);
            }
          }
          if (j < nv)
            for (int u = 0; u < nvec; ++u)
              even[u] = _mm512_fmadd_ps(_mm512_set1_ps(w[j]), _mm512_load_ps(&vr[j][d0 + 16 * u]), even[u]);
          for (int u = 0; u < nvec; ++u) _mm512_storeu_ps(o + d0 + 16 * u, _mm512_add_ps(even[u], odd[u]));
        }
      }
    }
  }
  for (int32_t t = 0; t < n_tok; ++t)
    for (int32_t h = 0; h < n_q; ++h) {
      const __m512 inv = _mm512_set1_ps(1.0f / l[t][h]);
      float* o = out[t] + static_cast<int64_t>(h) * hd;
      for (int32_t i = 0; i < hd; i += 16) _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_loadu_ps(o + i), inv));
    }
}

}  // namespace hayate::detail
