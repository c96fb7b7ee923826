// Decode mat-vec for the formats of a Q4_K_M model (Q4_K, Q6_K) and Q8_0, 1..8 tokens, built to
// stream the weights at the copy rate (issue 12, stage 2). What the older kernels of matvec.cu
// did not: every load of a warp is contiguous (a lane takes 4 or 8 consecutive code bytes, its
// neighbours the next ones, so the warp reads whole runs of a block and the activations it needs
// in 128-byte lines), activations come straight from global memory (L1/L2: no staging copy and
// barrier per block), a block's scales are decoded once per lane from one 16-byte header load,
// each code byte becomes an exact float with one byte permute and one add, R rows share each
// activation load, and every token of the step (up to 8) reuses the decoded weights. Sums are
// f32 as in the reference, so the mat-vec's 1e-5 bound holds.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/kernels.h"
#include "backend/cuda/matvec_fast.cuh"

namespace hayate::cuda {
namespace {

using fast::Fast;

constexpr int kWarps = 8;  // warps per thread block

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// R consecutive rows to a group of `parts` warps (kWarps / parts groups a block), NT tokens; a
// warp's lanes take kPerIter blocks at a time, the parts of a group every parts-th round of them.
// The parts' sums meet in shared memory and are added in part order: deterministic.
template <uint32_t T, int NT, int R, int MinBlocks = 1>
__global__ void __launch_bounds__(kWarps * 32, MinBlocks)
    matvec_fast(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x, int64_t ldx,
                float* out, int64_t ldo, const float* bias, int parts) {
  __shared__ float partial[kWarps][R * NT];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int part = warp % parts;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * (kWarps / parts) + warp / parts) * R;
  const bool active = row0 < rows;
  float acc[R][NT];
  if (active) fast::lane_sums<T, NT, R>(w, rows, cols, row_bytes, x, ldx, row0, lane, acc, part, parts);
  if (parts == 1) {
    if (!active) return;  // the whole warp
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const float total = warp_sum(acc[r][t]);
        if (lane == 0 && row0 + r < rows) out[t * ldo + row0 + r] = total + (bias ? bias[row0 + r] : 0.0f);
      }
    return;
  }
  if (active) {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < NT; ++t) {
        const float total = warp_sum(acc[r][t]);
        if (lane == 0) partial[warp][r * NT + t] = total;
      }
  }
  __syncthreads();
  if (!active || part != 0) return;
  for (int i = lane; i < R * NT; i += 32) {
    const int r = i / NT, t = i % NT;
    if (row0 + r >= rows) continue;
    float total = partial[warp][i];
    for (int p = 1; p < parts; ++p) total += partial[warp + p][i];
    out[t * ldo + row0 + r] = total + (bias ? bias[row0 + r] : 0.0f);
  }
}

// The feed-forward's gate and up products and SwiGLU in one pass: a warp takes row `row` of both
// matrices (the activations loaded once per block of both), and writes silu(gate) * up, as
// swiglu_kernel computes it, so neither product goes through memory.
template <uint32_t T, int NT>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_fast_swiglu(const uint8_t* wg, const uint8_t* wu, int64_t rows, int64_t cols, int64_t row_bytes,
                       const float* x, int64_t ldx, float* out, int64_t ldo) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp
  float g[1][NT], u[1][NT];
  fast::lane_sums<T, NT, 1>(wg, rows, cols, row_bytes, x, ldx, row, lane, g);
  fast::lane_sums<T, NT, 1>(wu, rows, cols, row_bytes, x, ldx, row, lane, u);
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const float gs = warp_sum(g[0][t]), us = warp_sum(u[0][t]);
    if (lane == 0) out[t * ldo + row] = gs / (1.0f + expf(-gs)) * us;
  }
}

