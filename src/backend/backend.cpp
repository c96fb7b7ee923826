// Device selection (cpu / cuda / auto).
#include "backend/backend.h"

#include "core/error.h"

namespace hayate {

KvCache::~KvCache() = default;
Backend::~Backend() = default;

std::unique_ptr<Backend> make_backend_for(const Model& model, const std::string& cpu_backend, int n_threads,
                                          const DeviceOptions& opt, std::ostream* log) {
  if (opt.device != "cpu" && opt.device != "cuda" && opt.device != "auto")
    fail(ErrorKind::BadInput, "unknown device '" + opt.device + "' (choose auto, cpu or cuda)");
  if (opt.device == "cuda") {
    if (!cuda_built())
      fail(ErrorKind::Unsupported,
           "--device cuda: this build has no CUDA backend (nvcc was not found when it was configured, or "
           "-DHAYATE_CUDA=OFF)");
    auto be = make_cuda_backend(opt);
    be->prepare(model);
    return be;
  }
  // The reference backend is the oracle: asking for it means the plain CPU path.
  if (opt.device == "auto" && cpu_backend != "reference" && cuda_built() && cuda_device_count() > 0) {
    // The model fits when its weights upload within the memory budget; anything else the CUDA
    // backend cannot do (a weight type, the memory) falls back to the CPU, saying why.
    try {
      auto be = make_cuda_backend(opt);
      be->prepare(model);
      return be;
    } catch (const Error& e) {
      if (log) *log << "device auto: not using CUDA (" << e.what() << "); running on the CPU\n" << std::flush;
    }
  }
  auto be = make_backend(cpu_backend, n_threads);
  be->prepare(model);
  return be;
}

}  // namespace hayate
