// The GPUs' memory, utilisation, power and temperature as NVIDIA's driver reports them (NVML,
// loaded at run time so that a build or a machine without the driver needs nothing). The server's
// /metrics and dashboard and the benchmarks' resource sampler read them; without a driver or a GPU
// there is no reader and no figure.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hayate {

struct GpuReading {
  unsigned index = 0;
  uint64_t memory_used = 0, memory_total = 0;    // bytes
  double utilization = 0;                        // 0..1 of the last sample period
  double memory_utilization = 0;                 // 0..1: share of the period memory was read or written
  std::optional<double> power_w, temperature_c;  // empty where the driver or card does not say
};

class GpuStats {
 public:
  // Null with `why` said when the library, one of its functions or a GPU is missing.
  static std::unique_ptr<GpuStats> open(const std::string& library, std::string& why);
  ~GpuStats();
  GpuStats(const GpuStats&) = delete;
  GpuStats& operator=(const GpuStats&) = delete;

  // One reading per GPU that answered.
  std::vector<GpuReading> read() const;
  unsigned device_count() const { return devices_; }

 private:
  struct Functions;
  GpuStats() = default;
  void* library_ = nullptr;
  std::unique_ptr<Functions> fn_;
  unsigned devices_ = 0;
};

}  // namespace hayate
