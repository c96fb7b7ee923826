#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/attention_kernels.h"
#include "core/fp16.h"
#include "quant/blocks.h"

namespace hayate::detail {
namespace {

// head_dim values of a K or V row from value `at`, as floats.
void load(const AttendGroup& a, const void* base, int64_t at, float* dst) {
  const auto* bytes = static_cast<const uint8_t*>(base) + kv_bytes(a.values, at);
  switch (a.values) {
    case KvType::F32:
      std::memcpy(dst, bytes, static_cast<size_t>(a.head_dim) * sizeof(float));
      return;
    case KvType::F16:
      for (int32_t i = 0; i < a.head_dim; ++i) dst[i] = fp16_to_f32(reinterpret_cast<const uint16_t*>(bytes)[i]);
      return;
    case KvType::Q8_0:
      for (int32_t b = 0; b < a.head_dim / 32; ++b) {
        const auto& block = reinterpret_cast<const quant::BlockQ8_0*>(bytes)[b];
        const float d = fp16_to_f32(block.d);
        for (int i = 0; i < 32; ++i) dst[32 * b + i] = d * static_cast<float>(block.qs[i]);
      }
      return;
  }
}

}  // namespace

void attend_group_scalar(const AttendGroup& a) {
  constexpr int32_t kChunk = 32;
  const float scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  float m[kMaxGroup], l[kMaxGroup], s[kMaxGroup][kChunk];
  static thread_local float k[kChunk][kMaxHeadDim], v[kChunk][kMaxHeadDim];
  std::fill(m, m + a.n_q, -INFINITY);
  std::fill(l, l + a.n_q, 0.0f);
  std::memset(a.out, 0, sizeof(float) * static_cast<size_t>(a.n_q) * a.head_dim);
  for (int32_t p0 = a.first; p0 <= a.pos; p0 += kChunk) {
    const int32_t np = std::min(kChunk, a.pos + 1 - p0);
    for (int32_t j = 0; j < np; ++j) {
      const int32_t p = p0 + j;
      const int64_t slot = static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
      load(a, a.k_base, head_at(a, slot), k[j]);
      load(a, a.v_base, head_at(a, slot), v[j]);
    }
    for (int32_t h = 0; h < a.n_q; ++h) {
      const float* q = a.q + static_cast<int64_t>(h) * a.head_dim;
      float chunk_max = -INFINITY;
      for (int32_t j = 0; j < np; ++j) {
        float dot = 0.0f;
        for (int32_t i = 0; i < a.head_dim; ++i) dot += q[i] * k[j][i];
        s[h][j] = dot * scale;
        chunk_max = std::max(chunk_max, s[h][j]);
      }
      const float new_max = std::max(m[h], chunk_max);
      const float correction = std::exp(m[h] - new_max);  // 0 on the first chunk
      float* o = a.out + static_cast<int64_t>(h) * a.head_dim;
      for (int32_t i = 0; i < a.head_dim; ++i) o[i] *= correction;
      float sum = 0.0f;
      for (int32_t j = 0; j < np; ++j) {
        const float e = std::exp(s[h][j] - new_max);
        sum += e;
        for (int32_t i = 0; i < a.head_dim; ++i) o[i] += e * v[j][i];
      }
      l[h] = l[h] * correction + sum;
      m[h] = new_max;
    }
  }
  for (int32_t h = 0; h < a.n_q; ++h) {
    const float inv = 1.0f / l[h];
    float* o = a.out + static_cast<int64_t>(h) * a.head_dim;
    for (int32_t i = 0; i < a.head_dim; ++i) o[i] *= inv;
  }
}

}  // namespace hayate::detail
