#include "forward/encoder.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace hayate {
namespace {

// The inputs' last hidden states in the backend's scratch (valid until its next reset_scratch).
Tensor hidden_states(const BertModel& m, std::span<const EncoderInput> inputs, Backend& be) {
  const BertHParams& hp = m.hp;
  if (inputs.empty()) fail(ErrorKind::BadInput, "an encoder pass needs at least one input");
  std::vector<int32_t> ids, positions, types, lens;
  for (const EncoderInput& in : inputs) {
    check_encoder_input(m, in.ids, in.types);
    lens.push_back(static_cast<int32_t>(in.ids.size()));
    for (size_t i = 0; i < in.ids.size(); ++i) {
      ids.push_back(in.ids[i]);
      positions.push_back(static_cast<int32_t>(i));
      types.push_back(in.types.empty() ? 0 : in.types[i]);
    }
  }
  const auto n = static_cast<int64_t>(ids.size());
  be.reset_scratch();
  Tensor x = be.alloc(n, hp.n_embd), t = be.alloc(n, hp.n_embd);
  be.get_rows(m.tok_embd, ids, x);
  be.get_rows(m.pos_embd, positions, t);
  be.add(x, t);
  if (m.type_embd) {
    be.get_rows(m.type_embd, types, t);
    be.add(x, t);
  }
  be.layer_norm(x, m.embd_norm, m.embd_norm_b, hp.eps, x);

  for (const BertLayer& l : m.layers) {
    const size_t mark = be.scratch_mark();
    Tensor q = be.alloc(n, hp.n_embd), k = be.alloc(n, hp.n_embd), v = be.alloc(n, hp.n_embd);
    be.matmul(l.wq, x, q, &l.bq);
    be.matmul(l.wk, x, k, &l.bk);
    be.matmul(l.wv, x, v, &l.bv);
    be.encoder_attention(q, k, v, lens, hp.n_head, t);
    be.matmul(l.wo, t, q, &l.bo);
    be.add(x, q);
    be.layer_norm(x, l.attn_norm, l.attn_norm_b, hp.eps, x);
    Tensor up = be.alloc(n, hp.n_ff);
    be.matmul(l.ffn_up, x, up, &l.ffn_up_b);
    be.gelu(up, up);
    be.matmul(l.ffn_down, up, q, &l.ffn_down_b);
    be.add(x, q);
    be.layer_norm(x, l.out_norm, l.out_norm_b, hp.eps, x);
    be.scratch_release(mark);
  }
  return x;
}

// The cross-encoder's scores of one pass's inputs.
std::vector<float> pass_scores(const BertModel& m, std::span<const EncoderInput> inputs, Backend& be) {
  const Tensor h = hidden_states(m, inputs, be);
  std::vector<int32_t> first_rows;
  int32_t row = 0;
  for (const EncoderInput& in : inputs) {
    first_rows.push_back(row);
    row += static_cast<int32_t>(in.ids.size());
  }
  const auto k = static_cast<int64_t>(inputs.size());
  Tensor first = be.alloc(k, m.hp.n_embd), pooled = be.alloc(k, m.hp.n_embd);
  be.copy_rows(h, first_rows, first);
  be.matmul(m.cls, first, pooled, &m.cls_b);
  // tanh is the head's alone: on the host, between the two small products.
  std::vector<float> host(static_cast<size_t>(k * m.hp.n_embd));
  be.to_host(pooled, host.data());
  for (float& p : host) p = std::tanh(p);
  be.from_host(host.data(), pooled);
  Tensor logits = be.alloc(k, m.cls_out.rows);
  be.matmul(m.cls_out, pooled, logits, &m.cls_out_b);
  std::vector<float> all(static_cast<size_t>(k * m.cls_out.rows)), scores;
  be.to_host(logits, all.data());
  for (int64_t i = 0; i < k; ++i) scores.push_back(all[static_cast<size_t>(i * m.cls_out.rows)]);
  return scores;
}

// fn(inputs of one pass) for consecutive runs of the inputs within the backend's
// encoder_pass_tokens() (an input longer than that runs alone). On the CPU (512), in a larger
// pass the activations (tokens x n_ff floats) leave the caches while each chunk of weight rows
// sweeps them, and a token costs more than in a smaller one (bge-small shape, Q8_0, 242-token
// inputs: passes of 2 inputs 1.2x the throughput of passes of 16, docs/benchmarks.md).
template <class Fn>
void by_passes(std::span<const EncoderInput> inputs, const Backend& be, const Fn& fn) {
  if (inputs.empty()) fail(ErrorKind::BadInput, "an encoder pass needs at least one input");
  const auto pass_tokens = static_cast<size_t>(std::max<int64_t>(be.encoder_pass_tokens(), 1));
  for (size_t start = 0, end = 0; start < inputs.size(); start = end) {
    size_t tokens = 0;
    while (end < inputs.size() && (end == start || tokens + inputs[end].ids.size() <= pass_tokens))
      tokens += inputs[end++].ids.size();
    fn(inputs.subspan(start, end - start));
  }
}

}  // namespace

