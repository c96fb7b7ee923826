// Matrix-vector products for decode (few tokens): one warp per output row, each lane taking
// 32-element chunks of the row in turn, dequantized in registers and dotted with the f32
// activations; then weight -> f16/bf16 dequantization for the cuBLAS path of prompt batches.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"

namespace hayate::cuda {
namespace {

constexpr int kWarps = kMatvecWarps;  // rows per block

unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ void write_out(float sum, int64_t row, int64_t t, float* out, int64_t ldo,
                                          const float* bias) {
  out[t * ldo + row] = sum + (bias ? bias[row] : 0.0f);
}

// Each lane dots its own 32-element chunk, so a warp's activation loads are 128 bytes apart: read
// straight from global memory every float4 load touches 32 cache lines, which held Q4_K_M decode
// of the 8B shape to 9% of the copy bandwidth on the H200. So a block first copies the token's
// activations to shared memory, 36 floats a chunk: neighbouring lanes' 16-byte loads then fall
// in different banks. A block keeps them for many rows (a grid-stride loop over rows).
constexpr int kChunkPitch = 36;

// Up to kMaxGroup tokens share a block (blockIdx.y picks the group): each chunk of weights is
// dequantized once and dotted with every token of the group, so 2..8 tokens read the weights once
// (per group) rather than once per token. Each token's sum runs in the same order as alone.
constexpr int kMaxGroup = 8;

template <uint32_t T, bool kShared>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_quant(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x, int64_t ldx,
                 float* out, int64_t ldo, const float* bias, int64_t n_tokens, int group) {
  extern __shared__ float4 shared_x[];
  const int lane = threadIdx.x % 32;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * group;
  const int nt = static_cast<int>(n_tokens - t0 < group ? n_tokens - t0 : group);
  const int64_t n_chunks = cols / 32;
  const int64_t token_floats = kShared ? n_chunks * kChunkPitch : ldx;  // one token's staged activations
  if constexpr (kShared) {
    for (int tt = 0; tt < nt; ++tt) {
      const float4* src = reinterpret_cast<const float4*>(x + (t0 + tt) * ldx);
      float4* dst = shared_x + tt * (token_floats / 4);
      for (int64_t i = threadIdx.x; i < cols / 4; i += blockDim.x) dst[(i / 8) * (kChunkPitch / 4) + i % 8] = src[i];
    }
    __syncthreads();
  }
  const float* xv = kShared ? reinterpret_cast<const float*>(shared_x) : x + t0 * ldx;
  constexpr int kPitch = kShared ? kChunkPitch : 32;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarps) {  // whole warps move together
    const uint8_t* wrow = w + row * row_bytes;
    float sum[kMaxGroup];
#pragma unroll
    for (int tt = 0; tt < kMaxGroup; ++tt) sum[tt] = 0.0f;
    for (int64_t k = lane; k < n_chunks; k += 32) {
      float v[32];
      dequant_row_chunk<T>(wrow, k, v);
#pragma unroll
      for (int tt = 0; tt < kMaxGroup; ++tt) {
        if (tt >= nt) break;
        const float4* x4 = reinterpret_cast<const float4*>(xv + tt * token_floats + k * kPitch);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const float4 a = x4[i];
          sum[tt] += v[4 * i] * a.x + v[4 * i + 1] * a.y + v[4 * i + 2] * a.z + v[4 * i + 3] * a.w;
        }
      }
    }
#pragma unroll
    for (int tt = 0; tt < kMaxGroup; ++tt) {
      if (tt >= nt) break;
      const float total = warp_sum(sum[tt]);
      if (lane == 0) write_out(total, row, t0 + tt, out, ldo, bias);
    }
  }
}

// Q4_K rows (most of a Q4_K_M model) get a kernel of their own: a lane takes one 32-byte run of
// nibbles, which holds two chunks (low and high halves), so no byte is loaded twice, and dots the
// raw codes with the activations before scaling: sum((s*q - m) * x) = s*sum(q*x) - m*sum(x), with
// each chunk's sum(x) computed once per block. Three instructions a weight instead of six.
__device__ __forceinline__ float nibble(uint32_t word, int shift) {
  return __uint_as_float(0x4B000000u | ((word >> shift) & 0x0Fu)) - 8388608.0f;  // exact for 0..15
}

