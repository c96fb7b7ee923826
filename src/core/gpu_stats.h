// The GPUs' memory and utilisation as NVIDIA's driver reports them (NVML, loaded at run time so
// that a build or a machine without the driver needs nothing). The server's /metrics exports them
// and the dashboard draws them; without a driver or a GPU there is no reader and no figure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hayate {

struct GpuReading {
  unsigned index = 0;
  uint64_t memory_used = 0, memory_total = 0;  // bytes
  double utilization = 0;                      // 0..1 of the last sample period
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

 private:
  struct Functions;
  GpuStats() = default;
  void* library_ = nullptr;
  std::unique_ptr<Functions> fn_;
  unsigned devices_ = 0;
};

}  // namespace hayate
