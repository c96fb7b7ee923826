#include "vision/encoder.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace hayate::vision {

void layer_norm(std::span<float> x, int64_t cols, const float* w, const float* b, float eps) {
  for (size_t r = 0; r + static_cast<size_t>(cols) <= x.size(); r += static_cast<size_t>(cols)) {
    float* row = x.data() + r;
    double mean = 0;
    for (int64_t i = 0; i < cols; ++i) mean += row[i];
    mean /= static_cast<double>(cols);
    double var = 0;
    for (int64_t i = 0; i < cols; ++i) var += (row[i] - mean) * (row[i] - mean);
    const double inv = 1.0 / std::sqrt(var / static_cast<double>(cols) + eps);
    for (int64_t i = 0; i < cols; ++i) row[i] = static_cast<float>((row[i] - mean) * inv) * w[i] + b[i];
  }
}

void gelu(std::span<float> x) {
  for (float& v : x) v = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
}

void quick_gelu(std::span<float> x) {
  for (float& v : x) v = v / (1.0f + std::exp(-1.702f * v));
}

void full_attention(const float* q, const float* k, const float* v, float* out, int64_t n, int32_t n_head,
                    int32_t head_dim, ThreadPool& pool) {
  const int64_t dim = static_cast<int64_t>(n_head) * head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  // K transposed per head (head_dim rows of n), so a query's scores accumulate as axpys over
  // positions, which the compiler vectorises without reordering any sum.
  std::vector<float> kt(static_cast<size_t>(dim * n));
  pool.parallel_for(n_head, [&](int64_t h, int) {
    for (int64_t j = 0; j < n; ++j)
      for (int32_t e = 0; e < head_dim; ++e)
        kt[static_cast<size_t>((h * head_dim + e) * n + j)] = k[j * dim + h * head_dim + e];
  });
  // One task per (head, query row): the scores of a row are one vector of n.
  pool.parallel_for(n_head * n, [&](int64_t task, int) {
    const int64_t h = task / n, i = task % n;
    const float* qi = q + i * dim + h * head_dim;
    std::vector<float> s(static_cast<size_t>(n), 0.0f);
    for (int32_t e = 0; e < head_dim; ++e) {
      const float qe = qi[e];
      const float* row = kt.data() + (h * head_dim + e) * n;
      for (int64_t j = 0; j < n; ++j) s[static_cast<size_t>(j)] += qe * row[j];
    }
    float max = -INFINITY;
    for (float& e : s) max = std::max(max, e *= scale);
    float sum = 0;
    for (float& e : s) sum += (e = std::exp(e - max));
    float* o = out + i * dim + h * head_dim;
    std::fill(o, o + head_dim, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float p = s[static_cast<size_t>(j)] / sum;
      const float* vj = v + j * dim + h * head_dim;
      for (int32_t e = 0; e < head_dim; ++e) o[e] += p * vj[e];
    }
  });
}

ClipEncoder::ClipEncoder(const ClipModel& model, Backend& backend, int n_threads)
    : m_(model), be_(backend), pool_(n_threads) {
  for (const Weight* w : backend_weights(m_)) be_.prepare_weight(*w);
}

Tensor ClipEncoder::upload(std::span<const float> host, int64_t rows, int64_t cols) {
  Tensor t = be_.alloc(rows, cols);
  be_.from_host(host.data(), t);
  return t;
}

std::vector<float> ClipEncoder::download(Tensor t) {
  std::vector<float> host(static_cast<size_t>(t.rows * t.cols));
  be_.to_host(t, host.data());
  return host;
}

std::vector<float> ClipEncoder::linear(const Weight& w, const Weight& b, std::span<const float> x, int64_t rows) {
  const size_t mark = be_.scratch_mark();
  Tensor in = upload(x, rows, w.cols);
  Tensor out = be_.alloc(rows, w.rows);
  be_.matmul(w, in, out, b ? &b : nullptr);
  std::vector<float> host = download(out);
  be_.scratch_release(mark);
  return host;
}