__global__ void __launch_bounds__(kWarps * 32)
    matvec_q4k(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x, int64_t ldx, float* out,
               int64_t ldo, const float* bias, int64_t n_tokens, int group) {
  extern __shared__ float4 shared_x[];
  const int lane = threadIdx.x % 32;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * group;
  const int nt = static_cast<int>(n_tokens - t0 < group ? n_tokens - t0 : group);
  const int64_t n_chunks = cols / 32;
  // Per token: its activations (36 floats a chunk), then each chunk's sum.
  const int64_t token_floats = n_chunks * (kChunkPitch + 1);
  for (int tt = 0; tt < nt; ++tt) {
    const float4* src = reinterpret_cast<const float4*>(x + (t0 + tt) * ldx);
    float4* dst = reinterpret_cast<float4*>(reinterpret_cast<float*>(shared_x) + tt * token_floats);
    for (int64_t i = threadIdx.x; i < cols / 4; i += blockDim.x) dst[(i / 8) * (kChunkPitch / 4) + i % 8] = src[i];
  }
  __syncthreads();
  const float* xs = reinterpret_cast<const float*>(shared_x);
  for (int tt = 0; tt < nt; ++tt) {
    const float* xv = xs + tt * token_floats;
    float* xsum = reinterpret_cast<float*>(shared_x) + tt * token_floats + n_chunks * kChunkPitch;
    for (int64_t k = threadIdx.x; k < n_chunks; k += blockDim.x) {
      float s = 0.0f;
#pragma unroll
      for (int l = 0; l < 32; ++l) s += xv[k * kChunkPitch + l];
      xsum[k] = s;
    }
  }
  __syncthreads();
  const int64_t n_tasks = cols / 64;  // 32-byte runs of nibbles: 4 per super-block
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarps) {
    const auto* blocks = reinterpret_cast<const quant::BlockQ4_K*>(w + row * row_bytes);
    float sum[kMaxGroup];
#pragma unroll
    for (int tt = 0; tt < kMaxGroup; ++tt) sum[tt] = 0.0f;
    for (int64_t task = lane; task < n_tasks; task += 32) {
      const quant::BlockQ4_K& b = blocks[task / 4];
      const int j = static_cast<int>(task % 4);
      const uint4 q0 = reinterpret_cast<const uint4*>(b.qs + 32 * j)[0];
      const uint4 q1 = reinterpret_cast<const uint4*>(b.qs + 32 * j)[1];
      const uint32_t words[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
      const int64_t c0 = (task / 4) * 8 + 2 * j;  // the low nibbles' chunk; the high ones' is c0 + 1
      int sc0, m0, sc1, m1;
      k4_scale_min_dev(b.scales, 2 * j, &sc0, &m0);
      k4_scale_min_dev(b.scales, 2 * j + 1, &sc1, &m1);
      const float d = half_bits(b.d), dmin = half_bits(b.dmin);
#pragma unroll
      for (int tt = 0; tt < kMaxGroup; ++tt) {
        if (tt >= nt) break;
        const float* xv = xs + tt * token_floats;
        const float* xsum = xv + n_chunks * kChunkPitch;
        const float4* x0 = reinterpret_cast<const float4*>(xv + c0 * kChunkPitch);
        const float4* x1 = reinterpret_cast<const float4*>(xv + (c0 + 1) * kChunkPitch);
        float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const float4 a = x0[i], h = x1[i];
          s0 += nibble(words[i], 0) * a.x + nibble(words[i], 8) * a.y + nibble(words[i], 16) * a.z +
                nibble(words[i], 24) * a.w;
          s1 += nibble(words[i], 4) * h.x + nibble(words[i], 12) * h.y + nibble(words[i], 20) * h.z +
                nibble(words[i], 28) * h.w;
        }
        sum[tt] += d * static_cast<float>(sc0) * s0 - dmin * static_cast<float>(m0) * xsum[c0] +
                   d * static_cast<float>(sc1) * s1 - dmin * static_cast<float>(m1) * xsum[c0 + 1];
      }
    }
#pragma unroll
    for (int tt = 0; tt < kMaxGroup; ++tt) {
      if (tt >= nt) break;
      const float total = warp_sum(sum[tt]);
      if (lane == 0) write_out(total, row, t0 + tt, out, ldo, bias);
    }
  }
}

