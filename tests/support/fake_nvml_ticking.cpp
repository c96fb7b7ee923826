// A stand-in for libnvidia-ml.so.1 with the entry points bench/resource_sampler.cpp binds: two
// GPUs whose utilisation, power and temperature rise by one step per sample (a sample asks for
// GPU 0's handle first), so the NVML path is tested where no GPU is.
#include <cstdint>

namespace {
unsigned tick = 0;
struct Utilization {
  unsigned gpu, memory;
};
struct Memory {
  unsigned long long total, free, used;
};
unsigned index_of(void* handle) { return static_cast<unsigned>(reinterpret_cast<uintptr_t>(handle)) - 1; }
}  // namespace

extern "C" {
int nvmlInit_v2() { return 0; }
int nvmlShutdown() { return 0; }
int nvmlDeviceGetCount_v2(unsigned* n) {
  *n = 2;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void** handle) {
  if (i >= 2) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  if (i == 0) ++tick;
  *handle = reinterpret_cast<void*>(static_cast<uintptr_t>(i + 1));
  return 0;
}
int nvmlDeviceGetUtilizationRates(void*, Utilization* u) {
  u->gpu = 40 + tick;
  u->memory = 20 + tick;
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* handle, Memory* m) {
  m->total = 80ull << 30;
  m->used = (index_of(handle) + 1ull) << 30;
  m->free = m->total - m->used;
  return 0;
}
int nvmlDeviceGetPowerUsage(void*, unsigned* milliwatts) {
  *milliwatts = 100000 + 10000 * tick;
  return 0;
}
int nvmlDeviceGetTemperature(void* handle, int sensor, unsigned* celsius) {
  if (sensor != 0) return 2;
  *celsius = 50 + 5 * index_of(handle) + tick;
  return 0;
}
}
