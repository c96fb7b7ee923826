#include "backend/cuda/step_graph.h"

#include "backend/cuda/cuda_util.h"
#include "core/profile.h"

namespace hayate::cuda {

// Graphs kept: one per step shape (batch size, attention splits, block-table width); a serving
// run meets a few dozen. Past this many, start over rather than track use.
constexpr size_t kMaxGraphs = 96;

void StepGraphs::run_ops() {
  for (auto& op : ops_) op();
  ops_.clear();
}

void StepGraphs::end(cudaStream_t s) {
  if (!recording_) return;
  recording_ = false;
  if (eager_ || ops_.empty()) {
    run_ops();
    return;
  }
  if (const auto it = execs_.find(key_); it != execs_.end()) {
    ops_.clear();
    ++replays;
    profile::add("cuda graph replays (count)", 0);
    check(cudaGraphLaunch(it->second, s), "cudaGraphLaunch");
    return;
  }
  check(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  cudaGraph_t g = nullptr;
  try {
    run_ops();
  } catch (...) {
    ops_.clear();
    (void)cudaStreamEndCapture(s, &g);
    if (g) (void)cudaGraphDestroy(g);
    (void)cudaGetLastError();
    throw;
  }
  check(cudaStreamEndCapture(s, &g), "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, g, 0);
  (void)cudaGraphDestroy(g);
  check(err, "cudaGraphInstantiate");
  if (execs_.size() >= kMaxGraphs) clear();
  execs_.emplace(std::move(key_), exec);
  key_.clear();
  ++captures;
  profile::add("cuda graph captures (count)", 0);
  check(cudaGraphLaunch(exec, s), "cudaGraphLaunch");
}

void StepGraphs::clear() noexcept {
  for (auto& [key, exec] : execs_) (void)cudaGraphExecDestroy(exec);
  execs_.clear();
}

}  // namespace hayate::cuda