struct DeviceLimits {
  int sms = 0;
  int smem_optin = 0;
};

// Device 0's, read once (the backend uses device 0 only).
const DeviceLimits& device_limits() {
  static const DeviceLimits limits = [] {
    DeviceLimits l;
    if (cudaDeviceGetAttribute(&l.sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess ||
        cudaDeviceGetAttribute(&l.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0) != cudaSuccess) {
      (void)cudaGetLastError();
      l = DeviceLimits{};
    }
    return l;
  }();
  return limits;
}

template <uint32_t T>
cudaError_t launch_matvec_quant(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out,
                                int64_t ldo, const float* bias, bool q4k_kernel, cudaStream_t s) {
  const auto* data = static_cast<const uint8_t*>(w.data);
  const unsigned row_blocks = blocks_for(w.rows, kWarps);
  const DeviceLimits& dl = device_limits();
  const int64_t n_chunks = w.cols / 32;
  // Q4_K has its own kernel (unless HAYATE_CUDA_DISABLE names matvec_q4k), which also keeps each
  // chunk's activation sum in shared memory.
  // Its 16-byte loads need 16-byte aligned blocks: a matrix whose start is not (a view into a
  // stacked tensor could be, were its rows not 144-byte multiples) takes the generic kernel.
  const bool q4k = T == kQ4_K && q4k_kernel && reinterpret_cast<uintptr_t>(data) % 16 == 0;
  const size_t per_token = static_cast<size_t>(n_chunks) * (kChunkPitch + (q4k ? 1 : 0)) * sizeof(float);
  // As many tokens per block as fit in shared memory (at most kMaxGroup).
  const int64_t fit = dl.sms == 0 ? 0 : static_cast<int64_t>(static_cast<size_t>(dl.smem_optin) / per_token);
  if (fit == 0) {  // rows too long to stage: activations straight from global memory
    const int group = static_cast<int>(std::min<int64_t>(n_tokens, kMaxGroup));
    const dim3 grid(row_blocks, static_cast<unsigned>((n_tokens + group - 1) / group));
    matvec_quant<T, false>
        <<<grid, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, x, ldx, out, ldo, bias, n_tokens, group);
    return cudaGetLastError();
  }
  const int group = static_cast<int>(std::min<int64_t>({n_tokens, int64_t{kMaxGroup}, fit}));
  const int64_t n_groups = (n_tokens + group - 1) / group;
  const size_t bytes = per_token * static_cast<size_t>(group);
  const auto kernel = q4k ? matvec_q4k : matvec_quant<T, true>;
  static const cudaError_t allowed =
      cudaFuncSetAttribute(matvec_quant<T, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, dl.smem_optin);
  if (allowed != cudaSuccess) return allowed;
  if constexpr (T == kQ4_K) {
    static const cudaError_t allowed_q4k =
        cudaFuncSetAttribute(matvec_q4k, cudaFuncAttributeMaxDynamicSharedMemorySize, dl.smem_optin);
    if (allowed_q4k != cudaSuccess) return allowed_q4k;
  }
  // One wave of resident blocks (per token group), each reusing its staged activations for its
  // rows. The occupancy query is an API call per launch (hundreds a decode step): remembered per
  // kernel and shared-memory size.
  thread_local std::vector<std::pair<std::pair<const void*, size_t>, int>> known;
  int per_sm = -1;
  const auto key = std::make_pair(reinterpret_cast<const void*>(kernel), bytes);
  for (const auto& [k, v] : known)
    if (k == key) per_sm = v;
  if (per_sm < 0) {
    cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kWarps * 32, bytes);
    if (e != cudaSuccess) return e;
    known.emplace_back(key, per_sm);
  }
  const int64_t wave = std::max<int64_t>(1, int64_t{per_sm} * dl.sms / n_groups);
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(row_blocks, wave)), static_cast<unsigned>(n_groups));
  kernel<<<grid, kWarps * 32, bytes, s>>>(data, w.rows, w.cols, w.row_bytes, x, ldx, out, ldo, bias, n_tokens, group);
  return cudaGetLastError();
}

