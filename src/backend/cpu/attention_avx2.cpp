// AVX2 form of attend_group_scalar (same chunked online softmax); head_dim a multiple of 8.
// f16 and q8_0 K/V need F16C, which cpu_has_avx2() includes.
#include <immintrin.h>

#include <cmath>  // INFINITY

#include "backend/cpu/attention_kernels.h"
#include "quant/simd_avx2.h"

namespace hayate::detail {
namespace {

using quant::detail::hsum_ps;

// e^x for x <= 0 (scores minus their maximum): 2^(x log2 e) split into 2^n * 2^f, |f| <= 1/2,
// 2^f by a degree-6 polynomial (relative error about 2e-7); below -87 it flushes towards 0.
inline __m256 exp_neg(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f));
  const __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(t, n);
  __m256 p = _mm256_set1_ps(kExp2Poly[0]);
  for (int i = 1; i < 7; ++i) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2Poly[i]));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// Local instead of std::max / std::fill: a template instantiated in this AVX2 file could be
// the copy the linker keeps for baseline callers elsewhere (see quant/blocks.h).
inline float max_f(float a, float b) { return a > b ? a : b; }

// A row of n values as floats: the row itself (f32) or widened into dst.
inline const float* widen(KvType type, const char* row, int32_t n, float* dst) {
  if (type == KvType::F32) return reinterpret_cast<const float*>(row);
  if (type == KvType::F16) {
    for (int32_t i = 0; i < n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row) + i / 8)));
    return dst;
  }
  for (int32_t b = 0; b < n / 32; ++b) {  // Q8_0: 2-byte fp16 scale, 32 codes
    const char* block = row + 34 * b;
    const __m256 d = _mm256_set1_ps(
        _cvtsh_ss(static_cast<uint16_t>(static_cast<uint8_t>(block[0]) | (static_cast<uint8_t>(block[1]) << 8))));
    for (int i = 0; i < 32; i += 8) {
      const __m128i codes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + i));
      _mm256_storeu_ps(dst + 32 * b + i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes))));
    }
  }
  return dst;
}

}  // namespace

void attend_group_avx2(const AttendGroup& a) {
  constexpr int32_t kChunk = 32;
  const int32_t hd = a.head_dim;
  const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(hd));
  alignas(32) float s[kChunk];
  static thread_local float kbuf[kChunk][kMaxHeadDim], vbuf[kChunk][kMaxHeadDim];
  float m[kMaxGroup], l[kMaxGroup];
  for (int32_t h = 0; h < a.n_q; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
  }
  for (int64_t i = 0; i < static_cast<int64_t>(a.n_q) * hd; i += 8) _mm256_storeu_ps(a.out + i, _mm256_setzero_ps());
  for (int32_t p0 = a.first; p0 <= a.pos; p0 += kChunk) {
    const int32_t np = a.pos + 1 - p0 < kChunk ? a.pos + 1 - p0 : kChunk;
    const float* k[kChunk];
    const float* v[kChunk];
    // f16 and q8_0 rows are widened into the chunk's buffers once, for all the group's heads.
    const size_t row_bytes = kv_bytes(a.values, hd);
    for (int32_t j = 0; j < np; ++j) {
      const int32_t p = p0 + j;
      const int64_t slot = static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
      const auto* kr = static_cast<const char*>(a.k_base) + kv_bytes(a.values, head_at(a, slot));
      const auto* vr = static_cast<const char*>(a.v_base) + kv_bytes(a.values, head_at(a, slot));
      // The chunk's rows come from DRAM (the weights have streamed through the caches since they
      // were written), and at most a block's worth are consecutive: ask for all their lines up front.
      for (size_t i = 0; i < row_bytes; i += 64) {
        _mm_prefetch(kr + i, _MM_HINT_T0);
        _mm_prefetch(vr + i, _MM_HINT_T0);
      }
      k[j] = widen(a.values, kr, hd, kbuf[j]);
      v[j] = widen(a.values, vr, hd, vbuf[j]);
    }
    for (int32_t h = 0; h < a.n_q; ++h) {
      const float* q = a.q + static_cast<int64_t>(h) * hd;
      float chunk_max = -INFINITY;
      for (int32_t j = 0; j < np; ++j) {
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int32_t i = 0;
        for (; i + 16 <= hd; i += 16) {
          acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k[j] + i), acc0);
          acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k[j] + i + 8), acc1);
        }
        if (i < hd) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k[j] + i), acc0);
        s[j] = hsum_ps(_mm256_add_ps(acc0, acc1)) * scale;
        chunk_max = max_f(chunk_max, s[j]);
      }
      for (int32_t j = np; j < kChunk; ++j) s[j] = -INFINITY;
      const float new_max = max_f(m[h], chunk_max);
      const float correction = __builtin_expf(m[h] - new_max);  // 0 on the first chunk
      const __m256 vmax = _mm256_set1_ps(new_max);
      __m256 vsum = _mm256_setzero_ps();
      for (int32_t j = 0; j < kChunk; j += 8) {
        __m256 e = exp_neg(_mm256_sub_ps(_mm256_load_ps(s + j), vmax));
        // Padding lanes (-inf) must give exactly 0.
        e = _mm256_and_ps(e, _mm256_cmp_ps(_mm256_load_ps(s + j), _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
        _mm256_store_ps(s + j, e);
        vsum = _mm256_add_ps(vsum, e);
      }
      float* o = a.out + static_cast<int64_t>(h) * hd;
      const __m256 corr = _mm256_set1_ps(correction);
      // Eight output vectors at a time, so eight independent FMA chains run over the positions
      // (one chain per vector waits on the FMA latency at every position). Each element still
      // sums the positions in order: the same bits as one vector at a time.
      int32_t i = 0;
      for (; i + 64 <= hd; i += 64) {
        __m256 acc[8];
        for (int u = 0; u < 8; ++u) acc[u] = _mm256_mul_ps(_mm256_loadu_ps(o + i + 8 * u), corr);
        for (int32_t j = 0; j < np; ++j) {
          const __m256 w = _mm256_set1_ps(s[j]);
          for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v[j] + i + 8 * u), acc[u]);
        }
        for (int u = 0; u < 8; ++u) _mm256_storeu_ps(o + i + 8 * u, acc[u]);
      }
      for (; i < hd; i += 8) {
        __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(o + i), corr);
        for (int32_t j = 0; j < np; ++j) acc = _mm256_fmadd_ps(_mm256_set1_ps(s[j]), _mm256_loadu_ps(v[j] + i), acc);
        _mm256_storeu_ps(o + i, acc);
      }
      l[h] = l[h] * correction + hsum_ps(vsum);
      m[h] = new_max;
    }
  }
  for (int32_t h = 0; h < a.n_q; ++h) {
    const __m256 inv = _mm256_set1_ps(1.0f / l[h]);
    float* o = a.out + static_cast<int64_t>(h) * hd;
    for (int32_t i = 0; i < hd; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), inv));
  }
}

}  // namespace hayate::detail
