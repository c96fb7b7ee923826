// Decode steps as CUDA graphs captured once and replayed (issue 12, stage 3). While a step is
// recorded, the backend's operations do their host work at once (checks, staging of small
// arrays into pinned memory) but hand their launches to the recorder as closures, together
// with a key: every argument those launches take (device pointers, sizes, grid choices). When
// the step ends, a graph captured earlier under the same key is launched as it is; a new key
// runs the closures under stream capture once and keeps the graph. Equal keys mean the same
// launches with the same arguments, and the staged arrays are read by the graph's copy nodes
// from the same pinned addresses, which hold this step's values: so a replay does exactly what
// the closures would have done, at the cost of one launch instead of hundreds.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace hayate::cuda {

class StepGraphs {
 public:
  StepGraphs() = default;
  ~StepGraphs() { clear(); }
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  bool recording() const { return recording_; }
  // Starts recording a step. eager: run its launches at end() without a graph (e.g. a long
  // prompt, whose shapes rarely repeat and whose launches are few beside its work).
  void begin() {
    recording_ = true;
    eager_ = false;
    host_read_ = false;
    key_.clear();
    ops_.clear();
  }
  void set_eager() { eager_ = true; }
  // The step reads device results on the host midway (a mixture-of-experts layer's router
  // logits, which route its tokens): what follows the read depends on the values read, so no
  // graph can hold the step. It runs eagerly, counted in host_read_steps.
  void set_eager_host_read() {
    eager_ = true;
    host_read_ = true;
  }

  // Scalars and pointers only: a struct's padding bytes would make equal arguments differ.
  template <class... A>
  void key(const A&... a) {
    (append(a), ...);
  }
  void add(std::function<void()> op) { ops_.push_back(std::move(op)); }

  // Ends recording and enqueues the step on `s`: the graph of its key (captured now when new),
  // or its closures in order when eager.
  void end(cudaStream_t s);
  // Drops a recorded step without running it (a failed step; the next begin() starts over).
  void abort() noexcept {
    recording_ = false;
    ops_.clear();
  }
  void clear() noexcept;  // every graph kept

  int64_t replays = 0, captures = 0, fallbacks = 0;  // for tests and the profile
  int64_t host_read_steps = 0;                       // steps run eagerly by set_eager_host_read

 private:
  template <size_t N>
  void append(const char (&name)[N]) {  // an operation's name: its literal's address is its identity
    append(static_cast<const char*>(name));
  }
  template <class A>
  void append(const A& a) {
    static_assert(std::is_scalar_v<A>, "keys are scalars and pointers");
    char b[sizeof(A)];
    std::memcpy(b, &a, sizeof(A));
    key_.append(b, sizeof(A));
  }
  void run_ops();
  // The graph of the recorded launches, or null (and the stream usable again) when capturing or
  // instantiating failed.
  cudaGraphExec_t capture(cudaStream_t s);

  bool recording_ = false, eager_ = false, host_read_ = false;
  std::string key_;
  std::vector<std::function<void()>> ops_;
  std::unordered_map<std::string, cudaGraphExec_t> execs_;
  std::unordered_set<std::string> uncapturable_;  // keys whose capture failed: eager from then on
};

}  // namespace hayate::cuda