template <uint32_t T>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_float(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x, int64_t ldx,
                 float* out, int64_t ldo, const float* bias) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int64_t t = blockIdx.y;
  if (row >= rows) return;
  const uint8_t* wrow = w + row * row_bytes;
  const float* xt = x + t * ldx;
  float sum = 0.0f;
  for (int64_t i = lane; i < cols; i += 32) sum += float_elem<T>(wrow, i) * xt[i];
  sum = warp_sum(sum);
  if (lane == 0) write_out(sum, row, t, out, ldo, bias);
}

// F16 / BF16 rows with 16-byte loads: 8 weights per lane per step, a warp reading 512
// contiguous bytes. Needs cols % 8 == 0 and 16-byte aligned rows and activations.
__device__ __forceinline__ float lo_half(uint32_t u, bool bf16) {
  return bf16 ? __uint_as_float(u << 16) : __half2float(__ushort_as_half(static_cast<unsigned short>(u & 0xffff)));
}
__device__ __forceinline__ float hi_half(uint32_t u, bool bf16) {
  return bf16 ? __uint_as_float(u & 0xffff0000u) : __half2float(__ushort_as_half(static_cast<unsigned short>(u >> 16)));
}

// `block`: the thread block's index among this weight's (matvec_half_parts runs several weights'
// blocks in one grid, each through this same code).
template <uint32_t T>
__device__ __forceinline__ void half_rows(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes,
                                          const float* x, int64_t ldx, float* out, int64_t ldo, const float* bias,
                                          int64_t n_tokens, int parts, int64_t block) {
  constexpr bool kBf16 = T == kBF16;
  __shared__ float partial[kWarps][kMaxGroup];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, part = warp % parts;
  const int64_t row = block * (kWarps / parts) + warp / parts;
  const bool active = row < rows;
  if (!active && parts == 1) return;
  const uint4* wrow = reinterpret_cast<const uint4*>(w + row * row_bytes);
  // Every token of the step (at most kMaxGroup) per weight load: the row is read once.
  const int nt = static_cast<int>(n_tokens < kMaxGroup ? n_tokens : kMaxGroup);
  float sum[kMaxGroup];
#pragma unroll
  for (int tt = 0; tt < kMaxGroup; ++tt) sum[tt] = 0.0f;
  // kDepth loads of a lane are issued before any is used: one 16-byte load per lane at a time
  // left ~2 MB in flight on 4096 rows, short of what the memory's latency needs at its copy rate.
  // The sums still run in column order.
  // With `parts` warps to a row (split-K, half_vec_parts), warp `part` takes every parts-th
  // round of 32 x kDepth groups; the parts' sums are added in part order below.
  constexpr int kDepth = 4;
  const int64_t n_groups = active ? cols / 8 : 0;
  for (int64_t g0 = part * 32 * kDepth + lane; g0 < n_groups; g0 += static_cast<int64_t>(parts) * 32 * kDepth) {
    uint4 qd[kDepth];
#pragma unroll
    for (int d = 0; d < kDepth; ++d)
      if (g0 + 32 * d < n_groups) qd[d] = __ldg(wrow + g0 + 32 * d);
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      const int64_t g = g0 + 32 * d;
      if (g >= n_groups) break;
      const uint4 q = qd[d];
#pragma unroll
      for (int tt = 0; tt < kMaxGroup; ++tt) {
        if (tt >= nt) break;
        const float4* xt = reinterpret_cast<const float4*>(x + tt * ldx);
        const float4 a = xt[2 * g], b = xt[2 * g + 1];
        sum[tt] += lo_half(q.x, kBf16) * a.x + hi_half(q.x, kBf16) * a.y + lo_half(q.y, kBf16) * a.z +
                   hi_half(q.y, kBf16) * a.w + lo_half(q.z, kBf16) * b.x + hi_half(q.z, kBf16) * b.y +
                   lo_half(q.w, kBf16) * b.z + hi_half(q.w, kBf16) * b.w;
      }
    }
  }
