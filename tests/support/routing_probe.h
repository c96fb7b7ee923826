// A backend that runs another one and, at each mixture-of-experts layer, records how close its
// routing came to a tie: the gap between the last chosen and the first unchosen expert's router
// logit over the row's range of logits. Tests that compare backends on MoE models check that
// their runs have no near-tie, where the other backend's rounding could rightly pick another
// expert (and so give another output) — so that any difference left is a fault.
#pragma once

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace hayate::test {

class RoutingProbe : public Backend {
 public:
  explicit RoutingProbe(std::unique_ptr<Backend> inner) : in_(std::move(inner)) {}
  // The smallest relative gap seen so far (1 when no MoE layer ran).
  double min_margin = 1.0;

  std::string name() const override { return in_->name(); }
  bool implements(ArchFeature f) const override { return in_->implements(f); }
  void prepare(const Model& m) override { in_->prepare(m); }
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) override {
    return in_->make_kv_cache(hp, n_blocks, block_size);
  }
  Tensor alloc(int64_t rows, int64_t cols) override { return in_->alloc(rows, cols); }
  void reset_scratch() override { in_->reset_scratch(); }
  size_t scratch_mark() const override { return in_->scratch_mark(); }
  void scratch_release(size_t mark) override { in_->scratch_release(mark); }
  void to_host(Tensor x, float* dst) override { in_->to_host(x, dst); }
  void from_host(const float* src, Tensor x) override { in_->from_host(src, x); }
  void prepare_weight(const Weight& w) override { in_->prepare_weight(w); }
  void get_rows(const Weight& t, std::span<const int32_t> ids, Tensor out) override { in_->get_rows(t, ids, out); }
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override { in_->copy_rows(x, rows, out); }
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override { in_->rms_norm(x, w, eps, out); }
  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias = nullptr) override {
    in_->matmul(w, x, out, bias);
  }
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) override {
    in_->rope(x, n_heads, positions, p);
  }
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override {
    in_->store_kv(kv, layer, k, v, batch);
  }
  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override {
    in_->attention(kv, layer, q, batch, n_head, n_head_kv, head_dim, out);
  }
  void swiglu(Tensor gate, Tensor up, Tensor out) override { in_->swiglu(gate, up, out); }
  void matmul_swiglu(const Weight& g, const Weight& u, Tensor x, Tensor out) override {
    in_->matmul_swiglu(g, u, x, out);
  }
  void add(Tensor x, Tensor y) override { in_->add(x, y); }
  void scale(Tensor x, float s) override { in_->scale(x, s); }
  void geglu(Tensor gate, Tensor up, Tensor out) override { in_->geglu(gate, up, out); }
  void moe_ffn(const MoeFfn& f, Tensor x, Tensor out) override {
    const size_t mark = in_->scratch_mark();
    Tensor logits = in_->alloc(x.rows, f.n_expert);
    in_->matmul(*f.router, x, logits);
    std::vector<float> host(static_cast<size_t>(x.rows * f.n_expert));
    in_->to_host(logits, host.data());
    in_->scratch_release(mark);
    std::vector<float> row;
    for (int64_t t = 0; t < x.rows; ++t) {
      row.assign(host.begin() + t * f.n_expert, host.begin() + (t + 1) * f.n_expert);
      std::sort(row.begin(), row.end(), std::greater<float>());
      if (f.n_used >= f.n_expert) continue;
      const double spread = static_cast<double>(row.front()) - row.back();
      const double gap =
          static_cast<double>(row[static_cast<size_t>(f.n_used) - 1]) - row[static_cast<size_t>(f.n_used)];
      min_margin = std::min(min_margin, spread > 0 ? gap / spread : 0.0);
    }
    in_->moe_ffn(f, x, out);
  }

 private:
  std::unique_ptr<Backend> in_;
};

}  // namespace hayate::test
