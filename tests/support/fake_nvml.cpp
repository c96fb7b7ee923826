// A stand-in for NVIDIA's libnvidia-ml.so with one GPU of fixed figures, loaded by a server under
// test through `--gpu-metrics-library`: the GPU path of /metrics and the dashboard runs on a
// machine without a GPU. Only tests build it; the server never ships it.
extern "C" {
struct FakeUtilization {
  unsigned gpu, memory;
};
struct FakeMemory {
  unsigned long long total, free, used;
};
int nvmlInit_v2() { return 0; }
int nvmlShutdown() { return 0; }
int nvmlDeviceGetCount_v2(unsigned* count) {
  *count = 1;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
  static int gpu0;
  *device = &gpu0;
  return index == 0 ? 0 : 1;
}
int nvmlDeviceGetUtilizationRates(void*, FakeUtilization* u) {
  *u = {42, 17};
  return 0;
}
int nvmlDeviceGetMemoryInfo(void*, FakeMemory* m) {
  *m = {85899345920ull, 85899345920ull - 12884901888ull, 12884901888ull};  // 80 GiB, 12 GiB used
  return 0;
}
}
