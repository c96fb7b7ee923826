#include "forward/encoder_oracle.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"
#include "forward/encoder.h"

namespace hayate {
namespace {

// y[t] = W x[t] + b for each of n rows of x (W: out x in).
std::vector<float> linear(const std::vector<float>& x, int64_t n, const Weight& weight, const Weight& bias,
                          ThreadPool* pool) {
  const int64_t in = weight.cols, out = weight.rows;
  const std::vector<float> w = to_floats(weight);
  const auto* b = static_cast<const float*>(bias.data);
  std::vector<float> y(static_cast<size_t>(n * out));
  auto row = [&](int64_t t) {
    const float* xt = x.data() + t * in;
    for (int64_t r = 0; r < out; ++r) {
      const float* wr = w.data() + r * in;
      double s = b ? b[r] : 0.0;
      for (int64_t c = 0; c < in; ++c) s += static_cast<double>(xt[c]) * wr[c];
      y[static_cast<size_t>(t * out + r)] = static_cast<float>(s);
    }
  };
  if (pool != nullptr && n > 1) {
    pool->parallel_for(n, [&](int64_t t, int) { row(t); });
  } else {
    for (int64_t t = 0; t < n; ++t) row(t);
  }
  return y;
}

// x = LayerNorm(x) row by row (population variance, as torch).
void layer_norm(std::vector<float>& x, int64_t n, const Weight& weight, const Weight& bias, float eps) {
  const int64_t d = weight.cols;
  const auto* w = static_cast<const float*>(weight.data);
  const auto* b = static_cast<const float*>(bias.data);
  for (int64_t t = 0; t < n; ++t) {
    float* v = x.data() + t * d;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += v[i];
    mean /= static_cast<double>(d);
    for (int64_t i = 0; i < d; ++i) var += (v[i] - mean) * (v[i] - mean);
    var /= static_cast<double>(d);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < d; ++i) v[i] = static_cast<float>((v[i] - mean) * inv * w[i] + b[i]);
  }
}

void add(std::vector<float>& x, const std::vector<float>& y) {
  for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
}

float gelu(float x) { return static_cast<float>(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)))); }

// Every token attends to every token of the input (no causal mask), head by head.
std::vector<float> attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                             int64_t n, const BertHParams& hp, ThreadPool* pool) {
  const int64_t e = hp.n_embd, hd = hp.head_dim();
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  std::vector<float> out(static_cast<size_t>(n * e));
  auto one = [&](int64_t task) {
    const int64_t t = task / hp.n_head, h = task % hp.n_head;
    std::vector<double> p(static_cast<size_t>(n));
    double top = -INFINITY;
    for (int64_t s = 0; s < n; ++s) {
      double dot = 0;
      for (int64_t i = 0; i < hd; ++i) dot += static_cast<double>(q[t * e + h * hd + i]) * k[s * e + h * hd + i];
      p[s] = dot * scale;
      top = std::max(top, p[s]);
    }
    double sum = 0;
    for (double& x : p) sum += (x = std::exp(x - top));
    for (int64_t i = 0; i < hd; ++i) {
      double acc = 0;
      for (int64_t s = 0; s < n; ++s) acc += p[s] * v[s * e + h * hd + i];
      out[static_cast<size_t>(t * e + h * hd + i)] = static_cast<float>(acc / sum);
    }
  };
  const int64_t tasks = n * hp.n_head;
  if (pool != nullptr && tasks > 1) {
    pool->parallel_for(tasks, [&](int64_t task, int) { one(task); });
  } else {
    for (int64_t task = 0; task < tasks; ++task) one(task);
  }
  return out;
}

}  // namespace

std::vector<float> bert_hidden(const BertModel& m, const std::vector<int32_t>& ids, const std::vector<int32_t>& types,
                               ThreadPool* pool) {
  check_encoder_input(m, ids, types);
  const BertHParams& hp = m.hp;
  const auto n = static_cast<int64_t>(ids.size());
  const int64_t e = hp.n_embd;
  std::vector<float> x(static_cast<size_t>(n * e)), tok(static_cast<size_t>(e)), pos(tok.size()), type(tok.size());
  for (int64_t t = 0; t < n; ++t) {
    row_to_floats(m.tok_embd, ids[t], tok.data());
    row_to_floats(m.pos_embd, t, pos.data());
    if (m.type_embd) row_to_floats(m.type_embd, types.empty() ? 0 : types[t], type.data());
    for (int64_t i = 0; i < e; ++i) x[t * e + i] = tok[i] + pos[i] + type[i];
  }
  layer_norm(x, n, m.embd_norm, m.embd_norm_b, hp.eps);

  for (const BertLayer& l : m.layers) {
    const std::vector<float> q = linear(x, n, l.wq, l.bq, pool);
    const std::vector<float> k = linear(x, n, l.wk, l.bk, pool);
    const std::vector<float> v = linear(x, n, l.wv, l.bv, pool);
    add(x, linear(attention(q, k, v, n, hp, pool), n, l.wo, l.bo, pool));
    layer_norm(x, n, l.attn_norm, l.attn_norm_b, hp.eps);
    std::vector<float> up = linear(x, n, l.ffn_up, l.ffn_up_b, pool);
    for (float& u : up) u = gelu(u);
    add(x, linear(up, n, l.ffn_down, l.ffn_down_b, pool));
    layer_norm(x, n, l.out_norm, l.out_norm_b, hp.eps);
  }
  return x;
}

std::vector<float> bert_embed(const BertModel& m, const std::vector<int32_t>& ids, ThreadPool* pool) {
  if (m.is_reranker())
    fail(ErrorKind::BadInput, m.source + " is a reranker (pooling rank): it scores pairs, it does not embed");
  return pool_embedding(m.hp, bert_hidden(m, ids, {}, pool).data(), static_cast<int64_t>(ids.size()));
}

float bert_score(const BertModel& m, const std::vector<int32_t>& ids, const std::vector<int32_t>& types,
                 ThreadPool* pool) {
  if (!m.is_reranker() || !m.cls || !m.cls_out)
    fail(ErrorKind::BadInput, m.source + " has no classification head (pooling rank); it cannot score pairs");
  const std::vector<float> h = bert_hidden(m, ids, types, pool);
  const std::vector<float> first(h.begin(), h.begin() + m.hp.n_embd);
  std::vector<float> pooled = linear(first, 1, m.cls, m.cls_b, nullptr);
  for (float& p : pooled) p = std::tanh(p);
  return linear(pooled, 1, m.cls_out, m.cls_out_b, nullptr)[0];
}

}  // namespace hayate