void ClipEncoder::block(const ClipLayer& l, std::vector<float>& x) {
  const ClipHParams& hp = m_.hp;
  const int64_t n = hp.n_positions(), d = hp.n_embd;
  auto f32 = [](const Weight& w) { return static_cast<const float*>(w.data); };
  std::vector<float> h = x;
  layer_norm(h, d, f32(l.ln1_w), f32(l.ln1_b), hp.eps);
  const std::vector<float> q = linear(l.q_w, l.q_b, h, n);
  const std::vector<float> k = linear(l.k_w, l.k_b, h, n);
  const std::vector<float> v = linear(l.v_w, l.v_b, h, n);
  full_attention(q.data(), k.data(), v.data(), h.data(), n, hp.n_head, hp.head_dim(), pool_);
  const std::vector<float> o = linear(l.o_w, l.o_b, h, n);
  for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];

  h = x;
  layer_norm(h, d, f32(l.ln2_w), f32(l.ln2_b), hp.eps);
  std::vector<float> up = linear(l.up_w, l.up_b, h, n);
  if (hp.act == Activation::Gelu)
    gelu(up);
  else
    quick_gelu(up);
  const std::vector<float> down = linear(l.down_w, l.down_b, up, n);
  for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
}

std::vector<float> ClipEncoder::features(std::span<const float> chw, int width, int height) {
  const ClipHParams& hp = m_.hp;
  if (width != hp.image_size || height != hp.image_size)
    fail(ErrorKind::BadInput, "vision encoder: the image is " + std::to_string(width) + "x" + std::to_string(height) +
                                  " pixels; this model takes " + std::to_string(hp.image_size) + "x" +
                                  std::to_string(hp.image_size) + " (resize it first)");
  if (chw.size() != static_cast<size_t>(3) * static_cast<size_t>(width) * static_cast<size_t>(height))
    fail(ErrorKind::BadInput, "vision encoder: " + std::to_string(chw.size()) + " floats for a 3x" +
                                  std::to_string(height) + "x" + std::to_string(width) + " image");
  const int64_t side = hp.patches_per_side(), p = hp.patch_size, np = hp.n_patches(), d = hp.n_embd;
  const int64_t plane = static_cast<int64_t>(width) * height;
  // Patch (py, px) flattened as the convolution's weight is: (channel, row, column).
  std::vector<float> patches(static_cast<size_t>(np * hp.patch_dim()));
  float* dst = patches.data();
  for (int64_t py = 0; py < side; ++py)
    for (int64_t px = 0; px < side; ++px)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t ky = 0; ky < p; ++ky) {
          const float* src = chw.data() + c * plane + (py * p + ky) * width + px * p;
          dst = std::copy(src, src + p, dst);
        }

  be_.reset_scratch();
  const std::vector<float> embedded = linear(m_.patch_embd, m_.patch_bias, patches, np);
  const auto* cls = static_cast<const float*>(m_.class_embd.data);
  const auto* pos = static_cast<const float*>(m_.pos_embd.data);
  std::vector<float> x(static_cast<size_t>(hp.n_positions() * d));
  for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(i)] = cls[i] + pos[i];
  for (int64_t r = 1; r <= np; ++r)
    for (int64_t i = 0; i < d; ++i)
      x[static_cast<size_t>(r * d + i)] = embedded[static_cast<size_t>((r - 1) * d + i)] + pos[r * d + i];
  layer_norm(x, d, static_cast<const float*>(m_.pre_ln_w.data), static_cast<const float*>(m_.pre_ln_b.data), hp.eps);
  for (const ClipLayer& l : m_.layers) block(l, x);
  x.erase(x.begin(), x.begin() + d);  // the class token
  return x;
}

std::vector<float> ClipEncoder::project(std::span<const float> features) {
  const int64_t d = m_.hp.n_embd;
  if (features.empty() || features.size() % static_cast<size_t>(d) != 0)
    fail(ErrorKind::BadInput,
         "vision projector: " + std::to_string(features.size()) + " floats are not whole rows of " + std::to_string(d));
  const auto n = static_cast<int64_t>(features.size()) / d;
  be_.reset_scratch();
  std::vector<float> h = linear(m_.mm0_w, m_.mm0_b, features, n);
  gelu(h);
  return linear(m_.mm2_w, m_.mm2_b, h, n);
}

}  // namespace hayate::vision
