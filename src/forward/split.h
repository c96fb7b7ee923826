// Partial offload as a forward plan: consecutive ranges of layers, each run by its own backend
// with a KV cache that holds only its layers, the hidden state copied from one backend to the
// next at each boundary. `--gpu-layers N` is the plan {cuda: [0, N), cpu: [N, n_layer)}; nothing
// here knows CUDA, so tests split a model between host backends.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "forward/delegating.h"

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
// (alloc, to_host, matmul, top_logits, ...) are the last range's backend's (DelegatingBackend).
class SplitBackend : public DelegatingBackend {
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

  void reset_scratch() override;
  // A split cache's layers live in different backends: only forward() can address them.
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override;
  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override;

 private:
  Backend& target() const override { return *ranges_.back().backend; }
  std::vector<LayerRange> ranges_;
  std::vector<Model> parts_;  // what prepare() gave each backend: views of the model's weights
};

}  // namespace hayate
