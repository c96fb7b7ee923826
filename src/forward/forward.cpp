// The transformer forward pass of every architecture of the table (model/model.h), written
// once over backend operations. Architectural differences are data in HParams and optional
// weights: QKV biases, per-head q/k norms, rope style, tied embeddings, windowed layers with their
// own RoPE base, post-norms, the gate's activation, scaled embeddings and queries (gemma3),
// LongRoPE's factors (phi3), a mixture of experts (qwen3moe, Mixtral).
#include "forward/forward.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "forward/split.h"
#include "forward/tensor_parallel.h"

namespace hayate {
namespace {

// The layer's RoPE: a windowed layer of an interleaved model has its own base and no scaling.
RopeParams rope_params(const Model& m, int32_t layer) {
  RopeParams p;
  p.type = m.hp.rope_type;
  p.n_rot = m.hp.n_rot;
  p.head_dim = m.hp.head_dim;
  p.theta = m.hp.rope_theta;
  p.freq_scale = m.hp.rope_freq_scale;
  p.freq_factors = m.rope_freqs ? static_cast<const float*>(m.rope_freqs.data) : nullptr;
  p.attn_factor = m.hp.rope_attn_factor;
  if (!m.hp.swa_layers.empty() && m.hp.windowed(layer)) {
    p.theta = m.hp.rope_theta_swa;
    p.freq_scale = 1.0f;
  }
  return p;
}

// The product q·k is scaled by 1/sqrt(head_dim) in every backend's attention; another scale is
// put on q beforehand.
float query_scale(const HParams& hp) {
  return hp.attn_scale == 0.0f ? 1.0f : hp.attn_scale * std::sqrt(static_cast<float>(hp.head_dim));
}

// `il` is the model's layer, `kv_layer` the cache's (a stage of a split cache holds only its layers).
// `h` is x after the layer's attention norm; returns what the block adds to x (the caller adds it,
// fused with the norm that follows where there is one).
// `comm`: this is one rank of a tensor-parallel group (m its slice), whose partial sums of the
// output projection are summed over the ranks before anything that is not linear in them.
Tensor attention_block(const Model& m, const LayerWeights& l, int32_t il, int32_t kv_layer, Tensor h,
                       const Batch& batch, KvCache& kv, Backend& be, Communicator* comm) {
  const HParams& hp = m.hp;
  const int64_t n = h.rows;
  Tensor q = be.alloc(n, hp.q_dim());
  Tensor k = be.alloc(n, hp.kv_dim());
  Tensor v = be.alloc(n, hp.kv_dim());
  const Weight* ws[3] = {&l.wq, &l.wk, &l.wv};
  const Weight* biases[3] = {l.bq ? &l.bq : nullptr, l.bk ? &l.bk : nullptr, l.bv ? &l.bv : nullptr};
  const Tensor qkv[3] = {q, k, v};
  be.matmul_parts(ws, h, qkv, biases);
  if (l.q_norm) be.rms_norm(q, l.q_norm, hp.rms_eps, q);
  if (l.k_norm) be.rms_norm(k, l.k_norm, hp.rms_eps, k);
  be.rope_store_kv(q, k, v, hp.n_head, hp.n_head_kv, rope_params(m, il), kv, kv_layer, batch);
  if (const float s = query_scale(hp); s != 1.0f) be.scale(q, s);

  Tensor attn = be.alloc(n, hp.q_dim());
  be.attention(kv, kv_layer, q, batch, hp.n_head, hp.n_head_kv, hp.head_dim, attn);

  Tensor o = be.alloc(n, hp.n_embd);
  be.matmul(l.wo, attn, o, l.bo ? &l.bo : nullptr);
  if (comm) comm->all_reduce_sum(o);
  if (l.post_attn_norm) be.rms_norm(o, l.post_attn_norm, hp.rms_eps, o);
  return o;
}

// `h` is x after the layer's FFN norm; returns what the block adds to x.
Tensor feed_forward_block(const Model& m, const LayerWeights& l, Tensor h, Backend& be, Communicator* comm) {
  const HParams& hp = m.hp;
  const int64_t n = h.rows;
  if (hp.n_expert > 0) {
    const MoeFfn moe{&l.ffn_gate_inp, &l.ffn_gate_exps, &l.ffn_up_exps,        &l.ffn_down_exps,
                     hp.n_expert,     hp.n_expert_used, hp.expert_weights_norm};
    Tensor out = be.alloc(n, hp.n_embd);
    be.moe_ffn(moe, h, out);
    return out;
  }
  Tensor gate = be.alloc(n, hp.n_ff);
  be.matmul_gated(hp.ffn_act, l.ffn_gate, l.ffn_up, h, gate);
  Tensor down = be.alloc(n, hp.n_embd);
  be.matmul(l.ffn_down, gate, down);
  if (comm) comm->all_reduce_sum(down);
  if (l.post_ffn_norm) be.rms_norm(down, l.post_ffn_norm, hp.rms_eps, down);
  return down;
}

void check_batch(const Model& m, const Batch& batch, const KvCache& kv) {
  if (m.encoder)  // its pass is forward/encoder.h; the decoder's would read weights it does not have
    fail(ErrorKind::BadInput, m.file->name() +
                                  " is a bert encoder: it embeds text or scores pairs (hayate serve: "
                                  "/v1/embeddings, /v1/rerank) and does not generate");
  const size_t n = batch.size();
  if (n == 0) fail(ErrorKind::BadInput, "forward: empty batch");
  if (batch.positions.size() != n || batch.seq.size() != n || batch.logits.size() != n)
    fail(ErrorKind::Internal, "forward: batch arrays differ in length");
  for (size_t i = 0; i < n; ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= m.hp.n_vocab)
      fail(ErrorKind::BadInput, "token id " + std::to_string(batch.tokens[i]) + " is outside the vocabulary (size " +
                                    std::to_string(m.hp.n_vocab) + ")");
    if (batch.seq[i] < 0 || batch.seq[i] >= static_cast<int32_t>(batch.sequences.size()))
      fail(ErrorKind::Internal, "forward: token refers to an unknown sequence");
    const auto& table = batch.sequences[batch.seq[i]].block_table;
    const int32_t block = batch.positions[i] / kv.block_size;
    if (batch.positions[i] < 0 || block >= static_cast<int32_t>(table.size()) || table[block] < 0 ||
        table[block] >= kv.n_blocks)
      fail(ErrorKind::Internal, "forward: position " + std::to_string(batch.positions[i]) + " has no KV block");
  }
  for (const auto& [row, data] : batch.embeddings)
    if (row < 0 || static_cast<size_t>(row) >= n || !data)
      fail(ErrorKind::Internal, "forward: an embedding row refers to no token of the batch");
}

// Writes the batch's given rows (image features) over the looked-up token embeddings, through
// the host: images are a few prefill steps, so one copy each way costs nothing that matters.
void place_embeddings(const Batch& batch, Tensor x, Backend& be, std::vector<float>& host) {
  host.resize(static_cast<size_t>(x.rows * x.cols));
  be.to_host(x, host.data());
  for (const auto& [row, data] : batch.embeddings)
    std::copy(data, data + x.cols, host.begin() + static_cast<ptrdiff_t>(row) * x.cols);
  be.from_host(host.data(), x);
}

// The parts of one step: the split backend's ranges, or the whole model on one backend.
std::vector<SplitBackend::Stage> stages_of(const Model& m, KvCache& kv, Backend& be) {
  if (auto* split = dynamic_cast<SplitBackend*>(&be)) return split->stages(kv);
  return {{&be, &kv, 0, m.hp.n_layer}};
}

// The hidden state `x` (on `from`) copied into `to`'s memory, through the host: the one crossing
// of a boundary between two ranges' backends.
Tensor cross(Tensor x, Backend& from, Backend& to, std::vector<float>& host) {
  host.resize(static_cast<size_t>(x.rows * x.cols));
  from.to_host(x, host.data());
  to.make_current();
  Tensor y = to.alloc(x.rows, x.cols);
  to.from_host(host.data(), y);
  return y;
}

struct Hidden {
  Tensor x;          // no rows when no token wants output
  Backend* backend;  // where x is, and where the head runs
};

// Runs the layers; returns the final hidden states of the tokens that want output, after the
// output norm (rows in batch order), or an empty tensor when no token wants output.
Hidden hidden_states(const Model& m, const Batch& batch, KvCache& kv, Backend& be, Communicator* comm = nullptr) {
  check_batch(m, batch, kv);
  const HParams& hp = m.hp;
  const int64_t n = static_cast<int64_t>(batch.size());
  const std::vector<SplitBackend::Stage> stages = stages_of(m, kv, be);
  for (const SplitBackend::Stage& s : stages) {
    // A backend that does not window its attention never sets the cache's window: running it
    // would silently attend past the window.
    const std::vector<bool> windows =
        hp.swa_layers.empty() ? std::vector<bool>{}
                              : std::vector<bool>(hp.swa_layers.begin() + s.begin, hp.swa_layers.begin() + s.end);
    if (s.kv && (s.kv->sliding_window != hp.sliding_window || s.kv->window_layers != windows))  // empty range: no cache
      fail(ErrorKind::Unsupported, "backend '" + s.kv->backend + "' does not implement sliding-window attention (" +
                                       hp.arch + " model with a window of " + std::to_string(hp.sliding_window) +
                                       " positions); run it on the CPU (--device cpu)");
    check_runs(*s.backend, hp);
    s.backend->reset_scratch();
  }

  Backend* at = stages.front().backend;
  at->make_current();
  Tensor x = at->alloc(n, hp.n_embd);
  at->get_rows(m.tok_embd, batch.tokens, x);
  if (hp.embd_scale != 1.0f) at->scale(x, hp.embd_scale);
  std::vector<float> host;
  if (!batch.embeddings.empty()) place_embeddings(batch, x, *at, host);
  for (const SplitBackend::Stage& s : stages) {
    if (s.backend != at) {
      x = cross(x, *at, *s.backend, host);
      at = s.backend;
    }
    // x after a norm, outside the layers' scratch: the next layer's normed input is written
    // before that scratch is released, by the residual add fused with the norm.
    Tensor h = at->alloc(n, hp.n_embd);
    if (s.begin < s.end) at->rms_norm(x, m.layers[s.begin].attn_norm, hp.rms_eps, h);
    const size_t layer_scratch = at->scratch_mark();  // each layer reuses the same temporaries
    for (int32_t il = s.begin; il < s.end; ++il) {
      const LayerWeights& l = m.layers[il];
      // A stage's cache holds only its layers, from its first.
      const Tensor o = attention_block(m, l, il, il - s.begin, h, batch, *s.kv, *at, comm);
      at->add_rms_norm(x, o, l.ffn_norm, hp.rms_eps, h);
      const Tensor down = feed_forward_block(m, l, h, *at, comm);
      if (il + 1 < s.end)
        at->add_rms_norm(x, down, m.layers[il + 1].attn_norm, hp.rms_eps, h);
      else
        at->add(x, down);
      at->scratch_release(layer_scratch);
    }
  }

  std::vector<int32_t> out_rows;
  for (int32_t i = 0; i < static_cast<int32_t>(n); ++i)
    if (batch.logits[i]) out_rows.push_back(i);
  if (out_rows.empty()) return {Tensor{}, at};
  Tensor last = at->alloc(static_cast<int64_t>(out_rows.size()), hp.n_embd);
  at->copy_rows(x, out_rows, last);
  at->rms_norm(last, m.output_norm, hp.rms_eps, last);
  return {last, at};
}

// One step of a tensor-parallel group: every rank runs the layers on its slice (its thread),
// then, for logits, its rows of the vocabulary projection, kept where they are: the result is
// rank 0's rows of the whole vocabulary, filled when read whole (TensorParallelBackend's to_host,
// copy_rows), or never when only top_logits are asked for. The result (logits, or the final hidden states, which every
// rank holds alike) is rank 0's.
Tensor tensor_parallel_step(const Model& m, const Batch& batch, KvCache& kv, TensorParallelBackend& tp, bool logits) {
  check_batch(m, batch, kv);
  const std::vector<TensorParallelBackend::Rank> ranks = tp.ranks(kv);
  tp.begin_step();
  Tensor result{nullptr, 0, logits ? m.hp.n_vocab : m.hp.n_embd};
  tp.run([&](int32_t r) {
    const TensorParallelBackend::Rank& rank = ranks[static_cast<size_t>(r)];
    Backend& be = *rank.backend;
    const Hidden h = hidden_states(*rank.model, batch, *rank.kv, be, rank.comm);
    if (h.x.rows > 0 && logits) {  // rows: the same on every rank
      Tensor part = be.alloc(h.x.rows, rank.model->output.rows);
      be.matmul(rank.model->output, h.x, part);
      const Tensor whole = r == 0 ? be.alloc(h.x.rows, m.hp.n_vocab) : Tensor{};
      tp.keep_head_slice(r, part, whole);  // gathered when a caller reads whole rows
      if (r == 0) result = whole;
    } else if (h.x.rows > 0 && r == 0) {
      result = h.x;
    }
    // A step recorded as a graph would otherwise start only when read, and rank 0 reads while
    // the others' parts of its collectives are still unrecorded: each rank starts its own now.
    be.submit();
  });
  return result;
}

}  // namespace

