// Quantized weights (Q4_K, Q5_K, Q6_K, Q8_0) times a batch of tokens on the tensor cores, built
// to stream the weights near the copy rate (issue 12, third stage). The older batched kernel
// (matmul_batched.cu) decodes each 32-weight chunk in one thread into a shared f16 tile and waits
// on every load; here nothing of the weights goes through shared memory:
//
// - A warp owns 16 weight rows. In each 32-column chunk, lane (g = lane / 4, q = lane % 4) reads
//   the 8 consecutive weights [8q, 8q + 8) of rows g and g + 8 (for Q4_K: 8 code bytes, one
//   32-byte sector per row across the 4 lanes) and decodes them straight into the registers of
//   the mma's A operand. The mma sums over k, so any order of the 16 k of a step does, as long as
//   A and B use the same one: logical k {2q, 2q+1, 2q+8, 2q+9} of step s is physical column
//   8q + 4s + {0, 1, 2, 3}, which makes both operands contiguous runs.
// - The raw bytes of the next 256-column super-block are loaded into registers while the current
//   one is decoded and multiplied (one super-block of prefetch per warp, no barrier involved).
// - The tokens' f16 activations of a super-block go to shared memory by cp.async, double
//   buffered, one barrier per super-block; every warp of the block reuses them, and each lane
//   reads its B operand as one 16-byte load per 8 tokens (rows padded so those loads are free of
//   bank conflicts).
// - Blocks of 128 rows x 64 tokens; the token blocks of a row tile are neighbours in the grid
//   (they share the weights in L2); the columns are split over blocks when there are too few row
//   tiles to fill the chip, the partial sums added in a fixed order (deterministic).
//
// The weights are decoded in f16 arithmetic (mma_decode.cuh: two an instruction; the k-quants'
// sub-block scales and mins rounded to f16, Q8_0 exact), f32 accumulators: the same 3e-3 bound as
// every f16 path. (Sub-block scales below f16's normal range, 6e-5, would lose precision: weights
// under ~1e-3 in magnitude; real models' are larger.)
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma.cuh"
#include "backend/cuda/mma_decode.cuh"

namespace hayate::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kBM = 16 * kWarps;  // weight rows per block
constexpr int kBN = 64;           // tokens per block
constexpr int kSB = 256;          // columns per step (one k-quant super-block, eight Q8_0 blocks)
// Halves per token row in shared memory: 16-byte loads of 8 lanes (two rows, four 16-byte pieces)
// fall in distinct banks when a row is 16 words (mod 32) past the previous.
constexpr int kXPitch = kSB + 32;
constexpr int kStages = 2;
constexpr size_t kSmemBytes = sizeof(__half) * kStages * kBN * kXPitch;
constexpr int kMaxSplits = 16;

struct MmaArgs {
  const uint8_t* w;
  int64_t rows, cols, row_bytes;
  const __half* x;  // n_tokens x cols
  int64_t n_tokens;
  float* out;
  int64_t ldo;
  float* partial;  // splits x n_tokens x rows, when split
  const float* bias;
  int64_t sb_per_split;
};