template <uint32_t T, int NT>
cudaError_t launch_swiglu(const DevWeight& g, const DevWeight& u, const float* x, int64_t ldx, float* out, int64_t ldo,
                          cudaStream_t s) {
  const auto blocks = static_cast<unsigned>((g.rows + kWarps - 1) / kWarps);
  matvec_fast_swiglu<T, NT><<<blocks, kWarps * 32, 0, s>>>(static_cast<const uint8_t*>(g.data),
                                                           static_cast<const uint8_t*>(u.data), g.rows, g.cols,
                                                           g.row_bytes, x, ldx, out, ldo);
  return cudaGetLastError();
}

template <uint32_t T>
cudaError_t launch_swiglu_type(const DevWeight& g, const DevWeight& u, const float* x, int64_t ldx, int64_t n_tokens,
                               float* out, int64_t ldo, cudaStream_t s) {
  using Launch =
      cudaError_t (*)(const DevWeight&, const DevWeight&, const float*, int64_t, float*, int64_t, cudaStream_t);
  static constexpr Launch kByTokens[] = {launch_swiglu<T, 1>, launch_swiglu<T, 2>, launch_swiglu<T, 3>,
                                         launch_swiglu<T, 4>, launch_swiglu<T, 5>, launch_swiglu<T, 6>,
                                         launch_swiglu<T, 7>, launch_swiglu<T, 8>};
  return kByTokens[n_tokens - 1](g, u, x, ldx, out, ldo, s);
}

// Rows per warp: R rows share each activation load (1..2 tokens: two rows of matrices of 4096 rows
// or more; 3..8 tokens, where the activation loads outweigh the weights', four).
// HAYATE_CUDA_MATVEC_ROWS=1|2|4 forces it (read per launch: the tests and the benchmark set it).
int rows_per_warp(int64_t rows, int64_t n_tokens) {
  if (const char* v = std::getenv("HAYATE_CUDA_MATVEC_ROWS"); v && *v) {
    const int forced = std::atoi(v);
    if (forced == 1 || forced == 2 || forced == 4) return forced;
  }
  if (rows < 4096) return 1;
  return n_tokens <= 2 ? 2 : 4;
}

// The one-token Q4_K kernels take 73-75 registers: 3 blocks (24 warps) an SM, so a quarter of
// the loads in flight that 4 blocks (at most 64 registers) would give the large matrices (gate,
// up). HAYATE_CUDA_MATVEC_OCC=4 builds them for 4 blocks an SM, to measure (stage 6).
bool four_blocks_an_sm() {
  const char* v = std::getenv("HAYATE_CUDA_MATVEC_OCC");
  return v && std::strcmp(v, "4") == 0;
}

// Warps to a row: fast::split_parts, or HAYATE_CUDA_MATVEC_PARTS=1|2|4|8 (read per launch: the
// tests and the benchmark set it; 1 is the kernel before the split).
template <uint32_t T, int NT, int R>
int parts_per_row(int64_t rows, int64_t cols) {
  if (const char* v = std::getenv("HAYATE_CUDA_MATVEC_PARTS"); v && *v) {
    const int forced = std::atoi(v);
    if (forced == 1 || forced == 2 || forced == 4 || forced == 8) return forced;
  }
  return fast::split_parts<T, NT, R>(rows, cols);
}

template <uint32_t T, int NT, int R>
cudaError_t launch(const DevWeight& w, const float* x, int64_t ldx, float* out, int64_t ldo, const float* bias,
                   cudaStream_t s) {
  const int parts = parts_per_row<T, NT, R>(w.rows, w.cols);
  const int64_t groups = (w.rows + R - 1) / R, per_block = kWarps / parts;
  const auto blocks = static_cast<unsigned>((groups + per_block - 1) / per_block);
  const auto* data = static_cast<const uint8_t*>(w.data);
  if constexpr (T == kQ4_K && NT == 1 && R <= 2) {
    if (four_blocks_an_sm())
      matvec_fast<T, NT, R, 4>
          <<<blocks, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, x, ldx, out, ldo, bias, parts);
    else
      matvec_fast<T, NT, R>
          <<<blocks, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, x, ldx, out, ldo, bias, parts);
  } else {
    matvec_fast<T, NT, R>
        <<<blocks, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, x, ldx, out, ldo, bias, parts);
  }
  return cudaGetLastError();
}

