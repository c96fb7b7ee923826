// Partial offload as a forward plan: consecutive ranges of layers, each run by its own backend
// with a KV cache that holds only its layers, the hidden state copied from one backend to the
// next at each boundary. `--gpu-layers N` is the plan {cuda: [0, N), cpu: [N, n_layer)}; nothing
// here knows CUDA, so tests split a model between host backends.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace hayate {

struct LayerRange {
  std::unique_ptr<Backend> backend;
  int32_t begin = 0, end = 0;  // layers [begin, end); may be empty
};

// One KV cache per range, made by that range's backend with only its layers (null for an empty
// range). The shared fields (blocks, block size) are those of every part.
class SplitKvCache : public KvCache {
 public:
  std::vector<std::unique_ptr<KvCache>> parts;  // by range
};

// A Backend made of several, one per range of layers, so that the engine, the CLI and the
// benchmarks drive a split model as they drive one backend; forward() (forward.cpp) sees the
// ranges and runs each on its backend.
//
// The token embedding is looked up by the first range's backend and the output norm and head run
// on the last range's: the hidden state starts where layer 0 runs and ends where the head runs,
// so activations cross each boundary once per step and the logits come out on the backend whose
// operations (to_host, top_logits) the sampling path then calls. For `--gpu-layers N` that puts
// the embedding table on the GPU (a gather: cheap there, and it saves a host-to-device copy of
// the activations) and the head on the CPU, like the last layers: the hidden state goes to the
// CPU once and the logits are already on the host.
//
// The operations of the Backend interface that a caller may call on a forward's result
// (alloc, to_host, matmul, top_logits, ...) are the last range's backend's.
class SplitBackend : public Backend {
 public:
  // Error(BadInput) unless the ranges are consecutive from layer 0, each with a backend.
  explicit SplitBackend(std::vector<LayerRange> ranges);

  const std::vector<LayerRange>& ranges() const { return ranges_; }
  // The layer count the ranges cover (the model's n_layer).
  int32_t n_layer() const { return ranges_.back().end; }

  // One part of a step: a range's backend, its KV cache (null for an empty range) and layers.
  struct Stage {
    Backend* backend;
    KvCache* kv;
    int32_t begin, end;
  };
  // `kv` (made by make_kv_cache) split into the ranges' stages.
  std::vector<Stage> stages(KvCache& kv);

  // "cuda[0,8)+cpu[8,32)"
  std::string name() const override;
  // Each backend prepares only the weights of its part: its layers, the embedding table for the
  // first range, the output norm and head for the last.
  void prepare(const Model& model) override;
  // Error(BadInput) when hp has another layer count than the ranges cover.
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) override;
  uint64_t device_memory_bytes() const override;
  std::string device_name() const override;

  Tensor alloc(int64_t rows, int64_t cols) override { return last().alloc(rows, cols); }
  void reset_scratch() override;
  size_t scratch_mark() const override { return last().scratch_mark(); }
  void scratch_release(size_t mark) override { last().scratch_release(mark); }
  void to_host(Tensor x, float* dst) override { last().to_host(x, dst); }
  void from_host(const float* src, Tensor x) override { last().from_host(src, x); }
  void prepare_weight(const Weight& w) override { last().prepare_weight(w); }
  void get_rows(const Weight& table, std::span<const int32_t> ids, Tensor out) override {
    last().get_rows(table, ids, out);
  }
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override { last().copy_rows(x, rows, out); }
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override { last().rms_norm(x, w, eps, out); }
  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override { last().matmul(w, x, out, bias); }
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) override {
    last().rope(x, n_heads, positions, p);
  }
  // A split cache's layers live in different backends: only forward() can address them.
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override;
  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override;
  void swiglu(Tensor gate, Tensor up, Tensor out) override { last().swiglu(gate, up, out); }
  void matmul_swiglu(const Weight& gate_w, const Weight& up_w, Tensor x, Tensor out) override {
    last().matmul_swiglu(gate_w, up_w, x, out);
  }
  void add(Tensor x, Tensor y) override { last().add(x, y); }
  int32_t max_top_logits() const override { return last().max_top_logits(); }
  void top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out) override {
    last().top_logits(logits, rows, k, out);
  }

 private:
  Backend& last() const { return *ranges_.back().backend; }
  std::vector<LayerRange> ranges_;
  std::vector<Model> parts_;  // what prepare() gave each backend: views of the model's weights
};

}  // namespace hayate