void check_encoder_input(const BertModel& m, std::span<const int32_t> ids, std::span<const int32_t> types) {
  const BertHParams& hp = m.hp;
  if (ids.empty()) fail(ErrorKind::BadInput, "an encoder input needs at least one token");
  if (ids.size() > static_cast<size_t>(hp.n_ctx_train))
    fail(ErrorKind::BadInput, "the input has " + std::to_string(ids.size()) + " tokens; " + m.source +
                                  " takes at most " + std::to_string(hp.n_ctx_train));
  if (!types.empty() && types.size() != ids.size())
    fail(ErrorKind::BadInput, "token types (" + std::to_string(types.size()) + ") and tokens (" +
                                  std::to_string(ids.size()) + ") differ in number");
  for (int32_t id : ids)
    if (id < 0 || id >= hp.n_vocab)
      fail(ErrorKind::BadInput, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                    std::to_string(hp.n_vocab) + " tokens");
  for (int32_t t : types)
    if (t < 0 || t >= std::max(hp.n_token_types, 1) || (t > 0 && !m.type_embd))
      fail(ErrorKind::BadInput, "token type " + std::to_string(t) + " is outside the model's " +
                                    std::to_string(hp.n_token_types) + " types");
}

std::vector<float> encoder_hidden(const BertModel& m, std::span<const EncoderInput> inputs, Backend& be) {
  std::vector<float> out;
  by_passes(inputs, be, [&](std::span<const EncoderInput> pass) {
    const Tensor x = hidden_states(m, pass, be);
    out.resize(out.size() + static_cast<size_t>(x.rows * x.cols));
    be.to_host(x, out.data() + out.size() - static_cast<size_t>(x.rows * x.cols));
  });
  return out;
}

std::vector<std::vector<float>> encoder_embed(const BertModel& m, std::span<const EncoderInput> inputs, Backend& be) {
  if (m.is_reranker())
    fail(ErrorKind::BadInput, m.source + " is a reranker (pooling rank): it scores pairs, it does not embed");
  const std::vector<float> h = encoder_hidden(m, inputs, be);
  std::vector<std::vector<float>> out;
  const float* rows = h.data();
  for (const EncoderInput& in : inputs) {
    const auto n = static_cast<int64_t>(in.ids.size());
    out.push_back(pool_embedding(m.hp, rows, n));
    rows += n * m.hp.n_embd;
  }
  return out;
}

std::vector<float> encoder_score(const BertModel& m, std::span<const EncoderInput> inputs, Backend& be) {
  if (!m.is_reranker() || !m.cls || !m.cls_out)
    fail(ErrorKind::BadInput, m.source + " has no classification head (pooling rank); it cannot score pairs");
  std::vector<float> scores;
  by_passes(inputs, be, [&](std::span<const EncoderInput> pass) {
    for (const float score : pass_scores(m, pass, be)) scores.push_back(score);
  });
  return scores;
}

std::vector<float> pool_embedding(const BertHParams& hp, const float* hidden, int64_t n) {
  const auto e = static_cast<size_t>(hp.n_embd);
  std::vector<double> pooled(e, 0.0);
  if (hp.pooling == Pooling::Cls) {
    for (size_t i = 0; i < e; ++i) pooled[i] = hidden[i];
  } else {
    for (int64_t t = 0; t < n; ++t)
      for (size_t i = 0; i < e; ++i) pooled[i] += hidden[static_cast<size_t>(t) * e + i];
    for (double& p : pooled) p /= static_cast<double>(n);
  }
  double norm = 1.0;
  if (hp.normalize) {
    norm = 0;
    for (double p : pooled) norm += p * p;
    norm = std::sqrt(norm);
  }
  std::vector<float> out(e);
  for (size_t i = 0; i < e; ++i) out[i] = norm > 0 ? static_cast<float>(pooled[i] / norm) : 0.0f;
  return out;
}

}  // namespace hayate
