// The cheap operations of a layer: embedding rows, RMSNorm, RoPE, SwiGLU, residual add, the
// KV-cache append and the mixture-of-experts weighted sum. Written plainly (grid-stride or one block per row); they
// move few bytes next to the weights.
#include <cuda_runtime.h>

#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"

namespace hayate::cuda {
namespace {

unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

template <uint32_t T>
__global__ void get_rows_quant(const uint8_t* table, int64_t row_bytes, int64_t cols, const int32_t* ids, float* out,
                               int64_t ldo) {
  const uint8_t* row = table + static_cast<int64_t>(ids[blockIdx.x]) * row_bytes;
  float* o = out + static_cast<int64_t>(blockIdx.x) * ldo;
  for (int64_t k = threadIdx.x; k < cols / 32; k += blockDim.x) {
    float v[32];
    dequant_row_chunk<T>(row, k, v);
#pragma unroll
    for (int e = 0; e < 32; ++e) o[k * 32 + e] = v[e];
  }
}

template <uint32_t T>
__global__ void get_rows_float(const uint8_t* table, int64_t row_bytes, int64_t cols, const int32_t* ids, float* out,
                               int64_t ldo) {
  const uint8_t* row = table + static_cast<int64_t>(ids[blockIdx.x]) * row_bytes;
  float* o = out + static_cast<int64_t>(blockIdx.x) * ldo;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) o[i] = float_elem<T>(row, i);
}

template <uint32_t T>
cudaError_t launch_get_rows(const DevWeight& t, const int32_t* ids, int64_t n, float* out, int64_t ldo,
                            cudaStream_t s) {
  const auto* data = static_cast<const uint8_t*>(t.data);
  if constexpr (T == kF32 || T == kF16 || T == kBF16)
    get_rows_float<T><<<static_cast<unsigned>(n), 256, 0, s>>>(data, t.row_bytes, t.cols, ids, out, ldo);
  else
    get_rows_quant<T><<<static_cast<unsigned>(n), 128, 0, s>>>(data, t.row_bytes, t.cols, ids, out, ldo);
  return cudaGetLastError();
}

__global__ void copy_rows_kernel(const float* x, int64_t ldx, const int32_t* rows, int64_t cols, float* out,
                                 int64_t ldo) {
  const float* in = x + static_cast<int64_t>(rows[blockIdx.x]) * ldx;
  float* o = out + static_cast<int64_t>(blockIdx.x) * ldo;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) o[i] = in[i];
}

constexpr int kNormThreads = 256;
// Elements a thread holds in registers: rows up to 8192 are read once, with all of a thread's
// loads in flight together (a loop over a runtime length left them one at a time, ~10 us a row
// on an H100, ~0.6 ms of each Llama-3-8B decode step). Longer rows take the loop.
constexpr int kNormRegs = 32;

