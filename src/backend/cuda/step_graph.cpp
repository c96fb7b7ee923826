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
  if (host_read_) {
    ++host_read_steps;
    profile::add("cuda graph steps eager for a read midway (count)", 0);
  }
  if (eager_ || ops_.empty() || uncapturable_.count(key_)) {
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
  if (cudaGraphExec_t exec = capture(s)) {
    if (execs_.size() >= kMaxGraphs) clear();
    execs_.emplace(std::move(key_), exec);
    key_.clear();
    ++captures;
    profile::add("cuda graph captures (count)", 0);
    check(cudaGraphLaunch(exec, s), "cudaGraphLaunch");
    return;
  }
  // A step the driver would not capture (a library call that allocates or synchronises, say)
  // runs its launches eagerly, now and whenever its key comes again: slower, never wrong. A
  // launch that fails eagerly too throws as it would without graphs.
  ++fallbacks;
  profile::add("cuda graph fallbacks to eager (count)", 0);
  uncapturable_.insert(key_);
  run_ops();
}

cudaGraphExec_t StepGraphs::capture(cudaStream_t s) {
  if (cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  cudaGraph_t g = nullptr;
  bool ran = true;
  try {
    for (auto& op : ops_) op();  // kept: run again eagerly when the capture fails
  } catch (...) {
    ran = false;
  }
  const cudaError_t ended = cudaStreamEndCapture(s, &g);
  cudaGraphExec_t exec = nullptr;
  if (ran && ended == cudaSuccess && g && cudaGraphInstantiate(&exec, g, 0) != cudaSuccess) exec = nullptr;
  if (g) (void)cudaGraphDestroy(g);
  (void)cudaGetLastError();  // a failed capture leaves its error behind
  if (exec) ops_.clear();
  return exec;
}

void StepGraphs::clear() noexcept {
  for (auto& [key, exec] : execs_) (void)cudaGraphExecDestroy(exec);
  execs_.clear();
}

}  // namespace hayate::cuda
