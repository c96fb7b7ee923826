// Shared part of the CPU backends: host memory, the KV cache and the cheap element-wise
// operations, written plainly. The reference backend adds plain matmul/attention; the fast
// CPU backend adds threaded SIMD ones.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_kv_cache.h"

namespace hayate {

class HostBackend : public Backend {
 public:
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) override;
  // The type of the caches this backend makes.
  virtual KvType kv_type() const = 0;
  Tensor alloc(int64_t rows, int64_t cols) override;
  // Starts a forward pass. A scratch slot that the last pass used less than a quarter of (a
  // decode step after a long prompt) gives its unused pages back to the system; the capacity
  // stays, and pages fault back in if a later pass needs them.
  void reset_scratch() override;
  size_t scratch_mark() const override { return next_; }
  void scratch_release(size_t mark) override { next_ = mark; }
  void to_host(Tensor x, float* dst) override;

  void get_rows(const Weight& table, std::span<const int32_t> ids, Tensor out) override;
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override;
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override;
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) override;
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override;
  void swiglu(Tensor gate, Tensor up, Tensor out) override;
  void add(Tensor x, Tensor y) override;
  void scale(Tensor x, float s) override;
  void geglu(Tensor gate, Tensor up, Tensor out) override;
  void layer_norm(Tensor x, const Weight& w, const Weight& b, float eps, Tensor out) override;
  void gelu(Tensor x, Tensor out) override;
  void encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                         Tensor out) override;
  bool implements(ArchFeature) const override { return true; }  // every one, plainly

 protected:
  // Attention of one token and one head: softmax(q.K^T * scale) V over positions [first, pos].
  static void attend_one(const CpuKvCache& kv, int32_t layer, const float* q, int32_t kv_head, int32_t head_dim,
                         const std::vector<int32_t>& block_table, int32_t first, int32_t pos, float* scores,
                         float* out);
  // Encoder attention of token t (a row of q) and head h over rows [first, first + len) of k and v.
  static void attend_all(Tensor q, Tensor k, Tensor v, int64_t t, int32_t h, int32_t head_dim, int64_t first,
                         int64_t len, float* scores, float* out);

 private:
  std::vector<std::unique_ptr<float[]>> buffers_;
  std::vector<size_t> sizes_;  // capacity of each slot, floats
  std::vector<size_t> used_;   // most floats each slot was asked for since the last reset
  size_t next_ = 0;
};

}  // namespace hayate
