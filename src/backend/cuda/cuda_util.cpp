#include "backend/cuda/cuda_util.h"

#include <algorithm>
#include <cstdio>

#include "backend/cuda/cublas_api.h"
#include "core/error.h"

namespace hayate::cuda {

void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  const ErrorKind kind = err == cudaErrorMemoryAllocation ? ErrorKind::ResourceExhausted : ErrorKind::Internal;
  fail(kind, std::string("CUDA: ") + what + " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

void check_blas(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  const ErrorKind kind = st == CUBLAS_STATUS_ALLOC_FAILED ? ErrorKind::ResourceExhausted : ErrorKind::Internal;
  fail(kind, std::string("cuBLAS: ") + what + " failed: " + cublas().status_name(st) + " (" +
                 cublas().status_string(st) + ")");
}

static std::string gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
  return buf;
}

void* device_alloc(MemoryBudget& budget, size_t bytes, const std::string& what) {
  if (bytes == 0) bytes = 1;
  if (budget.used + bytes > budget.limit)
    fail(ErrorKind::ResourceExhausted, "CUDA: " + what + " needs " + gib(bytes) + " more device memory; " +
                                           gib(budget.used) + " of the allowed " + gib(budget.limit) +
                                           " are in use (raise --gpu-memory-fraction, or use --device cpu)");
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // clear the sticky-free error state of the runtime
    fail(ErrorKind::ResourceExhausted, "CUDA: out of device memory allocating " + gib(bytes) + " for " + what);
  }
  check(err, "cudaMalloc");
  budget.used += bytes;
  budget.peak = std::max(budget.peak, budget.used);
  return p;
}

void device_free(MemoryBudget& budget, void* p, size_t bytes) {
  if (!p) return;
  (void)cudaFree(p);  // never throws: called from destructors
  budget.used -= std::min<uint64_t>(budget.used, bytes == 0 ? 1 : bytes);
}

}  // namespace hayate::cuda
