#include "backend/cuda/cublas_api.h"

#include <dlfcn.h>

#include <string>

#include "core/error.h"

namespace hayate::cuda {
namespace {

template <class Fn>
void resolve(void* lib, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!*fn) fail(ErrorKind::Unsupported, std::string("cuBLAS: the library has no ") + name);
}

CublasApi load() {
  const std::string name = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    fail(ErrorKind::Unsupported, "cannot load " + name + " for the CUDA backend: " + (why ? why : "unknown error") +
                                     " (is the CUDA toolkit's lib directory on the library path?)");
  }
  CublasApi api{};
  resolve(lib, "cublasCreate_v2", &api.create);
  resolve(lib, "cublasDestroy_v2", &api.destroy);
  resolve(lib, "cublasSetStream_v2", &api.set_stream);
  resolve(lib, "cublasSetWorkspace_v2", &api.set_workspace);
  resolve(lib, "cublasSgemm_v2", &api.sgemm);
  resolve(lib, "cublasGemmEx", &api.gemm_ex);
  resolve(lib, "cublasGetStatusName", &api.status_name);
  resolve(lib, "cublasGetStatusString", &api.status_string);
  return api;  // the library stays loaded for the process
}

}  // namespace

const CublasApi& cublas() {
  static const CublasApi api = load();
  return api;
}

}  // namespace hayate::cuda
