// Result files the report reads: `hayate bench serve` (schema "hayate.bench.serve/1", the
// contract shared with the bench serve writer) and `hayate bench model -o json`
// (bench/model_bench.h format_json), loaded into plain structs. Optional fields the writer may leave out are
// std::optional here, so the charts and rules skip what a file does not have instead of inventing a value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hayate::report {

// A percentile object {"mean","p50","p90","p95","p99","min","max","count"}.
struct Percentiles {
  std::optional<double> mean, p50, p90, p95, p99, min, max;
  std::optional<int64_t> count;
};

struct ServeRun {
  std::string mode;  // concurrency, rate, soak, overload
  std::optional<double> concurrency, rate_rps, duration_s;
  int64_t sent = 0, ok = 0, errors = 0;  // errors: the sum of every "errors" counter
  std::optional<double> requests_per_s, output_tokens_per_s, total_tokens_per_s;
  Percentiles ttft, tpot, itl, e2e;
  std::vector<double> ttft_samples_ms;
  std::optional<double> degradation_vs_c1;
  std::optional<uint64_t> peak_rss_bytes, peak_gpu_mem_bytes;  // the largest resource sample
  // From "resource_summary" (issue 23); absent in older files and wherever nothing was measured.
  std::optional<double> energy_per_output_token_j, mean_gpu_power_w, peak_gpu_temp_c, tokens_per_s_per_gb;
  std::optional<double> retention_score;  // the retention workload's context-retention score
};

struct ServeTarget {
  std::string url, label, server, model, workload;
  std::string format;  // "format" of the target, else a weight format named in the model or label
  std::vector<ServeRun> runs;
};

// One row of `hayate bench model -o json`.
struct ModelRow {
  std::string model_file, model_name, arch, file_type, backend, device, test;
  int n_threads = 0;
  int32_t n_prompt = 0, n_gen = 0;
  uint64_t model_size_bytes = 0, n_params = 0;
  double avg_ts = 0, stddev_ts = 0;
  uint64_t rss_peak_bytes = 0;
  std::optional<uint64_t> gpu_memory_bytes;
  bool is_prompt() const { return n_prompt > 0; }
  // "model · Q8_0 · cpu · 2 threads": what one bar group of the speed charts stands for.
  std::string config() const;
};

// A summary of one `hayate eval` suite run (src/eval/, docs/eval.md): the fields the report
// relies on are suite, model, format, server, metrics {name: value}, items and wall_s.
struct EvalSummary {
  std::string suite, model, format, server;
  std::vector<std::pair<std::string, double>> metrics;  // in the file's order
  int64_t items = 0;
  std::optional<double> wall_s;
  // The suite's headline score in [0, 1]: accuracy, pass@1 or exact_match when present, else the
  // first metric (a percentage over 1 is divided by 100).
  std::optional<double> score() const;
};

// "Q4_K_M", "Q8_0", "F16", ... named in a model id, file name or label (case-insensitive), or "".
std::string detect_format(const std::string& text);

enum class ResultKind { Serve, Model, Eval };

struct ResultFile {
  std::string path, name;  // name: the file name without directories, used in legends
  ResultKind kind = ResultKind::Model;
  std::string timestamp, cpu_model;
  std::vector<double> load_average;
  std::vector<ServeTarget> targets;  // Serve
  std::vector<ModelRow> rows;        // Model
  std::vector<EvalSummary> evals;    // Eval
  std::string gpu_note;              // Serve: why no GPU figures were sampled, "" when they were
};

// Reads and classifies one file; throws Error (BadInput, NotFound, Unsupported) naming the file
// and the field that is wrong.
ResultFile load_result_file(const std::string& path);
ResultFile parse_result(const std::string& text, const std::string& path);

}  // namespace hayate::report
