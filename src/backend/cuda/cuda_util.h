// Error checking and device memory bookkeeping shared by the CUDA backend's C++ files.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>

namespace hayate::cuda {

// Throws hayate::Error naming the call; out-of-memory is ResourceExhausted, the rest Internal.
void check(cudaError_t err, const char* what);
void check_blas(cublasStatus_t st, const char* what);

// Bytes this backend may still take (a fraction of the free memory at start), shared with its
// KV caches, which may outlive a forward step.
struct MemoryBudget {
  uint64_t limit = 0;
  uint64_t used = 0;
  uint64_t peak = 0;  // most ever used at once
};

// cudaMalloc within the budget; `what` names the allocation in the error.
void* device_alloc(MemoryBudget& budget, size_t bytes, const std::string& what);
void device_free(MemoryBudget& budget, void* p, size_t bytes);

}  // namespace hayate::cuda