template <uint32_t T, int R>
cudaError_t launch_rows(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out, int64_t ldo,
                        const float* bias, cudaStream_t s) {
  using Launch = cudaError_t (*)(const DevWeight&, const float*, int64_t, float*, int64_t, const float*, cudaStream_t);
  static constexpr Launch kByTokens[] = {launch<T, 1, R>, launch<T, 2, R>, launch<T, 3, R>, launch<T, 4, R>,
                                         launch<T, 5, R>, launch<T, 6, R>, launch<T, 7, R>, launch<T, 8, R>};
  return kByTokens[n_tokens - 1](w, x, ldx, out, ldo, bias, s);
}

template <uint32_t T>
cudaError_t launch_type(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out, int64_t ldo,
                        const float* bias, cudaStream_t s) {
  switch (rows_per_warp(w.rows, n_tokens)) {
    case 4:
      return launch_rows<T, 4>(w, x, ldx, n_tokens, out, ldo, bias, s);
    case 2:
      return launch_rows<T, 2>(w, x, ldx, n_tokens, out, ldo, bias, s);
    default:
      return launch_rows<T, 1>(w, x, ldx, n_tokens, out, ldo, bias, s);
  }
}

}  // namespace

bool matvec_fast_fits(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens) {
  if (n_tokens < 1 || n_tokens > kMatvecFastMaxTokens) return false;
  if (w.type != kQ4_K && w.type != kQ6_K && w.type != kQ8_0) return false;
  // 16-byte activation loads; Q4_K's 16-byte header loads need 16-byte aligned rows (144-byte
  // blocks: so they are when the data is), the others 2-byte ones (their rows have even sizes).
  return reinterpret_cast<uintptr_t>(x) % 16 == 0 && ldx % 4 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0 &&
         w.row_bytes % (w.type == kQ4_K ? 16 : 2) == 0;
}

cudaError_t matvec_fast(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out, int64_t ldo,
                        const float* bias, cudaStream_t s) {
  if (n_tokens <= 0 || w.rows <= 0) return cudaSuccess;
  if (!matvec_fast_fits(w, x, ldx, n_tokens)) return cudaErrorInvalidValue;
  switch (w.type) {
    case kQ4_K:
      return launch_type<kQ4_K>(w, x, ldx, n_tokens, out, ldo, bias, s);
    case kQ6_K:
      return launch_type<kQ6_K>(w, x, ldx, n_tokens, out, ldo, bias, s);
    default:
      return launch_type<kQ8_0>(w, x, ldx, n_tokens, out, ldo, bias, s);
  }
}

bool matvec_fast_swiglu_fits(const DevWeight& gate, const DevWeight& up, const float* x, int64_t ldx,
                             int64_t n_tokens) {
  return gate.type == up.type && gate.rows == up.rows && gate.cols == up.cols && gate.row_bytes == up.row_bytes &&
         matvec_fast_fits(gate, x, ldx, n_tokens) && matvec_fast_fits(up, x, ldx, n_tokens);
}

cudaError_t matvec_fast_swiglu(const DevWeight& gate, const DevWeight& up, const float* x, int64_t ldx,
                               int64_t n_tokens, float* out, int64_t ldo, cudaStream_t s) {
  if (n_tokens <= 0 || gate.rows <= 0) return cudaSuccess;
  if (!matvec_fast_swiglu_fits(gate, up, x, ldx, n_tokens)) return cudaErrorInvalidValue;
  switch (gate.type) {
    case kQ4_K:
      return launch_swiglu_type<kQ4_K>(gate, up, x, ldx, n_tokens, out, ldo, s);
    case kQ6_K:
      return launch_swiglu_type<kQ6_K>(gate, up, x, ldx, n_tokens, out, ldo, s);
    default:
      return launch_swiglu_type<kQ8_0>(gate, up, x, ldx, n_tokens, out, ldo, s);
  }
}

}  // namespace hayate::cuda
