// Where a model's layers run: all on a device backend, all on the CPU backend, or the first N on
// the device and the rest on the CPU (--gpu-layers N, a SplitBackend), N given or chosen from
// the device's memory budget. In forward/ because a split is a forward plan.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"

namespace hayate {

// What the automatic choice needs to know of the engine that will run the model.
struct PlacementHints {
  // Positions the KV cache will hold, every sequence together (0: twice min(n_ctx_train, 4096),
  // the engine's default of two full contexts).
  int64_t kv_positions = 0;
  int32_t batch_tokens = 512;  // most tokens of one step: the activations' scratch
};

// Device bytes of a placement, by part: the automatic --gpu-layers is the most leading layers
// whose bytes fit in the budget.
struct LayerCosts {
  uint64_t fixed = 0;            // on the device whatever N: the embedding table, activations, slack
  uint64_t head = 0;             // the output norm and head, and their logits: on the device only with every layer
  std::vector<uint64_t> layers;  // each layer's weights and its share of the KV cache
};

// `kv_bytes_per_position` is one layer's KV bytes for one position on the device backend.
LayerCosts layer_costs(const Model& model, uint64_t kv_bytes_per_position, const PlacementHints& hints);

// The most leading layers that fit in `budget` bytes: n_layer when the whole model (head
// included) fits, else the most whose layers fit beside the fixed part (0: not even one).
int32_t layers_that_fit(const LayerCosts& costs, uint64_t budget);

// The backend for `model`, prepared: make_backend_for's choice (backend/backend.h) with layers
// split by opt.gpu_layers. On a device (cuda, or auto when one is available): N given runs
// layers [0, N) there and the rest on `cpu_backend` (N = 0: all on the CPU, N = n_layer: all on
// the device); none given picks N with layers_that_fit from the device's budget. Error(BadInput)
// for N over the model's layers, or for gpu_layers with --device cpu (it has no GPU to put layers
// on: an error rather than a silent full-CPU run). With --device cuda, a model of which not even
// one layer fits is Error(ResourceExhausted) saying what to change; with auto it runs on the CPU,
// saying why on `log` (may be null), as does any other failure of the device.
std::unique_ptr<Backend> place_model(const Model& model, const std::string& cpu_backend, int n_threads,
                                     const DeviceOptions& opt, const PlacementHints& hints, std::ostream* log);

// --tensor-parallel N (opt.tensor_parallel > 1; place_model calls it): the model split over N
// CUDA GPUs (NCCL) or, with --device cpu, N CPU backends (in-process), prepared, the per-rank
// memory plan printed on `log`. When the heads, KV heads or FFN width do not divide into N, the
// layers run as a pipeline over the N GPUs instead (pipeline_ranges), saying why on `log`.
// Error(BadInput) when fewer than N GPUs are visible, with --gpu-layers, or for N < 1.
std::unique_ptr<Backend> place_tensor_parallel(const Model& model, const std::string& cpu_backend, int n_threads,
                                               const DeviceOptions& opt, const PlacementHints& hints,
                                               std::ostream* log);
// The fallback's layer ranges, [begin, end) for GPU 0, 1, ...: n_layer split as evenly as it
// goes. Error(BadInput) unless 1 <= n <= n_layer.
std::vector<std::pair<int32_t, int32_t>> pipeline_ranges(int32_t n_layer, int32_t n);

}  // namespace hayate
