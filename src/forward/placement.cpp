// Placing a model's layers on the device backend, the CPU backend or both (placement.h).
#include "forward/placement.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "backend/registry.h"
#include "core/error.h"
#include "forward/split.h"

namespace hayate {
namespace {

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string fraction(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", f);
  return buf;
}

uint64_t bytes_of(const Weight& w) { return w ? w.row_bytes() * static_cast<uint64_t>(w.rows) : 0; }

// One layer's KV bytes per position on `be`, from a cache of one position of one layer: the
// backend's own layout (fp32, fp16, ...) without this file knowing it.
uint64_t kv_bytes_per_position(Backend& be, const HParams& hp) {
  HParams one = hp;
  one.n_layer = 1;
  return be.make_kv_cache(one, 1, 1)->bytes;
}

std::unique_ptr<Backend> on_cpu(const Model& model, const std::string& cpu_backend, int n_threads) {
  auto be = make_backend(cpu_backend, n_threads);
  check_runs(*be, model.hp);
  be->prepare(model);
  return be;
}

// The first device backend that can run here, for --device auto (none when the CPU backend asked
// for is the reference oracle: asking for it means the plain CPU path).
const BackendInfo* auto_device(const std::string& cpu_backend) {
  if (cpu_backend == "reference") return nullptr;
  for (const BackendInfo* b : backends())
    if (b->on_device && b->available()) return b;
  return nullptr;
}

std::unique_ptr<Backend> place_on(const Model& model, const BackendInfo& device, const std::string& cpu_backend,
                                  int n_threads, const DeviceOptions& opt, const PlacementHints& hints,
                                  std::ostream* log) {
  const int32_t n_layer = model.hp.n_layer;
  if (opt.gpu_layers && *opt.gpu_layers == 0) return on_cpu(model, cpu_backend, n_threads);
  auto gpu = device.make(BackendOptions{n_threads, opt});
  check_runs(*gpu, model.hp);  // refused before any upload; auto then runs it on the CPU
  int32_t n_gpu = n_layer;
  if (opt.gpu_layers) {
    n_gpu = *opt.gpu_layers;
  } else {
    const uint64_t budget = gpu->device_memory_left();  // before the probe cache, which it frees
    const LayerCosts costs = layer_costs(model, kv_bytes_per_position(*gpu, model.hp), hints);
    n_gpu = layers_that_fit(costs, budget);
    if (n_gpu == 0)
      fail(ErrorKind::ResourceExhausted,
           device.name + ": not even one layer of the model fits in the GPU memory allowed (" + mib(budget) +
               " left of --gpu-memory-fraction " + fraction(opt.gpu_memory_fraction) +
               " of the free memory; the first layer needs " +
               mib(costs.fixed + (costs.layers.empty() ? 0 : costs.layers[0])) +
               " with the embedding table and activations): raise --gpu-memory-fraction or use --device cpu");
    if (n_gpu < n_layer && log)
      *log << "gpu layers (auto): " << n_gpu << " of " << n_layer << " layers fit in the " << mib(budget) << " of "
           << device.name << " memory allowed; the rest run on the " << cpu_backend << " backend\n"
           << std::flush;
  }
  if (n_gpu == n_layer) {
    gpu->prepare(model);
    return gpu;
  }
  std::vector<LayerRange> ranges;
  ranges.push_back({std::move(gpu), 0, n_gpu});
  ranges.push_back({make_backend(cpu_backend, n_threads), n_gpu, n_layer});
  auto split = std::make_unique<SplitBackend>(std::move(ranges));
  try {
    split->prepare(model);
  } catch (const Error& e) {
    if (!opt.gpu_layers) throw;
    fail(e.kind(), "--gpu-layers " + std::to_string(n_gpu) + ": " + e.what() + "; or lower --gpu-layers");
  }
  if (log) *log << "layers split: " << split->name() << "\n" << std::flush;
  return split;
}

}  // namespace

LayerCosts layer_costs(const Model& model, uint64_t kv_bytes_per_position, const PlacementHints& hints) {
  const HParams& hp = model.hp;
  const int64_t positions =
      hints.kv_positions > 0 ? hints.kv_positions : 2 * static_cast<int64_t>(std::min(hp.n_ctx_train, 4096));
  const auto tokens = static_cast<uint64_t>(std::max(hints.batch_tokens, 1));
  // A layer's temporaries (forward.cpp: the hidden state, norms, q/k/v, attention, the FFN's
  // gate and up), reused by every layer; the scratch grows to them once.
  auto floats_per_token = static_cast<uint64_t>(4 * hp.n_embd + 2 * hp.q_dim() + 2 * hp.kv_dim() + 2 * hp.n_ff);
  // A mixture of experts' (backend/moe.h): router logits, and each token's inputs and outputs
  // once per expert it is routed to, beside one expert's gate and up.
  if (hp.n_expert > 0)
    floats_per_token += static_cast<uint64_t>(hp.n_expert + hp.n_expert_used * (2 * hp.n_embd + 2 * hp.n_ff_exp));
  constexpr uint64_t kSlack = uint64_t{64} << 20;  // staging buffers, rope tables, allocator rounding
  LayerCosts c;
  c.fixed = bytes_of(model.tok_embd) + tokens * floats_per_token * sizeof(float) + kSlack;
  const uint64_t logit_rows = std::min<uint64_t>(tokens, 64);
  c.head = bytes_of(model.output_norm) + (model.output.data == model.tok_embd.data ? 0 : bytes_of(model.output)) +
           logit_rows * static_cast<uint64_t>(hp.n_vocab) * sizeof(float);
  const uint64_t kv_per_layer = kv_bytes_per_position * static_cast<uint64_t>(positions);
  const std::vector<WeightSpec> specs = layer_weights(hp);
  for (const LayerWeights& l : model.layers) {
    uint64_t sum = kv_per_layer;
    for (const WeightSpec& spec : specs) sum += bytes_of(l.*spec.member);
    c.layers.push_back(sum);
  }
  return c;
}

int32_t layers_that_fit(const LayerCosts& costs, uint64_t budget) {
  uint64_t used = costs.fixed;
  int32_t n = 0;
  for (const uint64_t layer : costs.layers) {
    if (used + layer > budget) return n;
    used += layer;
    ++n;
  }
  // Every layer fits; the head too, or the last layer goes to the CPU with it (a split ends
  // with the head on the CPU backend).
  return used + costs.head <= budget ? n : std::max(n - 1, 0);
}

std::unique_ptr<Backend> place_model(const Model& model, const std::string& cpu_backend, int n_threads,
                                     const DeviceOptions& opt, const PlacementHints& hints, std::ostream* log) {
  if (model.encoder) {
    // An encoder (forward/encoder.h) runs whole on one backend: the device's where it implements
    // the encoder's operations (ArchFeature::Encoder), under auto falling back to the CPU as a
    // decoder does; it is small, and its pass is not split by layers or across devices.
    if (opt.tensor_parallel != 1)
      fail(ErrorKind::BadInput, "--tensor-parallel " + std::to_string(opt.tensor_parallel) + ": " + model.file->name() +
                                    " is a bert encoder, which runs on one device; leave it out");
    if (opt.gpu_layers && *opt.gpu_layers == 0) return on_cpu(model, cpu_backend, n_threads);
    return make_backend_for(model, cpu_backend, n_threads, opt, log);
  }
  check_device(opt.device);
  if (opt.tensor_parallel != 1) return place_tensor_parallel(model, cpu_backend, n_threads, opt, hints, log);
  const int32_t n_layer = model.hp.n_layer;
  if (opt.gpu_layers && (*opt.gpu_layers < 0 || *opt.gpu_layers > n_layer))
    fail(ErrorKind::BadInput, "--gpu-layers " + std::to_string(*opt.gpu_layers) + ": the model has " +
                                  std::to_string(n_layer) + " layers; give 0 to " + std::to_string(n_layer) +
                                  ", or auto");
  if (opt.device == "cpu") {
    if (opt.gpu_layers)
      fail(ErrorKind::BadInput, "--gpu-layers " + std::to_string(*opt.gpu_layers) +
                                    " needs a GPU (--device cuda or auto); --device cpu runs every layer on the CPU");
    return on_cpu(model, cpu_backend, n_threads);
  }
  if (opt.device != "auto") {
    const BackendInfo& device = *find_backend(opt.device);
    if (!device.built) fail(ErrorKind::Unsupported, "--device " + opt.device + ": " + device.unavailable());
    return place_on(model, device, cpu_backend, n_threads, opt, hints, log);
  }
  const BackendInfo* device = auto_device(cpu_backend);
  if (device) {
    // Whatever the device cannot do (a weight type, the memory) runs on the CPU instead.
    try {
      return place_on(model, *device, cpu_backend, n_threads, opt, hints, log);
    } catch (const Error& e) {
      if (log) *log << "device auto: not using " << device->name << " (" << e.what() << "); running on the CPU\n";
    }
  } else if (opt.gpu_layers && log) {
    *log << "--gpu-layers " << *opt.gpu_layers << ": no device backend is available; every layer runs on the CPU\n";
  }
  if (log) *log << std::flush;
  return on_cpu(model, cpu_backend, n_threads);
}

}  // namespace hayate
