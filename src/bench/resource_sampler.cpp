#include "bench/resource_sampler.h"

#include <dlfcn.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace hayate::bench {

void ProcessProbe::sample(ResourceSample& s) {
  const std::string dir = "/proc/" + std::to_string(pid_);
  std::ifstream stat(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  // The command name (field 2) may hold spaces and parentheses; the fields after it start after
  // the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> f;
  for (std::string w; rest >> w;) f.push_back(w);
  if (f.size() < 22) return;
  // Fields 14 and 15 (utime, stime) are f[11], f[12]; field 24 (rss, pages) is f[21].
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double cpu_s = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  s.rss_bytes = std::stoull(f[21]) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto now = std::chrono::steady_clock::now();
  if (last_cpu_s_) {
    const double wall = std::chrono::duration<double>(now - last_at_).count();
    if (wall > 0) s.cpu_pct = 100.0 * (cpu_s - *last_cpu_s_) / wall;
  }
  last_cpu_s_ = cpu_s;
  last_at_ = now;
}

// The few NVML entry points used, with their C signatures (nvml.h is not needed to build).
struct Nvml::Api {
  struct Utilization {
    unsigned gpu, memory;
  };
  struct Memory {
    unsigned long long total, free, used;
  };
  using Handle = void*;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*count)(unsigned*) = nullptr;
  int (*handle)(unsigned, Handle*) = nullptr;
  int (*utilization)(Handle, Utilization*) = nullptr;
  int (*memory)(Handle, Memory*) = nullptr;
  int (*power)(Handle, unsigned*) = nullptr;  // milliwatts
};

std::unique_ptr<Nvml> Nvml::open(std::string& why, const char* library) {
  void* lib = ::dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    why = std::string(library) + " not found (no NVIDIA driver): GPU sampling skipped";
    return nullptr;
  }
  std::unique_ptr<Nvml> n(new Nvml);
  n->lib_ = lib;
  n->api_ = std::make_unique<Api>();
  Api& a = *n->api_;
  bool all = true;
  auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
    if (!fn && all) {
      why = std::string(library) + " has no " + name + ": GPU sampling skipped";
      all = false;
    }
  };
  bind(a.init, "nvmlInit_v2");
  bind(a.shutdown, "nvmlShutdown");
  bind(a.count, "nvmlDeviceGetCount_v2");
  bind(a.handle, "nvmlDeviceGetHandleByIndex_v2");
  bind(a.utilization, "nvmlDeviceGetUtilizationRates");
  bind(a.memory, "nvmlDeviceGetMemoryInfo");
  bind(a.power, "nvmlDeviceGetPowerUsage");
  if (!all) return nullptr;  // the destructor closes the library
  if (a.init() != 0) {
    why = "nvmlInit failed: GPU sampling skipped";
    a.shutdown = nullptr;
    return nullptr;
  }
  if (a.count(&n->count_) != 0 || n->count_ == 0) {
    why = "NVML sees no GPU: GPU sampling skipped";
    return nullptr;
  }
  return n;
}

Nvml::~Nvml() {
  if (api_ && api_->shutdown) api_->shutdown();
  if (lib_) ::dlclose(lib_);
}

void Nvml::sample(ResourceSample& s) {
  double util = 0, power = 0;
  uint64_t mem = 0;
  unsigned seen = 0;
  for (unsigned i = 0; i < count_; ++i) {
    Api::Handle h = nullptr;
    if (api_->handle(i, &h) != 0) continue;
    Api::Utilization u{};
    Api::Memory m{};
    unsigned mw = 0;
    if (api_->utilization(h, &u) == 0) util += u.gpu;
    if (api_->memory(h, &m) == 0) mem += m.used;
    if (api_->power(h, &mw) == 0) power += mw / 1000.0;
    ++seen;
  }
  if (seen == 0) return;
  s.gpu_util_pct = util / seen;
  s.gpu_mem_bytes = mem;
  s.gpu_power_w = power;
}

}  // namespace hayate::bench
