// The k most likely tokens of rows of logits and each row's log-sum-exp, on the device, so that
// sampling 64 rows of a 128k vocabulary brings back a few kB instead of 33 MB (and the host no
// longer runs a softmax over every row on one thread).
//
// Two kernels. top_chunk: one block per (row, chunk of 4096 logits) keeps the chunk as ordered
// keys in shared memory, reduces its maximum and sum of exp(l - max) (double), and selects its k
// largest with a radix select (four 8-bit histogram passes) and an ordered compaction, so the k
// come out in id order. top_merge: one block per row merges the chunks' lists (n_chunks * k keys,
// in id order again), the chunks' sums into the log-sum-exp, selects the k largest the same way
// and sorts them (bitonic) by logit, highest first, equal logits by the lower id: the order of
// the host sampler (engine/sampler.cpp, before()).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "backend/cuda/kernels.h"

namespace hayate::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPer = kThreads / 32;

// Keys whose unsigned order is the floats' order; -0 is +0 (the host compares them equal).
__device__ __forceinline__ uint32_t order_key(float f) {
  if (f == 0.0f) f = 0.0f;
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_float(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}
// -inf's key; every key above it is a finite logit (NaN and +inf rows are flagged, not selected).
constexpr uint32_t kNegInfKey = 0x007fffffu;

__device__ __forceinline__ float block_max(float v, float* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  float m = red[0];
#pragma unroll
  for (int w = 1; w < kWarpsPer; ++w) m = fmaxf(m, red[w]);
  return m;
}

template <class V>
__device__ __forceinline__ V block_sum(V v, V* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  V s = red[0];
#pragma unroll
  for (int w = 1; w < kWarpsPer; ++w) s += red[w];
  return s;
}

// Exclusive prefix sum over the block in thread order; *total gets the sum.
__device__ __forceinline__ int block_scan(int v, int* red, int* total) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int t = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += t;
  }
  __syncthreads();
  if (lane == 31) red[warp] = incl;
  __syncthreads();
  int before = 0, sum = 0;
#pragma unroll
  for (int w = 0; w < kWarpsPer; ++w) {
    before += w < warp ? red[w] : 0;
    sum += red[w];
  }
  *total = sum;
  return before + incl - v;
}

struct Select {
  uint32_t threshold;  // every key above it is selected ...
  int n_equal;         // ... and the first n_equal keys equal to it, in item order
};

struct SelectShared {
  unsigned hist[256];
  int red[kWarpsPer];
  int digit, above;
};

// The k largest eligible keys of keys[0, n) (eligible: above kNegInfKey), by a radix select on
// 8 bits at a time. n_eligible: how many there are.
__device__ Select radix_select(const uint32_t* keys, int n, int k, int n_eligible, SelectShared& sh) {
  if (n_eligible <= k) return Select{kNegInfKey, 0};
  uint32_t prefix = 0, mask = 0;
  int remaining = k;
  const int lane = threadIdx.x % 32;
  for (int shift = 24; shift >= 0; shift -= 8) {
    sh.hist[threadIdx.x] = 0;
    __syncthreads();
    for (int base = 0; base < n; base += kThreads) {  // whole warps iterate together (match_any)
      const int i = base + static_cast<int>(threadIdx.x);
      const uint32_t key = i < n ? keys[i] : 0u;
      const bool in = key > kNegInfKey && (key & mask) == prefix;
      const unsigned digit = in ? (key >> shift) & 0xffu : 256u;
      const unsigned peers = __match_any_sync(0xffffffffu, digit);
      if (in && lane == __ffs(peers) - 1) atomicAdd(&sh.hist[digit], static_cast<unsigned>(__popc(peers)));
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      // Lane l owns bins 8l..8l+7; a suffix sum over lanes finds the bin holding the remaining-th key.
      int own = 0;
#pragma unroll
      for (int b = 0; b < 8; ++b) own += static_cast<int>(sh.hist[8 * lane + b]);
      int suffix = own;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int t = __shfl_down_sync(0xffffffffu, suffix, o);
        if (lane + o < 32) suffix += t;
      }
      int after = __shfl_down_sync(0xffffffffu, suffix, 1);
      if (lane == 31) after = 0;
      if (after < remaining && suffix >= remaining) {
        int c = after;
        for (int b = 7; b >= 0; --b) {
          const int h = static_cast<int>(sh.hist[8 * lane + b]);
          if (c + h >= remaining) {
            sh.digit = 8 * lane + b;
            sh.above = c;
            break;
          }
          c += h;
        }
      }
    }
    __syncthreads();
    prefix |= static_cast<uint32_t>(sh.digit) << shift;
    mask |= 0xffu << shift;
    remaining -= sh.above;
    __syncthreads();
  }
  return Select{prefix, remaining};
}

