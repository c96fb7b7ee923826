// A backend that hands every operation to another one, for test doubles that change only a few:
// a device's memory budget, top logits on the host, counting copies.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace hayate::test {

class WrappedBackend : public Backend {
 public:
  explicit WrappedBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  void prepare(const Model& m) override { inner_->prepare(m); }
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n, int32_t bs) override {
    return inner_->make_kv_cache(hp, n, bs);
  }
  Tensor alloc(int64_t rows, int64_t cols) override { return inner_->alloc(rows, cols); }
  void reset_scratch() override { inner_->reset_scratch(); }
  size_t scratch_mark() const override { return inner_->scratch_mark(); }
  void scratch_release(size_t mark) override { inner_->scratch_release(mark); }
  void to_host(Tensor x, float* dst) override { inner_->to_host(x, dst); }
  void from_host(const float* src, Tensor x) override { inner_->from_host(src, x); }
  void prepare_weight(const Weight& w) override { inner_->prepare_weight(w); }
  void get_rows(const Weight& t, std::span<const int32_t> ids, Tensor out) override { inner_->get_rows(t, ids, out); }
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override { inner_->copy_rows(x, rows, out); }
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override { inner_->rms_norm(x, w, eps, out); }
  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override { inner_->matmul(w, x, out, bias); }
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> pos, const RopeParams& p) override {
    inner_->rope(x, n_heads, pos, p);
  }
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override {
    inner_->store_kv(kv, layer, k, v, batch);
  }
  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override {
    inner_->attention(kv, layer, q, batch, n_head, n_head_kv, head_dim, out);
  }
  void swiglu(Tensor gate, Tensor up, Tensor out) override { inner_->swiglu(gate, up, out); }
  void add(Tensor x, Tensor y) override { inner_->add(x, y); }
  void layer_norm(Tensor x, const Weight& w, const Weight& b, float eps, Tensor out) override {
    inner_->layer_norm(x, w, b, eps, out);
  }
  void gelu(Tensor x, Tensor out) override { inner_->gelu(x, out); }
  void encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                         Tensor out) override {
    inner_->encoder_attention(q, k, v, seq_lens, n_head, out);
  }
  int64_t encoder_pass_tokens() const override { return inner_->encoder_pass_tokens(); }

 protected:
  std::unique_ptr<Backend> inner_;
};

}  // namespace hayate::test
