// cuBLAS is loaded when the CUDA backend first asks for it (backend/cuda/cublas_api.h), so a
// process that never makes a CUDA backend does not map libcublas and libcublasLt. Needs no GPU.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#ifdef HAYATE_HAVE_CUDA
#include "backend/cuda/cublas_api.h"
#endif

namespace hayate {
namespace {

#ifdef HAYATE_HAVE_CUDA
bool mapped(const std::string& library) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find(library) != std::string::npos) return true;
  return false;
}
#endif

TEST(Cublas, LoadedOnFirstUseNotAtStart) {
#ifdef HAYATE_HAVE_CUDA
  EXPECT_FALSE(mapped("libcublas")) << "cuBLAS was mapped before any CUDA backend asked for it";
  const cuda::CublasApi& api = cuda::cublas();
  for (const void* fn :
       {reinterpret_cast<const void*>(api.create), reinterpret_cast<const void*>(api.destroy),
        reinterpret_cast<const void*>(api.set_stream), reinterpret_cast<const void*>(api.set_workspace),
        reinterpret_cast<const void*>(api.sgemm), reinterpret_cast<const void*>(api.gemm_ex),
        reinterpret_cast<const void*>(api.status_name), reinterpret_cast<const void*>(api.status_string)})
    EXPECT_NE(fn, nullptr);
  EXPECT_STREQ(api.status_name(CUBLAS_STATUS_NOT_INITIALIZED), "CUBLAS_STATUS_NOT_INITIALIZED");
  EXPECT_TRUE(mapped("libcublas"));
  EXPECT_EQ(&cuda::cublas(), &api) << "loaded once";
#else
  GTEST_SKIP() << "this build has no CUDA backend";
#endif
}

}  // namespace
}  // namespace hayate
