// The long runs of `hayate bench serve --mode soak` (issue 22): hours to a day against one server,
// unattended. Memory stays bounded however long it runs (requests are folded into counts and
// uniform samples, not kept), the state is written after every snapshot so that a run cut off
// (a reboot, a killed terminal) resumes where it stopped (--resume), and at the end the run is
// judged: no 5xx, no hung stream, resident memory flat after warm-up, KV blocks back to zero, the
// latency of the last window close to that of the first.
#pragma once

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/figures.h"
#include "bench/serve_client.h"

namespace hayate::bench {

struct SoakLimits {
  double warmup_s = 600;           // resident memory is judged after this
  double window_s = 600;           // TTFT p99 of the first and of the last window are compared
  double max_rss_growth_pct = 2;   // after warm-up, over the first sample after it
  double max_ttft_drift_pct = 20;  // last window's TTFT p99 over the first window's
  double kv_drain_s = 30;          // how long the end waits for hayate_kv_blocks_active to reach 0
};

// A uniform sample of at most `capacity` values of a stream of any length (Vitter's algorithm R),
// with its generator's state, so that a resumed run samples as the uninterrupted one would.
class Reservoir {
 public:
  explicit Reservoir(size_t capacity = 20000, uint64_t seed = 1) : capacity_(capacity), rng_(seed) {}
  void add(double v);
  const std::vector<double>& values() const { return values_; }
  uint64_t seen() const { return seen_; }
  nlohmann::json to_json() const;
  void from_json(const nlohmann::json& j);

 private:
  size_t capacity_;
  uint64_t seen_ = 0;
  std::vector<double> values_;
  std::mt19937_64 rng_;
};

// The requests of a soak run so far, in bounded memory: outcomes and tokens counted exactly,
// latencies as uniform samples, and the TTFTs of the first and of the latest window whole.
class SoakLedger {
 public:
  explicit SoakLedger(double window_s = 600) : window_s_(window_s) {}
  // `offset_s` moves the request's times (since this session's start) onto the run's clock.
  void add(const RequestResult& r, double offset_s = 0);
  // Counts exact, percentiles from the samples.
  RunFigures figures(double duration_s) const;
  const std::vector<double>& first_window_ttft() const { return first_ttft_; }
  std::vector<double> last_window_ttft(double run_end_s) const;
  const std::vector<std::string>& first_errors() const { return first_errors_; }
  const std::vector<double>& ttft_sample() const { return ttft_.values(); }
  const std::vector<double>& e2e_sample() const { return e2e_.values(); }
  nlohmann::json to_json() const;
  void from_json(const nlohmann::json& j);

 private:
  double window_s_;
  int64_t sent_ = 0, ok_ = 0, cancelled_ = 0, prompt_ = 0, output_ = 0;
  int64_t errors_[6] = {};  // 4xx, 5xx, 429, timeout, connect, protocol
  Reservoir ttft_{20000, 11}, tpot_{20000, 12}, itl_{20000, 13}, e2e_{20000, 14};
  std::vector<double> first_ttft_;
  std::deque<std::pair<double, double>> recent_ttft_;  // (end_s, ttft_ms), the last window's
  std::vector<std::string> first_errors_;
};

ServerProbe probe_process(int pid);  // rss and fds; empty when there is no such process

// One judgement of the end of a soak run. `passed` is empty when the run was too short or lacked
// the data to judge it (no --pid: no memory figures).
struct SoakCheck {
  std::string name;
  std::optional<bool> passed;
  std::string detail;
};
std::vector<SoakCheck> judge_soak(const SoakLedger& ledger, const std::vector<Snapshot>& snapshots,
                                  std::optional<double> kv_blocks_at_end, double run_end_s, const SoakLimits& limits);

// The resumable state: written (atomically: a temporary file renamed over it) after every snapshot.
struct SoakState {
  nlohmann::json identity;  // url, concurrency, workload, duration: a resume must match them
  double elapsed_s = 0;
  SoakLedger ledger;
  std::vector<Snapshot> snapshots;
};
void save_soak_state(const std::string& path, const SoakState& state);
// Error(NotFound) without the file; Error(BadInput) when it is not a soak state or its identity
// differs from `identity` (naming the field).
SoakState load_soak_state(const std::string& path, const nlohmann::json& identity, double window_s);

nlohmann::json snapshot_to_state(const Snapshot& s);
Snapshot snapshot_from_state(const nlohmann::json& j);

}  // namespace hayate::bench
