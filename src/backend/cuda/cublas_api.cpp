#include "backend/cuda/cublas_api.h"

#include <string>

#include "backend/cuda/dl_library.h"

namespace hayate::cuda {
namespace {

CublasApi load() {
  void* lib = open_library("libcublas.so." + std::to_string(CUBLAS_VER_MAJOR), "the CUDA backend",
                           "is the CUDA toolkit's lib directory on the library path?");
  CublasApi api{};
  resolve(lib, "cuBLAS", "cublasCreate_v2", &api.create);
  resolve(lib, "cuBLAS", "cublasDestroy_v2", &api.destroy);
  resolve(lib, "cuBLAS", "cublasSetStream_v2", &api.set_stream);
  resolve(lib, "cuBLAS", "cublasSetWorkspace_v2", &api.set_workspace);
  resolve(lib, "cuBLAS", "cublasSgemm_v2", &api.sgemm);
  resolve(lib, "cuBLAS", "cublasGemmEx", &api.gemm_ex);
  resolve(lib, "cuBLAS", "cublasGetStatusName", &api.status_name);
  resolve(lib, "cuBLAS", "cublasGetStatusString", &api.status_string);
  return api;  // the library stays loaded for the process
}

}  // namespace

const CublasApi& cublas() {
  static const CublasApi api = load();
  return api;
}

}  // namespace hayate::cuda
