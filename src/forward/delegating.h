// A Backend whose operations are those of one of its parts (target()): the split and
// tensor-parallel backends, made of several, offer a caller of a forward's result (alloc,
// to_host, copy_rows, top_logits, ...) the operations of the part where that result lives.
#pragma once

#include "backend/backend.h"

namespace hayate {

class DelegatingBackend : public Backend {
 public:
  Tensor alloc(int64_t rows, int64_t cols) override { return target().alloc(rows, cols); }
  size_t scratch_mark() const override { return target().scratch_mark(); }
  void scratch_release(size_t mark) override { target().scratch_release(mark); }
  void to_host(Tensor x, float* dst) override { target().to_host(x, dst); }
  void from_host(const float* src, Tensor x) override { target().from_host(src, x); }
  void prepare_weight(const Weight& w) override { target().prepare_weight(w); }
  void make_current() override { target().make_current(); }
  void get_rows(const Weight& table, std::span<const int32_t> ids, Tensor out) override {
    target().get_rows(table, ids, out);
  }
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override { target().copy_rows(x, rows, out); }
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override { target().rms_norm(x, w, eps, out); }
  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override { target().matmul(w, x, out, bias); }
  void matmul_parts(std::span<const Weight* const> ws, Tensor x, std::span<const Tensor> outs,
                    std::span<const Weight* const> biases) override {
    target().matmul_parts(ws, x, outs, biases);
  }
  void add_rms_norm(Tensor x, Tensor y, const Weight& w, float eps, Tensor out) override {
    target().add_rms_norm(x, y, w, eps, out);
  }
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) override {
    target().rope(x, n_heads, positions, p);
  }
  void swiglu(Tensor gate, Tensor up, Tensor out) override { target().swiglu(gate, up, out); }
  void matmul_swiglu(const Weight& gate_w, const Weight& up_w, Tensor x, Tensor out) override {
    target().matmul_swiglu(gate_w, up_w, x, out);
  }
  void add(Tensor x, Tensor y) override { target().add(x, y); }
  int32_t max_top_logits() const override { return target().max_top_logits(); }
  void top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out) override {
    target().top_logits(logits, rows, k, out);
  }

 protected:
  virtual Backend& target() const = 0;
};

}  // namespace hayate
