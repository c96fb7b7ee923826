// Quantized weights times a batch of tokens (more than the mat-vec's 8): each block of 128
// threads takes 64 weight rows, dequantizes them 128 columns at a time straight into shared
// memory as f16 (the same values the cuBLAS path's f16 tiles hold) and multiplies them with up to
// 64 tokens' f16 activations on the tensor cores (mma.sync m16n8k16, f32 accumulators). So each
// weight block is read and decoded once per 64 tokens, where the cuBLAS path dequantized the whole
// matrix to a 2-byte-per-weight tile in device memory first and read it back.
//
// Few row tiles (a 4096-row matrix is 64 of them) would leave most of the 132 SMs idle, so the
// columns are split among up to kMaxSplits blocks whose partial sums a second kernel adds in a
// fixed order (deterministic, no atomics); more than 64 tokens run as further grid layers.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma.cuh"

namespace hayate::cuda {
namespace {

constexpr int kBN = 64;          // tokens per block
constexpr int kBK = 128;         // columns per step: 4 chunks of 32
constexpr int kPitch = kBK + 8;  // halves per shared row: ldmatrix rows fall in distinct banks
// Weight rows per block: 16 per warp. 128 rows (8 warps) by default: each block reads the tokens'
// activations for its columns from L2, so the fewer row tiles the less of that traffic, which at
// 64 tokens and 64-row tiles would outweigh the weights. HAYATE_CUDA_BATCHED_BM=64 picks 4 warps.
constexpr int kMaxSplits = 16;

// Shared memory: the weights (kBM x kPitch halves, row-major), then the activations (kBN x kPitch,
// one token per row: [n][k] is the mma's column-major B).
template <int kBM>
constexpr size_t tiles_bytes() {
  return static_cast<size_t>(kBM + kBN) * kPitch * sizeof(__half);
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const __half* p) {
  const auto a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

__device__ __forceinline__ void ldmatrix_x2(uint32_t r[2], const __half* p) {
  const auto a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(a));
}

constexpr int kPrefetchSteps = 2;

// Asks L2 for [lo, hi) rounded inward to 16 bytes (a hint: nothing waits for it).
__device__ __forceinline__ void prefetch_l2(const uint8_t* lo, const uint8_t* hi) {
  const uintptr_t a = (reinterpret_cast<uintptr_t>(lo) + 15) & ~uintptr_t{15};
  const uintptr_t b = reinterpret_cast<uintptr_t>(hi) & ~uintptr_t{15};
  if (b > a)
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(a), "r"(static_cast<uint32_t>(b - a)) : "memory");
}

struct BatchedArgs {
  const uint8_t* w;
  int64_t rows, cols, row_bytes;
  const __half* x;  // n_tokens x cols f16, cols apart
  int64_t n_tokens;
  float* out;  // n_tokens x ldo (one split) or the partial sums
  int64_t ldo;
  float* partial;  // splits x n_tokens x rows, when splits > 1
  const float* bias;
  int64_t steps_per_split;  // kBK-column steps per split
  bool prefetch;
};

template <uint32_t T, int kWarps>
__global__ void __launch_bounds__(kWarps * 32, 16 / kWarps) matmul_batched(BatchedArgs a) {
  constexpr int kBM = 16 * kWarps, kThreads = 32 * kWarps;
  extern __shared__ uint4 smem[];
  auto tile_a = reinterpret_cast<__half(*)[kPitch]>(smem);
  auto tile_b = reinterpret_cast<__half(*)[kPitch]>(reinterpret_cast<__half*>(smem) + kBM * kPitch);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t tok0 = static_cast<int64_t>(blockIdx.z) * kBN;
  const int n_tok = static_cast<int>(a.n_tokens - tok0 < kBN ? a.n_tokens - tok0 : kBN);
  const int n_tiles = (n_tok + 7) / 8;
  const int64_t n_steps = (a.cols + kBK - 1) / kBK;
  const int64_t step0 = static_cast<int64_t>(blockIdx.y) * a.steps_per_split;
  const int64_t step1 = step0 + a.steps_per_split < n_steps ? step0 + a.steps_per_split : n_steps;
  const int64_t n_chunks = a.cols / 32;

  float acc[8][4];
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;

  using Tr = QuantTraits<T>;
  constexpr int64_t kBlockWeights = 32 * Tr::kChunks, kBlockBytes = sizeof(typename Tr::Block);
  for (int64_t step = step0; step < step1; ++step) {
    const int64_t k0 = step * kBK;
    // One thread per row: the blocks of the step kPrefetchSteps ahead (within this split).
    if (a.prefetch && tid < kBM && step + kPrefetchSteps < step1 && row0 + tid < a.rows) {
      const int64_t c0 = (step + kPrefetchSteps) * kBK, c1 = c0 + kBK < a.cols ? c0 + kBK : a.cols;
      const uint8_t* row = a.w + (row0 + tid) * a.row_bytes;
      prefetch_l2(row + c0 / kBlockWeights * kBlockBytes, row + (c1 + kBlockWeights - 1) / kBlockWeights * kBlockBytes);
    }
    // Weights: kBM rows x 4 chunks, two chunks per thread (a row's four chunks on neighbouring
    // threads, so their loads fall together).
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int item = tid + i * kThreads;
      const int r = item / 4, c = item % 4;
      const int64_t chunk = k0 / 32 + c;
      uint4* dst = reinterpret_cast<uint4*>(&tile_a[r][c * 32]);
      if (row0 + r < a.rows && chunk < n_chunks) {
        float v[32];
        dequant_row_chunk<T>(a.w + (row0 + r) * a.row_bytes, chunk, v);
#pragma unroll
        for (int q = 0; q < 4; ++q)
          dst[q] = make_uint4(pack_half2(v[8 * q], v[8 * q + 1]), pack_half2(v[8 * q + 2], v[8 * q + 3]),
                              pack_half2(v[8 * q + 4], v[8 * q + 5]), pack_half2(v[8 * q + 6], v[8 * q + 7]));
      } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) dst[q] = make_uint4(0, 0, 0, 0);
      }
    }
    // Activations: n_tok rows of 128 halves as 16-byte pieces (zeros past the end).
    for (int item = tid; item < n_tiles * 8 * (kBK / 8); item += kThreads) {
      const int n = item / (kBK / 8), piece = item % (kBK / 8);
      const int64_t col = k0 + piece * 8;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (n < n_tok && col < a.cols) v = *reinterpret_cast<const uint4*>(a.x + (tok0 + n) * a.cols + col);
      *reinterpret_cast<uint4*>(&tile_b[n][piece * 8]) = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      uint32_t af[4];
      ldmatrix_x4(af, &tile_a[warp * 16 + (lane % 8) + 8 * ((lane / 8) % 2)][kk + 8 * (lane / 16)]);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        if (j < n_tiles) {
          uint32_t bf[2];
          ldmatrix_x2(bf, &tile_b[j * 8 + (lane % 8)][kk + 8 * ((lane / 8) % 2)]);
          mma_f16(acc[j], af, bf);
        }
      }
    }
    __syncthreads();
  }

  // acc[j][e]: row warp*16 + lane/4 (+8 for e >= 2), token 8j + 2*(lane%4) + e%2.
  const bool split = gridDim.y > 1;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    if (j >= n_tiles) continue;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t row = row0 + warp * 16 + lane / 4 + (e >= 2 ? 8 : 0);
      const int n = j * 8 + 2 * (lane % 4) + e % 2;
      if (row >= a.rows || n >= n_tok) continue;
      const int64_t t = tok0 + n;
      if (split)
        a.partial[(static_cast<int64_t>(blockIdx.y) * a.n_tokens + t) * a.rows + row] = acc[j][e];
      else
        a.out[t * a.ldo + row] = acc[j][e] + (a.bias ? a.bias[row] : 0.0f);
    }
  }
}