Tensor forward_logits(const Model& m, const Batch& batch, KvCache& kv, Backend& be) {
  if (auto* tp = dynamic_cast<TensorParallelBackend*>(&be)) return tensor_parallel_step(m, batch, kv, *tp, true);
  const Hidden h = hidden_states(m, batch, kv, be);
  if (h.x.rows == 0) return Tensor{nullptr, 0, m.hp.n_vocab};
  Tensor out = h.backend->alloc(h.x.rows, m.hp.n_vocab);
  h.backend->matmul(m.output, h.x, out);
  return out;
}

std::vector<float> forward(const Model& m, const Batch& batch, KvCache& kv, Backend& be) {
  const Tensor out = forward_logits(m, batch, kv, be);
  std::vector<float> logits(static_cast<size_t>(out.rows) * static_cast<size_t>(out.cols));
  if (out.rows > 0) be.to_host(out, logits.data());
  return logits;
}

std::vector<float> forward_hidden(const Model& m, const Batch& batch, KvCache& kv, Backend& be) {
  if (auto* tp = dynamic_cast<TensorParallelBackend*>(&be)) {
    const Tensor x = tensor_parallel_step(m, batch, kv, *tp, false);
    std::vector<float> hidden(static_cast<size_t>(x.rows) * static_cast<size_t>(m.hp.n_embd));
    if (x.rows > 0) tp->to_host(x, hidden.data());
    return hidden;
  }
  const Hidden h = hidden_states(m, batch, kv, be);
  std::vector<float> hidden(static_cast<size_t>(h.x.rows) * static_cast<size_t>(m.hp.n_embd));
  if (h.x.rows > 0) h.backend->to_host(h.x, hidden.data());
  return hidden;
}

}  // namespace hayate