// Calls emit(i, slot) for each selected item i of keys[0, n), slot counting them in item order.
// Each thread takes a contiguous run of items so that order survives.
template <class Emit>
__device__ void compact(const uint32_t* keys, int n, Select sel, SelectShared& sh, Emit emit) {
  const int per = (n + kThreads - 1) / kThreads;
  const int lo = min(n, static_cast<int>(threadIdx.x) * per), hi = min(n, lo + per);
  int eq = 0;
  for (int i = lo; i < hi; ++i) eq += keys[i] == sel.threshold && keys[i] > kNegInfKey;
  int total = 0;
  int eq_rank = block_scan(eq, sh.red, &total);
  int mine = 0;
  for (int i = lo, r = eq_rank; i < hi; ++i) {
    const uint32_t key = keys[i];
    if (key <= kNegInfKey) continue;
    if (key > sel.threshold)
      ++mine;
    else if (key == sel.threshold && r++ < sel.n_equal)
      ++mine;
  }
  int slot = block_scan(mine, sh.red, &total);
  for (int i = lo; i < hi; ++i) {
    const uint32_t key = keys[i];
    if (key <= kNegInfKey) continue;
    if (key > sel.threshold || (key == sel.threshold && eq_rank++ < sel.n_equal)) emit(i, slot++);
  }
}

struct ChunkShared {
  uint32_t keys[kTopChunk];
  SelectShared sel;
  float fred[kWarpsPer];
  double dred[kWarpsPer];
};

__global__ void __launch_bounds__(kThreads) top_chunk(TopLogitsArgs a) {
  __shared__ ChunkShared sh;
  const int row = a.rows[blockIdx.y];
  const int64_t base = static_cast<int64_t>(blockIdx.x) * kTopChunk;
  const int n = static_cast<int>(a.n_vocab - base < kTopChunk ? a.n_vocab - base : kTopChunk);
  const float* src = a.logits + row * a.ld + base;
  float m = -INFINITY;
  int finite = 0, bad = 0;
  for (int i = threadIdx.x; i < n; i += kThreads) {
    const float v = src[i];
    sh.keys[i] = order_key(v);
    bad |= isnan(v) || v == INFINITY;
    finite += v != -INFINITY;
    m = fmaxf(m, v);
  }
  m = block_max(m, sh.fred);
  finite = block_sum(finite, sh.sel.red);
  bad = block_sum(bad, sh.sel.red);
  double sum = 0;
  if (m != -INFINITY)
    for (int i = threadIdx.x; i < n; i += kThreads) {
      const float v = key_float(sh.keys[i]);
      if (v != -INFINITY) sum += static_cast<double>(expf(v - m));
    }
  sum = block_sum(sum, sh.dred);
  const int64_t part = static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x;
  if (threadIdx.x == 0) {
    a.chunk_max[part] = m;
    a.chunk_sum[part] = sum;
    a.chunk_finite[part] = finite;
    a.chunk_bad[part] = bad;
  }
  uint32_t* out_keys = a.part_keys + part * a.k;
  int32_t* out_ids = a.part_ids + part * a.k;
  const Select sel = radix_select(sh.keys, n, a.k, finite, sh.sel);
  compact(sh.keys, n, sel, sh.sel, [&](int i, int slot) {
    out_keys[slot] = sh.keys[i];
    out_ids[slot] = static_cast<int32_t>(base + i);
  });
  const int listed = min(finite, a.k);
  for (int s = listed + threadIdx.x; s < a.k; s += kThreads) out_keys[s] = 0;  // never eligible
}