// With kAdd, x += y first (each thread adds the elements it then reads: add_kernel's one f32
// add), the residual add fused with the norm that follows it; the norm's operations are the
// same either way, so add_rms_norm gives the bits of add then rms_norm.
template <bool kAdd>
__global__ void __launch_bounds__(kNormThreads)
    rms_norm_kernel(float* x, const float* y, const float* w, int64_t group, float eps, float* out) {
  float* in = x + static_cast<int64_t>(blockIdx.x) * group;
  const float* add_in = kAdd ? y + static_cast<int64_t>(blockIdx.x) * group : nullptr;
  float* o = out + static_cast<int64_t>(blockIdx.x) * group;
  const bool in_regs = group <= kNormThreads * kNormRegs;
  float v[kNormRegs];
  float sum = 0.0f;
  // Both paths add the same squares in the same order, so they give the same bits.
  if (in_regs) {
#pragma unroll
    for (int j = 0; j < kNormRegs; ++j) {
      const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kNormThreads;
      if constexpr (kAdd) {
        v[j] = i < group ? in[i] + add_in[i] : 0.0f;
        if (i < group) in[i] = v[j];
      } else {
        v[j] = i < group ? __ldg(in + i) : 0.0f;
      }
    }
#pragma unroll
    for (int j = 0; j < kNormRegs; ++j) sum += v[j] * v[j];
  } else {
    for (int64_t i = threadIdx.x; i < group; i += kNormThreads) {
      if constexpr (kAdd) in[i] += add_in[i];
      sum += in[i] * in[i];
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  __shared__ float warp_sums[kNormThreads / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormThreads / 32; ++i) total += warp_sums[i];
  const float scale = rsqrtf(total / static_cast<float>(group) + eps);
  // Each thread rewrites only the elements it read, so out == x is safe.
  if (in_regs) {
#pragma unroll
    for (int j = 0; j < kNormRegs; ++j) {
      const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kNormThreads;
      if (i < group) o[i] = v[j] * scale * __ldg(w + i);
    }
  } else {
    for (int64_t i = threadIdx.x; i < group; i += kNormThreads) o[i] = in[i] * scale * w[i];
  }
}

// Rotates the first n_rot dims of one head (v) by `pos`, threads taking pairs in turn, cos and
// sin times attn_factor (LongRoPE; 1 otherwise); with `copy`, each rotated value is written there
// too (a KV-cache row). rope_kernel and rope_store_kv_kernel both run this, so they give the same bits.
__device__ __forceinline__ void rope_head(float* v, float* copy, int32_t n_rot, bool neox, float pos,
                                          const float* inv_freq, float attn_factor) {
  const int32_t half = n_rot / 2;
  for (int32_t i = threadIdx.x; i < half; i += blockDim.x) {
    const float angle = pos * inv_freq[i];
    // Rounded as the host backends round it: cos and sin first, then the factor.
    const float c = cosf(angle) * attn_factor, s = sinf(angle) * attn_factor;
    const int32_t a = neox ? i : 2 * i;
    const int32_t b = neox ? i + half : 2 * i + 1;
    const float x0 = v[a], x1 = v[b];
    const float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;
    v[a] = r0;
    v[b] = r1;
    if (copy) {
      copy[a] = r0;
      copy[b] = r1;
    }
  }
}

__global__ void rope_kernel(float* x, int64_t ldx, int32_t head_dim, int32_t n_rot, bool neox, const int32_t* positions,
                            const float* inv_freq, float attn_factor) {
  const int64_t t = blockIdx.x;
  const int32_t h = blockIdx.y;
  rope_head(x + t * ldx + static_cast<int64_t>(h) * head_dim, nullptr, n_rot, neox, static_cast<float>(positions[t]),
            inv_freq, attn_factor);
}

// One block per (token, y): y < n_head rotates a head of q; the next n_head_kv a head of k, in
// place and into the K cache (its unrotated dims copied); the last n_head_kv copy a head of v
// into the V cache.
__global__ void rope_store_kv_kernel(RopeStoreArgs a) {
  const int64_t t = blockIdx.x;
  const int32_t y = blockIdx.y;
  const float pos = static_cast<float>(a.positions[t]);
  if (y < a.n_head) {
    rope_head(a.q + t * a.ldq + static_cast<int64_t>(y) * a.head_dim, nullptr, a.n_rot, a.neox, pos, a.inv_freq,
              a.attn_factor);
    return;
  }
  const int32_t kv_dim = a.n_head_kv * a.head_dim;
  const int32_t h = y < a.n_head + a.n_head_kv ? y - a.n_head : y - a.n_head - a.n_head_kv;
  const int64_t at = a.slots[t] * kv_dim + static_cast<int64_t>(h) * a.head_dim;
  if (y < a.n_head + a.n_head_kv) {
    float* k = a.k + t * a.ldk + static_cast<int64_t>(h) * a.head_dim;
    rope_head(k, a.k_cache + at, a.n_rot, a.neox, pos, a.inv_freq, a.attn_factor);
    for (int32_t i = a.n_rot + threadIdx.x; i < a.head_dim; i += blockDim.x) a.k_cache[at + i] = k[i];
    return;
  }
  const float* v = a.v + t * a.ldv + static_cast<int64_t>(h) * a.head_dim;
  for (int32_t i = threadIdx.x; i < a.head_dim; i += blockDim.x) a.v_cache[at + i] = v[i];
}

__global__ void swiglu_kernel(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  out[i] = g / (1.0f + expf(-g)) * up[i];
}

__global__ void geglu_kernel(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  const float g = gate[i];
  out[i] = 0.5f * g * (1.0f + tanhf(k * (g + 0.044715f * g * g * g))) * up[i];
}

__global__ void scale_kernel(float* x, float factor, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= factor;
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void store_kv_kernel(const float* k, int64_t ldk, const float* v, int64_t ldv, const int64_t* slots,
                                int32_t kv_dim, float* k_cache, float* v_cache) {
  const int64_t t = blockIdx.x;
  const int64_t slot = slots[t];
  for (int32_t i = threadIdx.x; i < kv_dim; i += blockDim.x) {
    k_cache[slot * kv_dim + i] = k[t * ldk + i];
    v_cache[slot * kv_dim + i] = v[t * ldv + i];
  }
}

// Token t's sum over its k choices in choice order, each product rounded before it is added
// (no fused multiply-add), as moe.cpp's weighted_sum writes it.
__global__ void moe_weighted_sum_kernel(const float* y, int64_t ldy, const int32_t* row_of_pair, const float* weight,
                                        int64_t n_tokens, int32_t k, int64_t cols, float* out, int64_t ldo) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_tokens * cols) return;
  const int64_t t = i / cols, c = i % cols;
  float sum = 0.0f;
  for (int32_t j = 0; j < k; ++j) {
    const int64_t pair = t * k + j;
    sum = __fadd_rn(sum, __fmul_rn(weight[pair], y[static_cast<int64_t>(row_of_pair[pair]) * ldy + c]));
  }
  out[t * ldo + c] = sum;
}

}  // namespace