// out[t][row] = sum over splits in order (+ bias).
__global__ void sum_splits_kernel(const float* partial, int splits, int64_t n_tokens, int64_t rows, float* out,
                                  int64_t ldo, const float* bias) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_tokens * rows) return;
  float s = 0.0f;
  for (int k = 0; k < splits; ++k) s += partial[static_cast<int64_t>(k) * n_tokens * rows + i];
  const int64_t t = i / rows, row = i % rows;
  out[t * ldo + row] = s + (bias ? bias[row] : 0.0f);
}

}  // namespace

int sm_count() {
  static const int n = [] {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess) {
      (void)cudaGetLastError();
      v = 0;
    }
    return v > 0 ? v : 1;
  }();
  return n;
}

cudaError_t sum_splits(const float* partial, int splits, int64_t n_tokens, int64_t rows, float* out, int64_t ldo,
                       const float* bias, cudaStream_t s) {
  const int64_t n = n_tokens * rows;
  sum_splits_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, s>>>(partial, splits, n_tokens, rows, out, ldo,
                                                                           bias);
  return cudaGetLastError();
}

BatchedPlan plan_batched(int64_t rows, int64_t cols, int64_t n_tokens, int block_rows) {
  BatchedPlan p;
  p.block_rows = block_rows == 64 ? 64 : 128;
  const int64_t m_tiles = (rows + p.block_rows - 1) / p.block_rows, n_blocks = (n_tokens + kBN - 1) / kBN;
  const int64_t n_steps = (cols + kBK - 1) / kBK;
  // Aim at two blocks per SM, each split keeping at least two column steps.
  const int64_t want = (2 * sm_count() + m_tiles * n_blocks - 1) / (m_tiles * n_blocks);
  const int64_t splits = std::clamp<int64_t>(want, 1, std::min<int64_t>(kMaxSplits, std::max<int64_t>(1, n_steps / 2)));
  p.steps_per_split = (n_steps + splits - 1) / splits;
  p.splits = static_cast<int>((n_steps + p.steps_per_split - 1) / p.steps_per_split);
  p.partial_floats = p.splits > 1 ? static_cast<size_t>(p.splits) * n_tokens * rows : 0;
  return p;
}

