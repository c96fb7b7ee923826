// End-to-end speed of a model in this process, as llama-bench measures it: prompt processing
// (pp N: N prompt tokens through the batched forward, chunked like Session) and text generation
// (tg N: N single-token decode steps). `hayate bench model` prints what this returns; backends
// other than the CPU ones report through the same rows (device, gpu_memory_bytes).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "bench/stats.h"
#include "bench/system_info.h"

namespace hayate::bench {

struct BenchConfig {
  std::vector<std::string> models;        // GGUF paths
  std::vector<int32_t> n_prompt = {512};  // a pp test per length; 0 is skipped
  std::vector<int32_t> n_gen = {128};     // a tg test per length; 0 is skipped
  std::vector<int> threads = {0};         // 0: all hardware threads
  int repetitions = 3;                    // timed runs per test, after one warm-up run
  std::string backend = "cpu";            // a make_backend name
  DeviceOptions device{"cpu"};            // where it runs (place_model)
  int32_t n_batch = 256;                  // tokens per forward when processing a prompt (Session's default)
  uint64_t seed = 42;                     // of the random token ids
};

// One test (one model, backend, thread count and pp/tg length).
struct BenchResult {
  std::string model_file;  // file name without directories
  std::string model_path;  // as given
  std::string model_name;  // general.name ("" when absent)
  std::string arch;
  std::string file_type;  // from general.file_type, else the type holding most weight bytes, e.g. "Q4_K_M"
  uint64_t model_size_bytes = 0;
  uint64_t n_params = 0;
  std::string backend;  // Backend::name()
  std::string device;   // what executed it: the CPU model name, or a GPU's name
  int n_threads = 0;
  std::string test;      // "pp512" or "tg128"
  int32_t n_prompt = 0;  // timed prompt tokens (pp); 0 for tg
  int32_t n_gen = 0;     // timed decode steps (tg); 0 for pp
  int32_t n_batch = 0;
  std::vector<double> samples_seconds;       // one per repetition
  std::vector<double> samples_ts;            // tokens per second of each repetition
  Stats ts;                                  // over samples_ts
  uint64_t rss_peak_bytes = 0;               // peak resident memory (VmHWM) during this test, model mapping included
  uint64_t rss_bytes = 0;                    // resident memory right after the test, its KV cache still held
  std::optional<uint64_t> gpu_memory_bytes;  // device memory in use; none on CPU backends
};

// Runs every model x thread count x test; one line per finished test goes to `progress`.
// Throws Error for a model that cannot be loaded or a test longer than the model's context.
std::vector<BenchResult> run_model_bench(const BenchConfig& config, std::ostream& progress);

// A llama-bench-like Markdown table under a few lines about the system.
std::string format_table(const SystemInfo& system, const std::vector<BenchResult>& results);

// One JSON object; these field names are stable (scripts and docs/benchmarks.md read them):
// {
//   "system":  {"cpu_model": str, "cpu_features": str, "n_cpus": int,
//               "load_average": [1 min, 5 min, 15 min] (empty when unknown), "timestamp": "…Z"},
//   "results": [{"model_file": str, "model_path": str, "model_name": str, "arch": str,
//                "file_type": str, "model_size_bytes": int, "n_params": int, "backend": str,
//                "device": str, "n_threads": int, "test": str, "n_prompt": int, "n_gen": int,
//                "n_batch": int, "repetitions": int, "samples_seconds": [num], "samples_ts": [num],
//                "avg_ts": num, "stddev_ts": num, "median_ts": num, "rss_peak_bytes": int,
//                "rss_bytes": int, "gpu_memory_bytes": int or null}, …]
// }
std::string format_json(const SystemInfo& system, const std::vector<BenchResult>& results);

// A header line and one row per result: the JSON result fields in the same order (samples as
// space-separated numbers, a null as an empty cell), then cpu_model and cpu_features.
std::string format_csv(const SystemInfo& system, const std::vector<BenchResult>& results);

}  // namespace hayate::bench
