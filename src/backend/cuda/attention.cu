// Causal attention over the paged KV cache, flash-style. The positions [0, pos] of each token
// (on a sliding-window layer [pos - window + 1, pos]) are cut into chunks; one block per (token,
// head, chunk) runs an online softmax over its chunk (each warp over every 4th position) and
// leaves (max, sum, unnormalised output); a second kernel merges the chunks (one chunk: the first
// kernel writes the output itself; with AttentionArgs::counters, the last block of each (token,
// head) does). Long decode contexts so spread over many blocks (split-K).
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/kernels.h"

namespace hayate::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = kMaxHeadDim / 32;  // head dims held by each lane

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Merges the n_split parts of (token t, head h) into the output; blockDim.x threads (the combine
// kernel's own launch, or the chunk kernel's last block of (t, h): both 128). Parts are read
// through L2 (__ldcg): in the chunk kernel other blocks wrote them moments before.
__device__ __forceinline__ void combine(const AttentionArgs& a, int32_t t, int32_t h) {
  const int32_t hd = a.head_dim;
  const float* parts = a.partial + (static_cast<int64_t>(t) * a.n_head + h) * a.n_split * (hd + 2);
  float mm = -INFINITY;
  for (int s = 0; s < a.n_split; ++s) mm = fmaxf(mm, __ldcg(parts + s * (hd + 2)));
  float ll = 0.0f;
  for (int s = 0; s < a.n_split; ++s) {
    const float ms = __ldcg(parts + s * (hd + 2));
    if (ms != -INFINITY) ll += __ldcg(parts + s * (hd + 2) + 1) * expf(ms - mm);
  }
  const float inv = ll > 0.0f ? 1.0f / ll : 0.0f;
  float* o = a.out + static_cast<int64_t>(t) * a.ldo + static_cast<int64_t>(h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float sum = 0.0f;
    for (int s = 0; s < a.n_split; ++s) {
      const float ms = __ldcg(parts + s * (hd + 2));
      if (ms != -INFINITY) sum += __ldcg(parts + s * (hd + 2) + 2 + d) * expf(ms - mm);
    }
    o[d] = sum * inv;
  }
}

__global__ void __launch_bounds__(kWarps * 32) attention_chunk(AttentionArgs a) {
  const int32_t t = blockIdx.x, h = blockIdx.y, split = blockIdx.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int32_t hd = a.head_dim;
  const int32_t pos = a.positions[t];
  // A windowed layer's first position; chunks wholly before it attend to nothing (m stays -inf,
  // which the merges skip).
  const int32_t first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
  // This split's positions are [split * chunk, (split + 1) * chunk), cut to [first, pos].
  const int32_t begin = max(split * a.chunk, first);
  const int32_t end = min(pos + 1, (split + 1) * a.chunk);
  const int32_t kv_head = h / (a.n_head / a.n_head_kv);
  const int32_t* table = a.block_tables + static_cast<int64_t>(a.seq[t]) * a.max_blocks;
  const float scale = rsqrtf(static_cast<float>(hd));

  float q[kPerLane], acc[kPerLane];
  const float* qrow = a.q + static_cast<int64_t>(t) * a.ldq + static_cast<int64_t>(h) * hd;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int d = lane + 32 * j;
    q[j] = d < hd ? qrow[d] : 0.0f;
    acc[j] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int32_t p = begin + warp; p < end; p += kWarps) {
    const int64_t slot = static_cast<int64_t>(table[p / a.block_size]) * a.block_size + p % a.block_size;
    const float* k = a.k_cache + slot * a.kv_dim + static_cast<int64_t>(kv_head) * hd;
    const float* v = a.v_cache + slot * a.kv_dim + static_cast<int64_t>(kv_head) * hd;
    float dot = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < hd) dot += q[j] * k[d];
    }
    const float s = warp_sum(dot) * scale;
    const float m_new = fmaxf(m, s);
    const float corr = expf(m - m_new);  // 0 on the first position (m = -inf)
    const float e = expf(s - m_new);
    l = l * corr + e;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int d = lane + 32 * j;
      acc[j] = acc[j] * corr + (d < hd ? e * v[d] : 0.0f);
    }
    m = m_new;
  }

  // Merge the warps of this block through shared memory.
  __shared__ float s_m[kWarps], s_l[kWarps];
  __shared__ float s_acc[kWarps][kMaxHeadDim];
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int d = lane + 32 * j;
    if (d < hd) s_acc[warp][d] = acc[j];
  }
  __syncthreads();
  float mm = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) mm = fmaxf(mm, s_m[w]);
  if (a.n_split == 1) {
    // One chunk: normalise here and skip attention_combine's launch. The same operations as the
    // combine on one part (whose scale factors are exp(0) = 1), so the same bits.
    float ll = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (s_m[w] != -INFINITY) ll += s_l[w] * expf(s_m[w] - mm);
    const float inv = ll > 0.0f ? 1.0f / ll : 0.0f;
    float* o = a.out + static_cast<int64_t>(t) * a.ldo + static_cast<int64_t>(h) * hd;
    for (int d = threadIdx.x; d < hd; d += kWarps * 32) {
      float sum = 0.0f;
      for (int w = 0; w < kWarps; ++w)
        if (s_m[w] != -INFINITY) sum += s_acc[w][d] * expf(s_m[w] - mm);
      o[d] = sum * inv;
    }
    return;
  }
  float* part = a.partial + ((static_cast<int64_t>(t) * a.n_head + h) * a.n_split + split) * (hd + 2);
  for (int d = threadIdx.x; d < hd; d += kWarps * 32) {
    float sum = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (s_m[w] != -INFINITY) sum += s_acc[w][d] * expf(s_m[w] - mm);
    part[2 + d] = sum;
  }
  if (threadIdx.x == 0) {
    float ll = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (s_m[w] != -INFINITY) ll += s_l[w] * expf(s_m[w] - mm);
    part[0] = mm;
    part[1] = ll;
  }
  if (!a.counters) return;
  // The combine without its launch: the last block of (t, h) to finish merges every split's part
  // (the threadFenceReduction pattern: each thread's writes fenced before the count, the count's
  // last taker reads the parts from L2) and puts the counter back to 0 for the next launch.
  __threadfence();
  __syncthreads();
  __shared__ bool last;
  int* counter = a.counters + static_cast<int64_t>(t) * a.n_head + h;
  if (threadIdx.x == 0) last = atomicAdd(counter, 1) == a.n_split - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  combine(a, t, h);
  if (threadIdx.x == 0) *counter = 0;
}

__global__ void attention_combine(AttentionArgs a) { combine(a, blockIdx.x, blockIdx.y); }

}  // namespace

cudaError_t attention(const AttentionArgs& a, cudaStream_t s) {
  if (a.n_tokens <= 0) return cudaSuccess;
  if (a.head_dim <= 0 || a.head_dim > kMaxHeadDim || a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0 ||
      a.n_split <= 0 || a.chunk <= 0)
    return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(a.n_tokens), static_cast<unsigned>(a.n_head), static_cast<unsigned>(a.n_split));
  attention_chunk<<<grid, kWarps * 32, 0, s>>>(a);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || a.n_split == 1 || a.counters) return err;
  attention_combine<<<dim3(static_cast<unsigned>(a.n_tokens), static_cast<unsigned>(a.n_head)), kWarps * 32, 0, s>>>(a);
  return cudaGetLastError();
}

}  // namespace hayate::cuda
