// `hayate bench serve`: a load generator for any OpenAI-compatible server (hayate, llama.cpp's
// server, vLLM, Ollama). Streams every request so that time to first token and inter-token
// latency are what a client sees; takes token counts from the server's usage chunk; samples the
// server process (CPU, memory), the GPUs (NVML) and hayate's /metrics while it runs. The results
// follow docs/bench-serve-results.md (schema "hayate.bench.serve/1").
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "bench/figures.h"
#include "bench/resource_sampler.h"
#include "bench/serve_workload.h"
#include "bench/soak.h"
#include "bench/stats.h"
#include "bench/system_info.h"

namespace hayate::bench {

struct ServeBenchConfig {
  std::vector<std::string> urls;
  std::vector<std::string> labels;  // one per URL (missing ones: the URL)
  std::string model;                // "" : the first id of /v1/models
  std::string api_key;
  WorkloadConfig workload;
  std::string mode = "concurrency";  // concurrency, rate, soak, overload
  std::vector<int> concurrency = {1, 5, 10, 20};
  std::string ladder;         // a named concurrency ladder ("seed": 1, 5, 10, 20 users) in place of --concurrency
  std::vector<double> rates;  // rate mode (requests/s); overload by rate: the first step
  int64_t requests = 0;       // per run; 0: max(10, 4 x concurrency) or max(20, 10 s of the rate)
  double duration_s = 0;      // soak: the run's length (default 60); other modes: a limit per run (0: none)
  double snapshot_every_s = 10;
  int max_concurrency = 512;      // overload: the last step; rate mode: at most this many in flight
  double error_threshold = 0.05;  // overload: the error rate that counts as "errors begin"
  int pid = 0;                    // the server process to sample (0: none)
  double sample_interval_s = 0.5;
  double timeout_s = 300;  // per request
  bool progress = true;    // a progress bar on stderr (only when it is a terminal)
  uint64_t seed = 42;      // Poisson arrivals
  std::string nvml_library = "libnvidia-ml.so.1";
  // Soak: the state written after every snapshot (empty: none), whether to continue the run it
  // holds, and what the end of the run is judged against.
  std::string state_file;
  bool resume = false;
  SoakLimits soak;
};

struct ServerMetrics {
  double requests_total = 0;          // hayate_requests_total of the workload's route, delta over the run
  double generated_tokens_total = 0;  // hayate_generation_tokens_total, delta
  double prompt_tokens_total = 0;     // hayate_prompt_tokens_total, delta
  double window_s = 0;                // from the before-scrape's answer to sending the after-scrape
};

struct RunResult {
  std::string mode;
  std::optional<int> concurrency;
  std::optional<double> rate_rps;
  double duration_s = 0;
  RunFigures figures;
  std::vector<double> ttft_samples_ms, e2e_samples_ms;  // index i of both: the same request
  std::optional<double> degradation_vs_c1;
  std::vector<ResourceSample> resources;
  ResourceSummary resource_summary;
  std::optional<RetentionScore> retention;  // the retention workload's score of this run
  std::optional<ServerMetrics> server_metrics;
  std::vector<Snapshot> snapshots;
  std::optional<int> onset_concurrency;  // overload mode: where errors begin (error_rate above the threshold)
  std::optional<double> onset_rate_rps;
  double onset_error_rate = 0;
  std::vector<std::string> first_errors;  // up to 5 messages, for the log
  // Soak mode: the judgement of the run (empty when interrupted), the KV blocks still held after
  // the last request, and the seconds a resumed run had behind it.
  std::vector<SoakCheck> soak_checks;
  std::optional<double> kv_blocks_at_end;
  double resumed_from_s = 0;
};

struct TargetResult {
  std::string url, label, server, model;  // server: "hayate" or "unknown"
  WorkloadConfig workload;
  std::string ladder;  // the named ladder the runs followed, "" for none
  int32_t max_tokens = 0;
  std::optional<int32_t> prompt_tokens;  // fixed only
  int pid = 0;
  std::vector<RunResult> runs;
};

struct ServeBenchResult {
  SystemInfo system;
  std::vector<TargetResult> targets;
  bool interrupted = false;  // SIGINT: the runs measured so far, the last one cut short
  std::string gpu_note;      // why GPU fields are null (NVML absent), else ""
};

// Runs the configured runs against every URL in turn. Progress and one line per finished run go
// to `log`. SIGINT (and `stop`, when set from another thread) ends the run in progress
// (its open requests count as cancelled) and skips the rest. Throws Error for a bad
// configuration or a fixed-length prompt that cannot be calibrated.
ServeBenchResult run_serve_bench(const ServeBenchConfig& config, std::ostream& log, std::atomic<bool>* stop = nullptr);

// The concurrency values of a named ladder; throws Error(BadInput) for an unknown name.
std::vector<int> named_ladder(const std::string& name);

// The figures of a set of finished requests over `duration_s`.
RunFigures summarize_requests(const std::vector<RequestResult>& requests, double duration_s);

std::string format_serve_json(const ServeBenchResult& result);   // docs/bench-serve-results.md
std::string format_serve_table(const ServeBenchResult& result);  // Markdown, one table per target

}  // namespace hayate::bench