// kMinBlocks: resident blocks per SM the registers are limited for (2: 128 a thread, with a
// little spilling; 1: no spills, half the warps to hide the loads' latency).
// kExact: decode_exact (f32 arithmetic, the older kernels' values) rather than decode (f16).
template <uint32_t T, int kMinBlocks, bool kExact>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks) matmul_mma(MmaArgs a) {
  using F = mma::Format<T>;
  extern __shared__ uint4 smem[];
  auto* xs = reinterpret_cast<__half*>(smem);  // [kStages][kBN][kXPitch]
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, q = lane % 4;
  const int64_t tok0 = static_cast<int64_t>(blockIdx.x) * kBN;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kBM + warp * 16;
  const int n_tok = static_cast<int>(a.n_tokens - tok0 < kBN ? a.n_tokens - tok0 : kBN);
  const int n_tiles = (n_tok + 7) / 8;
  const int64_t n_sb = a.cols / kSB;
  const int64_t sb0 = static_cast<int64_t>(blockIdx.z) * a.sb_per_split;
  const int64_t sb1 = sb0 + a.sb_per_split < n_sb ? sb0 + a.sb_per_split : n_sb;
  // Rows past the end read the last row (valid memory) and store nothing.
  const uint8_t* w_lo = a.w + (row0 + g < a.rows ? row0 + g : a.rows - 1) * a.row_bytes;
  const uint8_t* w_hi = a.w + (row0 + g + 8 < a.rows ? row0 + g + 8 : a.rows - 1) * a.row_bytes;

  // Activations of super-block sb into stage st: n_tiles * 8 token rows of 32 16-byte pieces
  // (zeros for the tokens past the end of the last tile).
  auto stage_x = [&](int64_t sb, int st) {
    for (int item = tid; item < n_tiles * 8 * (kSB / 8); item += kWarps * 32) {
      const int n = item / (kSB / 8), piece = item % (kSB / 8);
      const __half* src = a.x + (tok0 + (n < n_tok ? n : n_tok - 1)) * a.cols + sb * kSB + piece * 8;
      cp_async16(xs + (st * kBN + n) * kXPitch + piece * 8, src, n < n_tok ? 16 : 0);
    }
    cp_async_commit();
  };

  float acc[8][4];
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;

  // Two register sets that swap roles each step (a copy from one to the other would wait there for
  // the loads in flight).
  typename F::Raw set[2][2] = {};
  if (sb0 < sb1) {
    stage_x(sb0, 0);
    F::load(set[0][0], w_lo + sb0 * F::kBytes, q);
    F::load(set[0][1], w_hi + sb0 * F::kBytes, q);
  }
  auto step = [&](int64_t sb, const typename F::Raw& lo, const typename F::Raw& hi, typename F::Raw& next_lo,
                  typename F::Raw& next_hi) {
    const int st = static_cast<int>((sb - sb0) % 2);
    if (sb + 1 < sb1) {
      stage_x(sb + 1, st ^ 1);
      F::load(next_lo, w_lo + (sb + 1) * F::kBytes, q);
      F::load(next_hi, w_hi + (sb + 1) * F::kBytes, q);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const __half* xb = xs + st * kBN * kXPitch + g * kXPitch + 8 * q;
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      uint32_t wl[4], wh[4];
      if constexpr (kExact) {
        F::decode_exact(lo, c, q, wl);
        F::decode_exact(hi, c, q, wh);
      } else {
        F::decode(lo, c, q, wl);
        F::decode(hi, c, q, wh);
      }
      const uint32_t a0[4] = {wl[0], wh[0], wl[1], wh[1]}, a1[4] = {wl[2], wh[2], wl[3], wh[3]};
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        if (j < n_tiles) {
          const uint4 v = *reinterpret_cast<const uint4*>(xb + j * 8 * kXPitch + c * 32);
          const uint32_t b0[2] = {v.x, v.y}, b1[2] = {v.z, v.w};
          mma_f16(acc[j], a0, b0);
          mma_f16(acc[j], a1, b1);
        }
      }
    }
    __syncthreads();  // the stage is refilled next step
  };
  for (int64_t sb = sb0; sb < sb1; sb += 2) {
    step(sb, set[0][0], set[0][1], set[1][0], set[1][1]);
    if (sb + 1 < sb1) step(sb + 1, set[1][0], set[1][1], set[0][0], set[0][1]);
  }

  // acc[j][e]: row g (+8 for e >= 2), token 8j + 2q + e % 2.
  const bool split = gridDim.z > 1;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    if (j >= n_tiles) continue;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t row = row0 + g + (e >= 2 ? 8 : 0);
      const int n = j * 8 + 2 * q + e % 2;
      if (row >= a.rows || n >= n_tok) continue;
      const int64_t t = tok0 + n;
      if (split)
        a.partial[(static_cast<int64_t>(blockIdx.z) * a.n_tokens + t) * a.rows + row] = acc[j][e];
      else
        a.out[t * a.ldo + row] = acc[j][e] + (a.bias ? a.bias[row] : 0.0f);
    }
  }
}

template <uint32_t T, int kMinBlocks, bool kExact>
cudaError_t launch_blocks(const MmaArgs& a, const BatchedPlan& p, cudaStream_t s) {
  static const cudaError_t allowed = cudaFuncSetAttribute(
      matmul_mma<T, kMinBlocks, kExact>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmemBytes));
  if (allowed != cudaSuccess) return allowed;
  const dim3 grid(static_cast<unsigned>((a.n_tokens + kBN - 1) / kBN), static_cast<unsigned>((a.rows + kBM - 1) / kBM),
                  static_cast<unsigned>(p.splits));
  matmul_mma<T, kMinBlocks, kExact><<<grid, kWarps * 32, kSmemBytes, s>>>(a);
  return cudaGetLastError();
}