#pragma unroll
  for (int tt = 0; tt < kMaxGroup; ++tt) {
    if (tt >= nt) break;
    const float total = warp_sum(sum[tt]);
    if (parts == 1) {
      if (lane == 0) write_out(total, row, tt, out, ldo, bias);
    } else if (lane == 0) {
      partial[warp][tt] = total;
    }
  }
  if (parts == 1) return;
  __syncthreads();
  if (!active || part != 0 || lane >= nt) return;
  float total = partial[warp][lane];
  for (int p = 1; p < parts; ++p) total += partial[warp + p][lane];
  write_out(total, row, lane, out, ldo, bias);
}

template <uint32_t T>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_half_vec(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x, int64_t ldx,
                    float* out, int64_t ldo, const float* bias, int64_t n_tokens, int parts) {
  half_rows<T>(w, rows, cols, row_bytes, x, ldx, out, ldo, bias, n_tokens, parts, blockIdx.x);
}

// Several F16/BF16 weights in one grid (matvec_parts): block b runs half_rows for the part that
// owns it (fusion.h), with that part's warps a row.
struct HalfParts {
  int n = 0;
  const uint8_t* w[kMaxMatvecParts] = {};
  int64_t rows[kMaxMatvecParts] = {}, row_bytes[kMaxMatvecParts] = {}, ldo[kMaxMatvecParts] = {};
  int64_t first[kMaxMatvecParts] = {};
  float* out[kMaxMatvecParts] = {};
  const float* bias[kMaxMatvecParts] = {};
  int one[kMaxMatvecParts] = {}, split[kMaxMatvecParts] = {};
};

template <uint32_t T>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_half_parts(HalfParts p, int64_t cols, const float* x, int64_t ldx, int64_t n_tokens) {
  const int i = part_of_block(p.n, p.first, blockIdx.x);
  // Constant indices only (a dynamic one would copy the parameters to local memory).
  const uint8_t* w = p.w[0];
  int64_t rows = p.rows[0], row_bytes = p.row_bytes[0], ldo = p.ldo[0], first = p.first[0];
  float* out = p.out[0];
  const float* bias = p.bias[0];
  int split = p.split[0];
#pragma unroll
  for (int k = 1; k < kMaxMatvecParts; ++k)
    if (k == i) {
      w = p.w[k];
      rows = p.rows[k];
      row_bytes = p.row_bytes[k];
      ldo = p.ldo[k];
      first = p.first[k];
      out = p.out[k];
      bias = p.bias[k];
      split = p.split[k];
    }
  half_rows<T>(w, rows, cols, row_bytes, x, ldx, out, ldo, bias, n_tokens, split, blockIdx.x - first);
}

// Warps to an F16/BF16 row (1, 2, 4 or 8): as the quantized mat-vec's fast::split_parts, rows
// of 1024 or 4096 left most warp slots empty while each warp waited out several rounds of loads;
// split until the grid holds about 8192 warps, each part keeping one round (32 x 4 x 16 bytes).
// HAYATE_CUDA_MATVEC_PARTS=1|2|4|8 forces it (1: the kernel before the split).
int half_vec_parts(int64_t rows, int64_t cols) {
  if (const char* v = std::getenv("HAYATE_CUDA_MATVEC_PARTS"); v && *v) {
    const int forced = std::atoi(v);
    if (forced == 1 || forced == 2 || forced == 4 || forced == 8) return forced;
  }
  const int64_t rounds = (cols / 8 + 127) / 128;
  int parts = 1;
  while (parts < 8 && 2 * parts <= rounds && 2 * parts * rows <= 8192) parts *= 2;
  return parts;
}

template <uint32_t T>
__global__ void dequant_quant_rows(const uint8_t* w, int64_t row0, int64_t n_rows, int64_t cols, int64_t row_bytes,
                                   uint16_t* dst, bool as_bf16) {
  const int64_t n_chunks = cols / 32;
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // chunk in the tile
  if (k >= n_rows * n_chunks) return;
  const int64_t r = k / n_chunks, c = k % n_chunks;
  float v[32];
  dequant_row_chunk<T>(w + (row0 + r) * row_bytes, c, v);
  // Four 16-byte stores per thread rather than 32 two-byte ones: neighbouring threads hold
  // neighbouring chunks, so the warp's stores cover whole 2 KB runs.
  uint4* o = reinterpret_cast<uint4*>(dst + r * cols + c * 32);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    uint32_t h[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float lo = v[8 * q + 2 * e], hi = v[8 * q + 2 * e + 1];
      h[e] = as_bf16 ? (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16(lo))) |
                        static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16(hi))) << 16)
                     : (static_cast<uint32_t>(__half_as_ushort(__float2half(lo))) |
                        static_cast<uint32_t>(__half_as_ushort(__float2half(hi))) << 16);
    }
    o[q] = make_uint4(h[0], h[1], h[2], h[3]);
  }
}

