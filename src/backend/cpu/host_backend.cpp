#include "backend/cpu/host_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/elementwise.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "quant/quant.h"

namespace hayate {

std::unique_ptr<KvCache> HostBackend::make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) {
  auto cache = std::make_unique<CpuKvCache>(hp, n_blocks, block_size, kv_type());
  cache->backend = name();
  cache->sliding_window = hp.sliding_window;
  cache->window_layers = hp.swa_layers;
  return cache;
}

Tensor HostBackend::alloc(int64_t rows, int64_t cols) {
  const size_t n = static_cast<size_t>(rows * cols);
  if (next_ == buffers_.size()) {
    buffers_.emplace_back();
    sizes_.push_back(0);
    used_.push_back(0);
  }
  if (sizes_[next_] < n) {
    buffers_[next_] = std::make_unique_for_overwrite<float[]>(n);
    sizes_[next_] = n;
  }
  used_[next_] = std::max(used_[next_], n);
  return Tensor{buffers_[next_++].get(), rows, cols};
}

void HostBackend::reset_scratch() {
  constexpr size_t kMinRelease = (1u << 20) / sizeof(float);  // slots under 1 MiB are kept whole
  for (size_t i = 0; i < buffers_.size(); ++i) {
    // Scratch contents do not outlive a pass, so the pages may come back zeroed.
    if (sizes_[i] >= kMinRelease && used_[i] < sizes_[i] / 4)
      release_pages(buffers_[i].get() + used_[i], (sizes_[i] - used_[i]) * sizeof(float));
    used_[i] = 0;
  }
  next_ = 0;
}

void HostBackend::to_host(Tensor x, float* dst) {
  std::memcpy(dst, x.data, static_cast<size_t>(x.rows * x.cols) * sizeof(float));
}

void HostBackend::get_rows(const Weight& table, std::span<const int32_t> ids, Tensor out) {
  for (size_t i = 0; i < ids.size(); ++i)
    quant::dequantize_row(table.type, table.row(ids[i]), out.data + i * out.cols, table.cols);
}

void HostBackend::copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) {
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(out.data + i * out.cols, x.data + rows[i] * x.cols, static_cast<size_t>(x.cols) * sizeof(float));
}

void HostBackend::rms_norm(Tensor x, const Weight& w, float eps, Tensor out) {
  const int64_t group = w.cols;
  const float* weight = static_cast<const float*>(w.data);
  const int64_t n_groups = x.rows * (x.cols / group);
  for (int64_t g = 0; g < n_groups; ++g) {
    const float* in = x.data + g * group;
    float* o = out.data + g * group;
    double sum = 0.0;
    for (int64_t i = 0; i < group; ++i) sum += static_cast<double>(in[i]) * in[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(group) + eps));
    for (int64_t i = 0; i < group; ++i) o[i] = in[i] * scale * weight[i];
  }
}

void HostBackend::rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) {
  const int32_t half = p.n_rot / 2;
  std::vector<float> cos_t(half), sin_t(half);
  for (int64_t t = 0; t < x.rows; ++t) {
    for (int32_t i = 0; i < half; ++i) {
      double inv_freq = std::pow(static_cast<double>(p.theta), -2.0 * i / p.n_rot) * p.freq_scale;
      if (p.freq_factors) inv_freq /= p.freq_factors[i];
      const float angle = static_cast<float>(positions[t]) * static_cast<float>(inv_freq);
      cos_t[i] = std::cos(angle) * p.attn_factor;
      sin_t[i] = std::sin(angle) * p.attn_factor;
    }
    for (int32_t h = 0; h < n_heads; ++h) {
      float* v = x.data + t * x.cols + static_cast<int64_t>(h) * p.head_dim;
      for (int32_t i = 0; i < half; ++i) {
        // Norm rotates neighbours (2i, 2i+1); Neox rotates (i, i + half).
        const int32_t a = p.type == RopeType::Norm ? 2 * i : i;
        const int32_t b = p.type == RopeType::Norm ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cos_t[i] - x1 * sin_t[i];
        v[b] = x0 * sin_t[i] + x1 * cos_t[i];
      }
    }
  }
}

void HostBackend::store_kv(KvCache& kv_base, int32_t layer, Tensor k, Tensor v, const Batch& batch) {
  auto& kv = cache_of<CpuKvCache>(kv_base, *this);
  for (size_t t = 0; t < batch.size(); ++t) {
    const int64_t slot = kv_slot(batch.sequences[batch.seq[t]].block_table, kv.block_size, batch.positions[t]);
    kv.store(layer, slot, k.data + t * k.cols, v.data + t * v.cols);
  }
}

void HostBackend::swiglu(Tensor gate, Tensor up, Tensor out) {
  detail::swiglu_scalar(gate.data, up.data, out.data, gate.rows * gate.cols);
}

void detail::swiglu_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void HostBackend::scale(Tensor x, float s) {
  const int64_t n = x.rows * x.cols;
  for (int64_t i = 0; i < n; ++i) x.data[i] *= s;
}

