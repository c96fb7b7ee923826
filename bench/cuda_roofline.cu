// The two ceilings the CUDA backend is measured against (docs/cuda.md): device-to-device copy
// bandwidth (bytes read + written) and the cuBLAS bf16 GEMM rate, each the median of timed
// repetitions after a warm-up, on random data. Prints one JSON object.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "cuda_roofline: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "cuda_roofline: %s: %s\n", what, cublasGetStatusString(s));
    std::exit(1);
  }
}

__global__ void fill_bf16(__nv_bfloat16* p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = __float2bfloat16((static_cast<float>(h & 0xffff) / 65535.0f - 0.5f) * 2.0f);
  }
}

template <typename F>
double median_ms(int reps, F&& f) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  f();  // warm-up
  check(cudaDeviceSynchronize(), "warm-up");
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    check(cudaEventRecord(a), "cudaEventRecord");
    f();
    check(cudaEventRecord(b), "cudaEventRecord");
    check(cudaEventSynchronize(b), "cudaEventSynchronize");
    float t = 0;
    check(cudaEventElapsedTime(&t, a, b), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double gemm_tflops(cublasHandle_t h, int m, int n, int k) {
  __nv_bfloat16 *A, *B, *C;
  check(cudaMalloc(&A, size_t{2} * m * k), "cudaMalloc A");
  check(cudaMalloc(&B, size_t{2} * k * n), "cudaMalloc B");
  check(cudaMalloc(&C, size_t{2} * m * n), "cudaMalloc C");
  fill_bf16<<<1024, 256>>>(A, size_t{1} * m * k, 1);
  fill_bf16<<<1024, 256>>>(B, size_t{1} * k * n, 2);
  check(cudaGetLastError(), "fill");
  const float one = 1.0f, zero = 0.0f;
  const double ms = median_ms(20, [&] {
    check(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, A, CUDA_R_16BF, k, B, CUDA_R_16BF, k, &zero, C,
                       CUDA_R_16BF, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx");
  });
  check(cudaFree(A), "cudaFree");
  check(cudaFree(B), "cudaFree");
  check(cudaFree(C), "cudaFree");
  return 2.0 * m * n * k / (ms * 1e-3) / 1e12;
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const size_t bytes = size_t{2} << 30;  // far over the L2
  void *src, *dst;
  check(cudaMalloc(&src, bytes), "cudaMalloc src");
  check(cudaMalloc(&dst, bytes), "cudaMalloc dst");
  fill_bf16<<<1024, 256>>>(static_cast<__nv_bfloat16*>(src), bytes / 2, 3);
  check(cudaGetLastError(), "fill");
  const double copy_ms =
      median_ms(20, [&] { check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpyAsync"); });
  const double gbs = 2.0 * static_cast<double>(bytes) / (copy_ms * 1e-3) / 1e9;
  check(cudaFree(src), "cudaFree");
  check(cudaFree(dst), "cudaFree");

  cublasHandle_t h;
  check(cublasCreate(&h), "cublasCreate");
  const double square = gemm_tflops(h, 8192, 8192, 8192);
  const double ffn = gemm_tflops(h, 14336, 512, 4096);  // an 8B model's FFN up/gate over a 512-token prompt
  check(cublasDestroy(h), "cublasDestroy");
  std::printf(
      "{\"device\": \"%s\", \"copy_gb_per_s\": %.1f, \"bf16_gemm_tflops_8192\": %.1f, "
      "\"bf16_gemm_tflops_14336x512x4096\": %.1f}\n",
      prop.name, gbs, square, ffn);
  return 0;
}
