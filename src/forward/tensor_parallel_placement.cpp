// --tensor-parallel N: the model split over N ranks (forward/tensor_parallel.h), or, when its
// heads do not divide, a pipeline of layer ranges over the N GPUs (forward/split.h).
#include <algorithm>
#include <functional>

#include "backend/comm.h"
#include "backend/registry.h"
#include "core/error.h"
#include "forward/placement.h"
#include "forward/split.h"
#include "forward/tensor_parallel.h"

namespace hayate {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Bytes a stored K or V value takes in `be`'s cache, from a cache of one position of one layer.
uint64_t kv_bytes_per_value(Backend& be, const HParams& hp) {
  HParams one = hp;
  one.n_layer = 1;
  const uint64_t bytes = be.make_kv_cache(one, 1, 1)->bytes;
  return std::max<uint64_t>(1, bytes / (2 * static_cast<uint64_t>(std::max(hp.kv_dim(), 1))));
}

int64_t kv_positions(const HParams& hp, const PlacementHints& hints) {
  return hints.kv_positions > 0 ? hints.kv_positions : 2 * static_cast<int64_t>(std::min(hp.n_ctx_train, 4096));
}

using MakeRank = std::function<std::unique_ptr<Backend>(int32_t rank)>;

// The fallback: layer ranges over the n ranks' backends, one after the other.
std::unique_ptr<Backend> pipeline(const Model& model, int32_t n, const MakeRank& make, const std::string& why,
                                  std::ostream* log) {
  std::vector<std::pair<int32_t, int32_t>> plan;
  try {
    plan = pipeline_ranges(model.hp.n_layer, n);
  } catch (const Error& e) {
    fail(e.kind(), why + "; and " + e.what());
  }
  std::vector<LayerRange> ranges;
  for (int32_t r = 0; r < n; ++r) {
    ranges.push_back({make(r), plan[static_cast<size_t>(r)].first, plan[static_cast<size_t>(r)].second});
    check_runs(*ranges.back().backend, model.hp);
  }
  auto split = std::make_unique<SplitBackend>(std::move(ranges));
  if (log)
    *log << why << "; running a pipeline of layers over " << n << " instead: " << split->name() << "\n" << std::flush;
  split->prepare(model);
  return split;
}

}  // namespace

std::vector<std::pair<int32_t, int32_t>> pipeline_ranges(int32_t n_layer, int32_t n) {
  if (n < 1 || n > n_layer)
    fail(ErrorKind::BadInput,
         "a pipeline of the model's " + str(n_layer) + " layers takes 1 to " + str(n_layer) + " GPUs, not " + str(n));
  std::vector<std::pair<int32_t, int32_t>> out;
  for (int32_t r = 0; r < n; ++r)
    out.push_back(
        {static_cast<int32_t>(int64_t{n_layer} * r / n), static_cast<int32_t>(int64_t{n_layer} * (r + 1) / n)});
  return out;
}

std::unique_ptr<Backend> place_tensor_parallel(const Model& model, const std::string& cpu_backend, int n_threads,
                                               const DeviceOptions& opt, const PlacementHints& hints,
                                               std::ostream* log) {
  const int32_t n = opt.tensor_parallel;
  const std::string tp = "--tensor-parallel " + str(n);
  if (n < 1) fail(ErrorKind::BadInput, tp + ": give a number of GPUs of 1 or more");
  if (opt.gpu_layers)
    fail(ErrorKind::BadInput, tp + " puts every layer on the GPUs; it does not combine with --gpu-layers");
  MakeRank make;
  std::vector<std::unique_ptr<Communicator>> (*group)(int) = nullptr;
  if (opt.device == "cpu") {
    // Ranks of host backends in one process, the CPU's cores shared between them: what the
    // tests run; on one machine it is no faster than one backend.
    make = [&](int32_t) { return make_backend(cpu_backend, std::max(1, n_threads / n)); };
    group = make_in_process_communicators;
  } else {
    const BackendInfo* device = find_backend(opt.device == "auto" ? "cuda" : opt.device);
    if (!device || device->name != "cuda")
      fail(ErrorKind::Unsupported, tp + ": tensor parallelism runs over CUDA GPUs (--device cuda) or CPU backends "
                                        "(--device cpu)");
    if (!device->built) fail(ErrorKind::Unsupported, tp + ": " + device->unavailable());
    const int visible = cuda_device_count();
    if (visible < n)
      fail(ErrorKind::BadInput,
           tp +
               (visible == 0 ? std::string(": no CUDA device is visible")
                             : ": only " + str(visible) + " CUDA device" + (visible == 1 ? " is" : "s are") +
                                   " visible; give at most " + str(visible)) +
               " (or --device cpu to split over CPU backends)");
    make = [&opt, device, n_threads](int32_t r) {
      DeviceOptions o = opt;
      o.device_index = r;
      return device->make(BackendOptions{n_threads, o});
    };
    group = make_nccl_communicators;
  }
  if (const std::string why = tensor_parallel_obstacle(model, n); !why.empty())
    return pipeline(model, n, make, why, log);
  std::vector<std::unique_ptr<Backend>> ranks;
  std::vector<std::string> devices;
  for (int32_t r = 0; r < n; ++r) {
    ranks.push_back(make(r));
    check_runs(*ranks.back(), model.hp);
    std::string device = ranks.back()->name();
    if (opt.device != "cpu") device += ':' + str(r);
    if (const std::string d = ranks.back()->device_name(); !d.empty()) device += ' ' + d;
    devices.push_back(device);
  }
  std::vector<std::unique_ptr<Communicator>> comms = group(n);
  if (log)
    print_tensor_parallel_plan(model, n, kv_bytes_per_value(*ranks.front(), model.hp), kv_positions(model.hp, hints),
                               devices, *log);
  auto be = std::make_unique<TensorParallelBackend>(std::move(ranks), std::move(comms));
  be->prepare(model);
  return be;
}

}  // namespace hayate