template <uint32_t T>
cudaError_t launch(const MmaArgs& a, const BatchedPlan& p, cudaStream_t s) {
  if (p.exact) return p.blocks_per_sm == 1 ? launch_blocks<T, 1, true>(a, p, s) : launch_blocks<T, 2, true>(a, p, s);
  return p.blocks_per_sm == 1 ? launch_blocks<T, 1, false>(a, p, s) : launch_blocks<T, 2, false>(a, p, s);
}

}  // namespace

bool matmul_mma_fits(const DevWeight& w) {
  int64_t sb_bytes = 0;
  switch (w.type) {
    case kQ4_K:
      sb_bytes = mma::Format<kQ4_K>::kBytes;
      break;
    case kQ5_K:
      sb_bytes = mma::Format<kQ5_K>::kBytes;
      break;
    case kQ6_K:
      sb_bytes = mma::Format<kQ6_K>::kBytes;
      break;
    case kQ8_0:
      sb_bytes = mma::Format<kQ8_0>::kBytes;
      break;
    default:
      return false;
  }
  // 4-byte multiples keep every row's 4-byte alignment pattern the same (ld8's one branch per
  // warp) and its word loads inside the row; Q4_K/Q5_K super-blocks are 16-byte multiples.
  return w.rows > 0 && w.cols > 0 && w.cols % kSB == 0 && w.row_bytes == w.cols / kSB * sb_bytes &&
         w.row_bytes % 4 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
}

BatchedPlan plan_mma(int64_t rows, int64_t cols, int64_t n_tokens, int blocks_per_sm) {
  BatchedPlan p;
  p.block_rows = kBM;
  p.blocks_per_sm = blocks_per_sm == 1 ? 1 : 2;
  const int64_t tiles = (rows + kBM - 1) / kBM * ((n_tokens + kBN - 1) / kBN), n_sb = std::max<int64_t>(1, cols / kSB);
  const int64_t want = (int64_t{p.blocks_per_sm} * sm_count() + tiles - 1) / tiles;
  const int64_t splits = std::clamp<int64_t>(want, 1, std::min<int64_t>(kMaxSplits, n_sb));
  p.steps_per_split = (n_sb + splits - 1) / splits;
  p.splits = static_cast<int>((n_sb + p.steps_per_split - 1) / p.steps_per_split);
  p.partial_floats = p.splits > 1 ? static_cast<size_t>(p.splits) * n_tokens * rows : 0;
  return p;
}

cudaError_t matmul_mma(const DevWeight& w, const void* x_half, int64_t n_tokens, float* out, int64_t ldo,
                       const float* bias, const BatchedPlan& plan, float* partial, cudaStream_t s) {
  if (n_tokens <= 0) return cudaSuccess;
  if (!matmul_mma_fits(w) || (plan.splits > 1 && !partial) || reinterpret_cast<uintptr_t>(x_half) % 16 != 0 ||
      (w.rows + kBM - 1) / kBM > 65535)
    return cudaErrorInvalidValue;
  const MmaArgs a{static_cast<const uint8_t*>(w.data),
                  w.rows,
                  w.cols,
                  w.row_bytes,
                  static_cast<const __half*>(x_half),
                  n_tokens,
                  out,
                  ldo,
                  partial,
                  bias,
                  plan.steps_per_split};
  cudaError_t e = cudaErrorInvalidValue;
  switch (w.type) {
    case kQ4_K:
      e = launch<kQ4_K>(a, plan, s);
      break;
    case kQ5_K:
      e = launch<kQ5_K>(a, plan, s);
      break;
    case kQ6_K:
      e = launch<kQ6_K>(a, plan, s);
      break;
    case kQ8_0:
      e = launch<kQ8_0>(a, plan, s);
      break;
    default:
      break;
  }
  if (e != cudaSuccess || plan.splits == 1) return e;
  return sum_splits(partial, plan.splits, n_tokens, w.rows, out, ldo, bias, s);
}

}  // namespace hayate::cuda