__device__ __forceinline__ bool before(uint32_t ka, int32_t ia, uint32_t kb, int32_t ib) {
  return ka > kb || (ka == kb && ia < ib);
}

__global__ void __launch_bounds__(kThreads) top_merge(TopLogitsArgs a, int n_chunks) {
  extern __shared__ uint32_t merge_smem[];
  __shared__ SelectShared sel_sh;
  __shared__ float fred[kWarpsPer];
  __shared__ double dred[kWarpsPer];
  __shared__ uint32_t sort_keys[kMaxTopLogits];
  __shared__ int32_t sort_ids[kMaxTopLogits];
  const int r = blockIdx.x;
  const int n = n_chunks * a.k;
  uint32_t* keys = merge_smem;
  auto* ids = reinterpret_cast<int32_t*>(merge_smem + n);
  for (int i = threadIdx.x; i < n; i += kThreads) {
    keys[i] = a.part_keys[static_cast<int64_t>(r) * n + i];
    ids[i] = a.part_ids[static_cast<int64_t>(r) * n + i];
  }
  float m = -INFINITY;
  int finite = 0, bad = 0;
  for (int c = threadIdx.x; c < n_chunks; c += kThreads) {
    const int64_t p = static_cast<int64_t>(r) * n_chunks + c;
    m = fmaxf(m, a.chunk_max[p]);
    finite += a.chunk_finite[p];
    bad |= a.chunk_bad[p];
  }
  m = block_max(m, fred);
  finite = block_sum(finite, sel_sh.red);
  bad = block_sum(bad, sel_sh.red);
  double sum = 0;
  if (m != -INFINITY)
    for (int c = threadIdx.x; c < n_chunks; c += kThreads) {
      const int64_t p = static_cast<int64_t>(r) * n_chunks + c;
      const float cm = a.chunk_max[p];
      if (cm != -INFINITY) sum += a.chunk_sum[p] * exp(static_cast<double>(cm) - static_cast<double>(m));
    }
  sum = block_sum(sum, dred);
  // The chunks listed min(finite, k) keys each, the rest are padding: count what is eligible.
  int eligible = 0;
  for (int i = threadIdx.x; i < n; i += kThreads) eligible += keys[i] > kNegInfKey;
  eligible = block_sum(eligible, sel_sh.red);
  const int listed = min(eligible, a.k);
  int p2 = 1;
  while (p2 < listed) p2 <<= 1;
  for (int i = threadIdx.x; i < p2; i += kThreads) {
    sort_keys[i] = 0;
    sort_ids[i] = INT_MAX;
  }
  __syncthreads();
  const Select sel = radix_select(keys, n, a.k, eligible, sel_sh);
  compact(keys, n, sel, sel_sh, [&](int i, int slot) {
    sort_keys[slot] = keys[i];
    sort_ids[slot] = ids[i];
  });
  __syncthreads();
  // Bitonic sort of p2 (<= kMaxTopLogits) entries, best first.
  for (int size = 2; size <= p2; size <<= 1) {
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < p2 / 2; t += kThreads) {
        const int i = 2 * t - (t & (stride - 1));
        const int j = i + stride;
        const bool descending = (i & size) == 0;
        const bool swap = descending ? before(sort_keys[j], sort_ids[j], sort_keys[i], sort_ids[i])
                                     : before(sort_keys[i], sort_ids[i], sort_keys[j], sort_ids[j]);
        if (swap) {
          const uint32_t k = sort_keys[i];
          sort_keys[i] = sort_keys[j];
          sort_keys[j] = k;
          const int32_t id = sort_ids[i];
          sort_ids[i] = sort_ids[j];
          sort_ids[j] = id;
        }
      }
      __syncthreads();
    }
  }
  const TopLogitsOut& o = a.out;
  for (int i = threadIdx.x; i < a.k; i += kThreads) {
    o.ids[static_cast<int64_t>(r) * a.k + i] = i < listed ? sort_ids[i] : -1;
    o.logits[static_cast<int64_t>(r) * a.k + i] = i < listed ? key_float(sort_keys[i]) : -INFINITY;
  }
  if (threadIdx.x == 0) {
    o.log_norm[r] = static_cast<double>(m) + log(sum);
    o.n_finite[r] = finite;
    o.n_listed[r] = listed;
    o.bad[r] = bad || m == -INFINITY || !(sum > 0);
  }
}

}  // namespace