cudaError_t moe_weighted_sum(const float* y, int64_t ldy, const int32_t* row_of_pair, const float* weight,
                             int64_t n_tokens, int32_t k, int64_t cols, float* out, int64_t ldo, cudaStream_t s) {
  const int64_t n = n_tokens * cols;
  if (n <= 0) return cudaSuccess;
  moe_weighted_sum_kernel<<<blocks_for(n, 256), 256, 0, s>>>(y, ldy, row_of_pair, weight, n_tokens, k, cols, out, ldo);
  return cudaGetLastError();
}

cudaError_t get_rows(const DevWeight& t, const int32_t* ids, int64_t n, float* out, int64_t ldo, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  switch (t.type) {
#define HAYATE_CASE(T) \
  case T:              \
    return launch_get_rows<T>(t, ids, n, out, ldo, s);
    HAYATE_CUDA_TYPES(HAYATE_CASE)
#undef HAYATE_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t copy_rows(const float* x, int64_t ldx, const int32_t* rows, int64_t n, int64_t cols, float* out,
                      int64_t ldo, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  copy_rows_kernel<<<static_cast<unsigned>(n), 256, 0, s>>>(x, ldx, rows, cols, out, ldo);
  return cudaGetLastError();
}

cudaError_t rms_norm(const float* x, const float* w, int64_t n_groups, int64_t group, float eps, float* out,
                     cudaStream_t s) {
  if (n_groups <= 0) return cudaSuccess;
  // rms_norm_kernel<false> only reads x.
  rms_norm_kernel<false>
      <<<static_cast<unsigned>(n_groups), kNormThreads, 0, s>>>(const_cast<float*>(x), nullptr, w, group, eps, out);
  return cudaGetLastError();
}

cudaError_t add_rms_norm(float* x, const float* y, const float* w, int64_t n_groups, int64_t group, float eps,
                         float* out, cudaStream_t s) {
  if (n_groups <= 0) return cudaSuccess;
  rms_norm_kernel<true><<<static_cast<unsigned>(n_groups), kNormThreads, 0, s>>>(x, y, w, group, eps, out);
  return cudaGetLastError();
}

cudaError_t rope_store_kv(const RopeStoreArgs& a, cudaStream_t s) {
  if (a.n_tokens <= 0) return cudaSuccess;
  if (a.n_rot < 2 || a.n_head <= 0 || a.n_head_kv <= 0) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(a.n_tokens), static_cast<unsigned>(a.n_head + 2 * a.n_head_kv));
  rope_store_kv_kernel<<<grid, 64, 0, s>>>(a);
  return cudaGetLastError();
}

cudaError_t rope(float* x, int64_t rows, int64_t ldx, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox,
                 const int32_t* positions, const float* inv_freq, float attn_factor, cudaStream_t s) {
  if (rows <= 0 || n_heads <= 0 || n_rot < 2) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(n_heads));
  rope_kernel<<<grid, 64, 0, s>>>(x, ldx, head_dim, n_rot, neox, positions, inv_freq, attn_factor);
  return cudaGetLastError();
}

cudaError_t swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  swiglu_kernel<<<blocks_for(n, 256), 256, 0, s>>>(gate, up, out, n);
  return cudaGetLastError();
}

cudaError_t geglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  geglu_kernel<<<blocks_for(n, 256), 256, 0, s>>>(gate, up, out, n);
  return cudaGetLastError();
}

cudaError_t scale(float* x, float factor, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  scale_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x, factor, n);
  return cudaGetLastError();
}

cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  add_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t store_kv(const float* k, int64_t ldk, const float* v, int64_t ldv, const int64_t* slots, int64_t n,
                     int32_t kv_dim, float* k_cache, float* v_cache, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  store_kv_kernel<<<static_cast<unsigned>(n), 256, 0, s>>>(k, ldk, v, ldv, slots, kv_dim, k_cache, v_cache);
  return cudaGetLastError();
}

}  // namespace hayate::cuda
