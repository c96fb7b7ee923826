// The CUDA entry points of a build without CUDA (nvcc not found, or -DHAYATE_CUDA=OFF); the
// CUDA module's own definitions replace this file when it is built.
#include "backend/backend.h"
#include "backend/comm.h"
#include "core/error.h"

namespace hayate {

bool cuda_built() { return false; }
int cuda_device_count() { return 0; }

std::unique_ptr<Backend> make_cuda_backend(const DeviceOptions&) {
  fail(ErrorKind::Unsupported,
       "this build has no CUDA backend (nvcc was not found when it was configured, or -DHAYATE_CUDA=OFF)");
}

std::vector<std::unique_ptr<Communicator>> make_nccl_communicators(int) {
  fail(ErrorKind::Unsupported,
       "tensor parallelism over GPUs needs a build with CUDA (nvcc was not found when it was "
       "configured, or -DHAYATE_CUDA=OFF)");
}

}  // namespace hayate