template <uint32_t T>
__global__ void dequant_float_rows(const uint8_t* w, int64_t row0, int64_t n_rows, int64_t cols, int64_t row_bytes,
                                   uint16_t* dst, bool as_bf16) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * cols) return;
  const int64_t r = i / cols, c = i % cols;
  const float v = float_elem<T>(w + (row0 + r) * row_bytes, c);
  dst[i] = as_bf16 ? __bfloat16_as_ushort(__float2bfloat16(v)) : __half_as_ushort(__float2half(v));
}

__global__ void to_half(const float* src, uint16_t* dst, int64_t n, bool as_bf16) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  dst[i] = as_bf16 ? __bfloat16_as_ushort(__float2bfloat16(src[i])) : __half_as_ushort(__float2half(src[i]));
}

__global__ void bias_add(float* out, int64_t ldo, int64_t n_tokens, int64_t n_out, const float* bias) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_tokens * n_out) return;
  out[(i / n_out) * ldo + i % n_out] += bias[i % n_out];
}

template <uint32_t T>
cudaError_t launch_matvec(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out, int64_t ldo,
                          const float* bias, bool q4k_kernel, cudaStream_t s) {
  const dim3 grid(blocks_for(w.rows, kWarps), static_cast<unsigned>(n_tokens));
  const auto* data = static_cast<const uint8_t*>(w.data);
  const bool aligned = reinterpret_cast<uintptr_t>(data) % 16 == 0 && w.row_bytes % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(x) % 16 == 0 && ldx % 4 == 0 && w.cols % 8 == 0;
  if constexpr (T == kF16 || T == kBF16) {
    if (aligned) {
      // All tokens in one pass over the weights, in groups of kMaxGroup.
      const int parts = half_vec_parts(w.rows, w.cols);
      const unsigned blocks = blocks_for(w.rows, kWarps / parts);
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxGroup) {
        matvec_half_vec<T><<<blocks, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, x + t0 * ldx, ldx,
                                                          out + t0 * ldo, ldo, bias, n_tokens - t0, parts);
        if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
      }
      return cudaSuccess;
    }
  }
  if constexpr (T == kF32 || T == kF16 || T == kBF16) {
    matvec_float<T><<<grid, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, x, ldx, out, ldo, bias);
    return cudaGetLastError();
  } else {
    return launch_matvec_quant<T>(w, x, ldx, n_tokens, out, ldo, bias, q4k_kernel, s);
  }
}

template <uint32_t T>
cudaError_t launch_dequant(const DevWeight& w, int64_t row0, int64_t n_rows, void* dst, bool as_bf16, cudaStream_t s) {
  const auto* data = static_cast<const uint8_t*>(w.data);
  auto* o = static_cast<uint16_t*>(dst);
  constexpr int kThreads = 256;
  if constexpr (T == kF32 || T == kF16 || T == kBF16)
    dequant_float_rows<T><<<blocks_for(n_rows * w.cols, kThreads), kThreads, 0, s>>>(data, row0, n_rows, w.cols,
                                                                                     w.row_bytes, o, as_bf16);
  else
    dequant_quant_rows<T><<<blocks_for(n_rows * (w.cols / 32), kThreads), kThreads, 0, s>>>(data, row0, n_rows, w.cols,
                                                                                            w.row_bytes, o, as_bf16);
  return cudaGetLastError();
}

}  // namespace

bool type_supported(uint32_t type) {
  switch (type) {
#define HAYATE_CASE(T) case T:
    HAYATE_CUDA_TYPES(HAYATE_CASE)
#undef HAYATE_CASE
    return true;
    default:
      return false;
  }
}

