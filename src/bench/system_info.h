// What a benchmark ran on, read from /proc on Linux. A field is left empty where its source is
// missing (another OS, a restricted container) rather than failing the benchmark.
#pragma once

#include <string>
#include <vector>

namespace hayate::bench {

struct SystemInfo {
  std::string cpu_model;             // "model name" of /proc/cpuinfo
  std::string cpu_features;          // quant::cpu_features(): the instruction sets the kernels use
  int n_cpus = 0;                    // hardware threads
  std::vector<double> load_average;  // 1, 5 and 15 minutes, taken before the run
  std::string timestamp;             // start of the run, UTC, ISO 8601
};

SystemInfo collect_system_info();

// Lowers this process's peak resident memory (VmHWM) to its current resident memory, so that the
// next reading of the peak covers only what ran in between. False where the kernel refuses.
bool reset_peak_resident_memory();

}  // namespace hayate::bench
