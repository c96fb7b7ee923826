// cuBLAS through dlopen: libcublas (and libcublasLt, which it pulls in: half a gigabyte whose
// relocated pages took about 60 MiB of resident memory in every `hayate` process, CPU runs
// included) is mapped the first time a CUDA backend asks for it, not at program start.
#pragma once

#include <cublas_v2.h>

namespace hayate::cuda {

// The cuBLAS entry points the backend uses, resolved from the library of this toolkit's major
// version (libcublas.so.N).
struct CublasApi {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasDestroy_v2) destroy;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasSetWorkspace_v2) set_workspace;
  decltype(&cublasSgemm_v2) sgemm;
  // The C entry point (the header adds a C++ overload taking cudaDataType as compute type).
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  decltype(&cublasGetStatusName) status_name;
  decltype(&cublasGetStatusString) status_string;
};

// Loads the library on the first call; Error(Unsupported) naming the library or symbol when it
// cannot be loaded.
const CublasApi& cublas();

}  // namespace hayate::cuda