cudaError_t matvec(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out, int64_t ldo,
                   const float* bias, bool q4k_kernel, cudaStream_t s) {
  if (n_tokens <= 0 || w.rows <= 0) return cudaSuccess;
  switch (w.type) {
#define HAYATE_CASE(T) \
  case T:              \
    return launch_matvec<T>(w, x, ldx, n_tokens, out, ldo, bias, q4k_kernel, s);
    HAYATE_CUDA_TYPES(HAYATE_CASE)
#undef HAYATE_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

namespace {

bool half_aligned(const DevWeight& w, const float* x, int64_t ldx) {
  return reinterpret_cast<uintptr_t>(w.data) % 16 == 0 && w.row_bytes % 16 == 0 &&
         reinterpret_cast<uintptr_t>(x) % 16 == 0 && ldx % 4 == 0 && w.cols % 8 == 0;
}

template <uint32_t T>
cudaError_t launch_half_parts(const MatvecParts& m, const float* x, int64_t ldx, int64_t n_tokens, cudaStream_t s) {
  HalfParts p;
  p.n = m.n;
  for (int i = 0; i < m.n; ++i) {
    p.w[i] = static_cast<const uint8_t*>(m.w[i].data);
    p.rows[i] = m.w[i].rows;
    p.row_bytes[i] = m.w[i].row_bytes;
    p.ldo[i] = m.ldo[i];
    p.out[i] = m.out[i];
    p.bias[i] = m.bias[i];
    p.one[i] = 1;  // a warp a row
    p.split[i] = half_vec_parts(m.w[i].rows, m.w[i].cols);
  }
  const int64_t blocks = part_first_blocks(p.n, p.rows, p.one, p.split, p.first);
  matvec_half_parts<T><<<static_cast<unsigned>(blocks), kWarps * 32, 0, s>>>(p, m.w[0].cols, x, ldx, n_tokens);
  return cudaGetLastError();
}

}  // namespace

bool matvec_parts_fits(const MatvecParts& m, const float* x, int64_t ldx, int64_t n_tokens, bool fast) {
  if (m.n < 2 || m.n > kMaxMatvecParts || n_tokens < 1 || n_tokens > kMaxGroup) return false;
  const uint32_t type = m.w[0].type;
  if (type == kF16 || type == kBF16) {
    for (int i = 0; i < m.n; ++i)
      if (m.w[i].type != type || m.w[i].cols != m.w[0].cols || !half_aligned(m.w[i], x, ldx)) return false;
    return true;
  }
  return fast && matvec_fast_parts_fits(m, x, ldx, n_tokens);
}

cudaError_t matvec_parts(const MatvecParts& m, const float* x, int64_t ldx, int64_t n_tokens, cudaStream_t s,
                         const ActQ8* q8) {
  if (n_tokens <= 0) return cudaSuccess;
  switch (m.w[0].type) {
    case kF16:
    case kBF16:
      if (!matvec_parts_fits(m, x, ldx, n_tokens, false)) return cudaErrorInvalidValue;
      return m.w[0].type == kF16 ? launch_half_parts<kF16>(m, x, ldx, n_tokens, s)
                                 : launch_half_parts<kBF16>(m, x, ldx, n_tokens, s);
    default:
      return matvec_fast_parts(m, x, ldx, n_tokens, s, q8);
  }
}

cudaError_t dequantize_rows_f16(const DevWeight& w, int64_t row0, int64_t n_rows, void* dst, bool as_bf16,
                                cudaStream_t s) {
  if (n_rows <= 0) return cudaSuccess;
  switch (w.type) {
#define HAYATE_CASE(T) \
  case T:              \
    return launch_dequant<T>(w, row0, n_rows, dst, as_bf16, s);
    HAYATE_CUDA_TYPES(HAYATE_CASE)
#undef HAYATE_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t f32_to_half(const float* src, void* dst, int64_t n, bool as_bf16, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  to_half<<<blocks_for(n, 256), 256, 0, s>>>(src, static_cast<uint16_t*>(dst), n, as_bf16);
  return cudaGetLastError();
}

cudaError_t add_bias(float* out, int64_t ldo, int64_t n_tokens, int64_t n_out, const float* bias, cudaStream_t s) {
  if (n_tokens * n_out <= 0) return cudaSuccess;
  bias_add<<<blocks_for(n_tokens * n_out, 256), 256, 0, s>>>(out, ldo, n_tokens, n_out, bias);
  return cudaGetLastError();
}

}  // namespace hayate::cuda
