// What the server spends while a benchmark runs: CPU and resident memory of a process (from
// /proc/PID) and, where the NVIDIA driver is installed, GPU utilisation, memory, memory-bandwidth
// utilisation, temperature and power through NVML. NVML is opened with dlopen at run time, so hayate has no link
// dependency on it and runs (with GPU fields null) where it is absent.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/gpu_stats.h"

namespace hayate::bench {

struct ResourceSample {
  double t_s = 0;                    // since the start of the run
  std::optional<double> cpu_pct;     // over the interval since the previous sample; 100 = one core
  std::optional<double> cpu_time_s;  // the process's user + system CPU seconds since it started
  std::optional<uint64_t> rss_bytes;
  std::optional<double> gpu_util_pct;      // the mean over the GPUs
  std::optional<double> gpu_mem_util_pct;  // memory-bandwidth utilisation (NVML's "memory" rate), the mean
  std::optional<uint64_t> gpu_mem_bytes;   // the sum over the GPUs
  std::optional<double> gpu_power_w;       // the sum over the GPUs
  std::optional<double> gpu_temp_c;        // the hottest GPU
};

// A run's samples in a few figures; a figure stays empty when no sample had its field (no GPU:
// no power, so no energy), never zero.
struct ResourceSummary {
  std::optional<uint64_t> peak_rss_bytes, peak_gpu_mem_bytes;
  std::optional<double> cpu_time_s;  // the server's CPU seconds between the first and last sample
  std::optional<double> mean_gpu_util_pct, mean_gpu_mem_util_pct, peak_gpu_temp_c;
  std::optional<double> mean_gpu_power_w;  // time-weighted over the samples
  std::optional<double> energy_j;          // mean power x the run's duration
  std::optional<double> energy_per_output_token_j;
  // Output tokens/s per GB (1e9 bytes) of the GPU memory in use, or of the server's peak RSS
  // without a GPU (memory_basis says which).
  std::optional<double> output_tokens_per_s_per_gb;
  std::string memory_basis;  // "gpu", "rss" or "" (neither measured)
};
ResourceSummary summarize_resources(const std::vector<ResourceSample>& samples, double duration_s,
                                    int64_t output_tokens, double output_tokens_per_s);

// CPU time and resident memory of one process.
class ProcessProbe {
 public:
  explicit ProcessProbe(pid_t pid) : pid_(pid) {}
  // Fills cpu_pct (not on the first call) and rss_bytes; leaves them empty once the process is gone.
  void sample(ResourceSample& s);

 private:
  pid_t pid_;
  std::optional<double> last_cpu_s_;
  std::chrono::steady_clock::time_point last_at_;
};

// The GPUs as NVML sees them (core's GpuStats), summed into one sample.
class Nvml {
 public:
  // nullptr, with `why` saying what was missing, when the library cannot be loaded, lacks a
  // function, fails to initialise or sees no GPU.
  static std::unique_ptr<Nvml> open(std::string& why, const char* library = "libnvidia-ml.so.1");

  unsigned device_count() const { return gpus_->device_count(); }
  void sample(ResourceSample& s);

 private:
  explicit Nvml(std::unique_ptr<GpuStats> gpus) : gpus_(std::move(gpus)) {}
  std::unique_ptr<GpuStats> gpus_;
};

}  // namespace hayate::bench