template <uint32_t T, int kWarps>
static cudaError_t launch_batched_warps(const BatchedArgs& a, const BatchedPlan& p, cudaStream_t s) {
  constexpr int kBM = 16 * kWarps;
  constexpr size_t kSmem = tiles_bytes<kBM>();
  static const cudaError_t allowed = cudaFuncSetAttribute(
      matmul_batched<T, kWarps>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem));
  if (allowed != cudaSuccess) return allowed;
  const dim3 grid(static_cast<unsigned>((a.rows + kBM - 1) / kBM), static_cast<unsigned>(p.splits),
                  static_cast<unsigned>((a.n_tokens + kBN - 1) / kBN));
  matmul_batched<T, kWarps><<<grid, kWarps * 32, kSmem, s>>>(a);
  return cudaGetLastError();
}

template <uint32_t T>
static cudaError_t launch_batched(const BatchedArgs& a, const BatchedPlan& p, cudaStream_t s) {
  return p.block_rows == 64 ? launch_batched_warps<T, 4>(a, p, s) : launch_batched_warps<T, 8>(a, p, s);
}

cudaError_t matmul_batched(const DevWeight& w, const void* x_half, int64_t n_tokens, float* out, int64_t ldo,
                           const float* bias, const BatchedPlan& plan, float* partial, cudaStream_t s) {
  if (n_tokens <= 0 || w.rows <= 0) return cudaSuccess;
  if (w.cols % 32 != 0 || (plan.splits > 1 && !partial)) return cudaErrorInvalidValue;
  BatchedArgs a{static_cast<const uint8_t*>(w.data),
                w.rows,
                w.cols,
                w.row_bytes,
                static_cast<const __half*>(x_half),
                n_tokens,
                out,
                ldo,
                partial,
                bias,
                plan.steps_per_split,
                plan.prefetch};
  cudaError_t e = cudaErrorInvalidValue;
  switch (w.type) {
#define HAYATE_CASE(T)                 \
  case T:                              \
    e = launch_batched<T>(a, plan, s); \
    break;
    HAYATE_CUDA_QUANT_TYPES(HAYATE_CASE)
#undef HAYATE_CASE
    default:
      return cudaErrorInvalidValue;
  }
  if (e != cudaSuccess || plan.splits == 1) return e;
  return sum_splits(partial, plan.splits, n_tokens, w.rows, out, ldo, bias, s);
}

}  // namespace hayate::cuda
