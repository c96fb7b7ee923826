#include "core/gpu_stats.h"

#include <dlfcn.h>

namespace hayate {

// NVML's C signatures for the calls used (nvml.h is not needed to build); 0 is NVML_SUCCESS.
struct GpuStats::Functions {
  struct Utilization {
    unsigned gpu, memory;  // percent
  };
  struct Memory {
    unsigned long long total, free, used;
  };
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*count)(unsigned*) = nullptr;
  int (*device)(unsigned, void**) = nullptr;
  int (*utilization)(void*, Utilization*) = nullptr;
  int (*memory)(void*, Memory*) = nullptr;
  int (*power)(void*, unsigned*) = nullptr;             // milliwatts; optional
  int (*temperature)(void*, int, unsigned*) = nullptr;  // degrees C; optional
};

std::unique_ptr<GpuStats> GpuStats::open(const std::string& library, std::string& why) {
  std::unique_ptr<GpuStats> g(new GpuStats);
  g->library_ = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!g->library_) {
    why = library + " cannot be loaded (no NVIDIA driver)";
    return nullptr;
  }
  g->fn_ = std::make_unique<Functions>();
  Functions& f = *g->fn_;
  const std::pair<void**, const char*> wanted[] = {
      {reinterpret_cast<void**>(&f.init), "nvmlInit_v2"},
      {reinterpret_cast<void**>(&f.shutdown), "nvmlShutdown"},
      {reinterpret_cast<void**>(&f.count), "nvmlDeviceGetCount_v2"},
      {reinterpret_cast<void**>(&f.device), "nvmlDeviceGetHandleByIndex_v2"},
      {reinterpret_cast<void**>(&f.utilization), "nvmlDeviceGetUtilizationRates"},
      {reinterpret_cast<void**>(&f.memory), "nvmlDeviceGetMemoryInfo"},
  };
  for (const auto& [slot, name] : wanted) {
    *slot = ::dlsym(g->library_, name);
    if (!*slot) {
      why = library + " has no " + name;
      f.shutdown = nullptr;  // nothing to shut down: init has not run
      return nullptr;
    }
  }
  // Not every NVML (nor the tests' stand-ins) has these; a reading without them leaves them empty.
  f.power = reinterpret_cast<int (*)(void*, unsigned*)>(::dlsym(g->library_, "nvmlDeviceGetPowerUsage"));
  f.temperature = reinterpret_cast<int (*)(void*, int, unsigned*)>(::dlsym(g->library_, "nvmlDeviceGetTemperature"));
  if (f.init() != 0) {
    why = "NVML did not start (no driver loaded)";
    f.shutdown = nullptr;
    return nullptr;
  }
  if (f.count(&g->devices_) != 0 || g->devices_ == 0) {
    why = "NVML sees no GPU";
    return nullptr;
  }
  return g;
}

GpuStats::~GpuStats() {
  if (fn_ && fn_->shutdown) fn_->shutdown();
  if (library_) ::dlclose(library_);
}

std::vector<GpuReading> GpuStats::read() const {
  std::vector<GpuReading> out;
  for (unsigned i = 0; i < devices_; ++i) {
    void* device = nullptr;
    Functions::Memory m{};
    Functions::Utilization u{};
    if (fn_->device(i, &device) != 0 || fn_->memory(device, &m) != 0) continue;
    GpuReading r;
    r.index = i, r.memory_used = m.used, r.memory_total = m.total;
    if (fn_->utilization(device, &u) == 0) r.utilization = u.gpu / 100.0, r.memory_utilization = u.memory / 100.0;
    unsigned milliwatts = 0, celsius = 0;
    constexpr int kGpuSensor = 0;  // NVML_TEMPERATURE_GPU: the die
    if (fn_->power && fn_->power(device, &milliwatts) == 0) r.power_w = milliwatts / 1000.0;
    if (fn_->temperature && fn_->temperature(device, kGpuSensor, &celsius) == 0) r.temperature_c = celsius;
    out.push_back(r);
  }
  return out;
}

}  // namespace hayate