size_t top_logits_scratch_bytes(int32_t n_rows, int32_t n_vocab, int32_t k) {
  const size_t parts = static_cast<size_t>(n_rows) * static_cast<size_t>((n_vocab + kTopChunk - 1) / kTopChunk);
  return parts * (static_cast<size_t>(k) * 8 + sizeof(double) + 3 * sizeof(float)) + 64;
}

size_t top_logits_out_bytes(int32_t n_rows, int32_t k) {
  return static_cast<size_t>(n_rows) * (sizeof(double) + 3 * sizeof(int32_t) + static_cast<size_t>(k) * 8);
}

TopLogitsOut top_logits_out(void* base, int32_t n_rows, int32_t k) {
  auto* p = static_cast<uint8_t*>(base);
  TopLogitsOut o;
  o.log_norm = reinterpret_cast<double*>(p);
  p += static_cast<size_t>(n_rows) * sizeof(double);
  o.n_finite = reinterpret_cast<int32_t*>(p);
  o.n_listed = o.n_finite + n_rows;
  o.bad = o.n_listed + n_rows;
  o.ids = o.bad + n_rows;
  o.logits = reinterpret_cast<float*>(o.ids + static_cast<size_t>(n_rows) * k);
  return o;
}

cudaError_t top_logits(TopLogitsArgs a, void* scratch, cudaStream_t s) {
  if (a.n_rows <= 0) return cudaSuccess;
  if (a.k <= 0 || a.k > kMaxTopLogits || a.n_vocab <= 0) return cudaErrorInvalidValue;
  const int n_chunks = (a.n_vocab + kTopChunk - 1) / kTopChunk;
  const size_t parts = static_cast<size_t>(a.n_rows) * n_chunks;
  auto* p = static_cast<uint8_t*>(scratch);
  a.chunk_sum = reinterpret_cast<double*>(p);
  p += parts * sizeof(double);
  a.chunk_max = reinterpret_cast<float*>(p);
  a.chunk_finite = reinterpret_cast<int32_t*>(a.chunk_max + parts);
  a.chunk_bad = a.chunk_finite + parts;
  a.part_keys = reinterpret_cast<uint32_t*>(a.chunk_bad + parts);
  a.part_ids = reinterpret_cast<int32_t*>(a.part_keys + parts * a.k);
  top_chunk<<<dim3(static_cast<unsigned>(n_chunks), static_cast<unsigned>(a.n_rows)), kThreads, 0, s>>>(a);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const size_t smem = static_cast<size_t>(n_chunks) * a.k * 8;
  if (smem > 48 * 1024) {
    e = cudaFuncSetAttribute(top_merge, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  top_merge<<<static_cast<unsigned>(a.n_rows), kThreads, smem, s>>>(a, n_chunks);
  return cudaGetLastError();
}

}  // namespace hayate::cuda