void HostBackend::geglu(Tensor gate, Tensor up, Tensor out) {
  // PyTorch's gelu(approximate="tanh"), in float as it computes it.
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  const int64_t n = gate.rows * gate.cols;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate.data[i];
    out.data[i] = 0.5f * g * (1.0f + std::tanh(k * (g + 0.044715f * g * g * g))) * up.data[i];
  }
}

void HostBackend::layer_norm(Tensor x, const Weight& w, const Weight& b, float eps, Tensor out) {
  check_layer_norm(x, w, b, out);
  const auto* weight = static_cast<const float*>(w.data);
  const auto* bias = static_cast<const float*>(b.data);
  for (int64_t t = 0; t < x.rows; ++t) {
    const float* in = x.data + t * x.cols;
    float* o = out.data + t * out.cols;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < x.cols; ++i) mean += in[i];
    mean /= static_cast<double>(x.cols);
    for (int64_t i = 0; i < x.cols; ++i) var += (in[i] - mean) * (in[i] - mean);
    var /= static_cast<double>(x.cols);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < x.cols; ++i) o[i] = static_cast<float>((in[i] - mean) * inv) * weight[i] + bias[i];
  }
}

void HostBackend::gelu(Tensor x, Tensor out) {
  check_gelu(x, out);
  const int64_t n = x.rows * x.cols;
  for (int64_t i = 0; i < n; ++i) out.data[i] = 0.5f * x.data[i] * (1.0f + std::erf(x.data[i] * 0.70710678118654752f));
}

void HostBackend::encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                                    Tensor out) {
  check_encoder_attention(q, k, v, seq_lens, n_head, out);
  const auto head_dim = static_cast<int32_t>(q.cols / n_head);
  int64_t first = 0;
  for (const int32_t len : seq_lens) {
    std::vector<float> scores(static_cast<size_t>(len));
    for (int64_t t = first; t < first + len; ++t)
      for (int32_t h = 0; h < n_head; ++h) attend_all(q, k, v, t, h, head_dim, first, len, scores.data(), out.data);
    first += len;
  }
}

void HostBackend::attend_all(Tensor q, Tensor k, Tensor v, int64_t t, int32_t h, int32_t head_dim, int64_t first,
                             int64_t len, float* scores, float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t off = static_cast<int64_t>(h) * head_dim;
  const float* qt = q.data + t * q.cols + off;
  float top = -INFINITY;
  for (int64_t s = 0; s < len; ++s) {
    const float* ks = k.data + (first + s) * k.cols + off;
    float dot = 0.0f;
    for (int32_t i = 0; i < head_dim; ++i) dot += qt[i] * ks[i];
    scores[s] = dot * scale;
    top = std::max(top, scores[s]);
  }
  double sum = 0.0;
  for (int64_t s = 0; s < len; ++s) sum += (scores[s] = std::exp(scores[s] - top));
  const float inv = static_cast<float>(1.0 / sum);
  float* o = out + t * q.cols + off;
  std::memset(o, 0, static_cast<size_t>(head_dim) * sizeof(float));
  for (int64_t s = 0; s < len; ++s) {
    const float* vs = v.data + (first + s) * v.cols + off;
    const float p = scores[s] * inv;
    for (int32_t i = 0; i < head_dim; ++i) o[i] += p * vs[i];
  }
}

void HostBackend::add(Tensor x, Tensor y) {
  const int64_t n = x.rows * x.cols;
  for (int64_t i = 0; i < n; ++i) x.data[i] += y.data[i];
}

void HostBackend::attend_one(const CpuKvCache& kv, int32_t layer, const float* q, int32_t kv_head, int32_t head_dim,
                             const std::vector<int32_t>& block_table, int32_t first, int32_t pos, float* scores,
                             float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t off = static_cast<int64_t>(kv_head) * head_dim;
  std::vector<float> row(static_cast<size_t>(head_dim));
  float max_score = -INFINITY;
  for (int32_t p = first; p <= pos; ++p) {
    kv.load_k(layer, kv_slot(block_table, kv.block_size, p), off, head_dim, row.data());
    float s = 0.0f;
    for (int32_t i = 0; i < head_dim; ++i) s += q[i] * row[i];
    scores[p] = s * scale;
    max_score = std::max(max_score, scores[p]);
  }
  double sum = 0.0;
  for (int32_t p = first; p <= pos; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    sum += scores[p];
  }
  const float inv = static_cast<float>(1.0 / sum);
  std::memset(out, 0, static_cast<size_t>(head_dim) * sizeof(float));
  for (int32_t p = first; p <= pos; ++p) {
    kv.load_v(layer, kv_slot(block_table, kv.block_size, p), off, head_dim, row.data());
    const float w = scores[p] * inv;
    for (int32_t i = 0; i < head_dim; ++i) out[i] += w * row[i];
  }
}

}  // namespace hayate
