// The GPUs' memory and utilisation on /metrics (core/gpu_stats.h), for the dashboard and
// Prometheus. Nothing when NVML or a GPU is missing: a CPU server shows no GPU figure at all.
#pragma once

#include <string>

namespace hayate::server {

// Prometheus text, one series per GPU; "" without a reader. NVML is opened on the first call
// (one server per process) and the reason it is absent logged once.
std::string gpu_metrics_text(const std::string& library);

}  // namespace hayate::server
