#include "server/gpu_metrics.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <sstream>

#include "core/gpu_stats.h"

namespace hayate::server {

std::string gpu_metrics_text(const std::string& library) {
  static std::once_flag opened;
  static std::unique_ptr<GpuStats> gpus;
  std::call_once(opened, [&] {
    if (library.empty()) return;
    std::string why;
    gpus = GpuStats::open(library, why);
    if (!gpus) spdlog::info("metrics: no GPU figures ({})", why);
  });
  if (!gpus) return "";
  const auto readings = gpus->read();
  if (readings.empty()) return "";
  std::ostringstream out;
  const auto family = [&](const char* name, const char* help, auto value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n";
    for (const GpuReading& r : readings) out << name << "{gpu=\"" << r.index << "\"} " << value(r) << "\n";
  };
  family("hayate_gpu_memory_used_bytes", "GPU memory in use (every process's), from NVML",
         [](const GpuReading& r) { return r.memory_used; });
  family("hayate_gpu_memory_total_bytes", "GPU memory", [](const GpuReading& r) { return r.memory_total; });
  family("hayate_gpu_utilization_ratio", "share of the last sample period a kernel ran, from NVML",
         [](const GpuReading& r) { return r.utilization; });
  return out.str();
}

}  // namespace hayate::server
