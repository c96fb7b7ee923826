// Causal attention for prompt batches, tiled: one block takes a tile of up to kRows query rows
// (consecutive tokens of one sequence x the query heads of one KV head) and walks the keys
// [0, the tile's last position] in steps of kKeys, each step's keys and values read from the
// paged cache once into shared memory and used by every row of the tile (the split-K kernel of
// attention.cu reads them once per token and head). f32 throughout, like that kernel: the same
// sums but for their order.
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/kernels.h"

namespace hayate::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kRows = 64;  // query rows of a tile (4 a thread, 16 threads a row group)
constexpr int kKeys = 32;  // keys per step (2 a thread)
constexpr int kRowsPerThread = 4;
constexpr int kCols = 16;  // threads sharing a row group

// HD: the largest head size; rows of Q and K padded by one float so that threads reading one
// column of different rows hit different banks.
template <int HD>
struct Smem {
  float q[kRows][HD + 1];
  float k[kKeys][HD + 1];
  float v[kKeys][HD];
  float p[kRows][kKeys + 1];
  int32_t slot[kKeys];
  int32_t max_pos;
};

// D: head dims a thread accumulates (head_dim <= 16 * D).
template <int D>
__global__ void __launch_bounds__(kThreads) attention_prefill_kernel(AttentionArgs a) {
  extern __shared__ __align__(16) unsigned char raw[];
  Smem<D* kCols>& s = *reinterpret_cast<Smem<D * kCols>*>(raw);
  const int tid = threadIdx.x, tx = tid % kCols, ty = tid / kCols;
  const int32_t hd = a.head_dim, group = a.n_head / a.n_head_kv, kv_head = blockIdx.y;
  const int32_t t0 = a.tiles[2 * blockIdx.x], n_tile = a.tiles[2 * blockIdx.x + 1];
  const int32_t n_rows = n_tile * group;  // <= kRows: the host sizes tiles so
  const int32_t* table = a.block_tables + static_cast<int64_t>(a.seq[t0]) * a.max_blocks;
  const float scale = rsqrtf(static_cast<float>(hd));

  if (tid == 0) s.max_pos = 0;
  __syncthreads();
  // Row r: token t0 + r / group, query head kv_head * group + r % group.
  for (int i = tid; i < kRows * hd; i += kThreads) {
    const int r = i / hd, d = i % hd;
    float v = 0.0f;
    if (r < n_rows) {
      const int64_t t = t0 + r / group, h = int64_t{kv_head} * group + r % group;
      v = a.q[t * a.ldq + h * hd + d] * scale;
    }
    s.q[r][d] = v;
  }
  if (tid < n_tile) atomicMax(&s.max_pos, a.positions[t0 + tid]);
  int32_t pos[kRowsPerThread];
  float m[kRowsPerThread], l[kRowsPerThread], acc[kRowsPerThread][D];
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int r = ty * kRowsPerThread + i;
    pos[i] = r < n_rows ? a.positions[t0 + r / group] : -1;  // -1: a row past the tile sees no key
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int j = 0; j < D; ++j) acc[i][j] = 0.0f;
  }
  __syncthreads();
  const int32_t end = s.max_pos + 1;

  for (int32_t k0 = 0; k0 < end; k0 += kKeys) {
    if (tid < kKeys) {
      const int32_t p = k0 + tid;
      s.slot[tid] = p < end ? table[p / a.block_size] * a.block_size + p % a.block_size : -1;
    }
    __syncthreads();
    for (int i = tid; i < kKeys * hd; i += kThreads) {
      const int j = i / hd, d = i % hd;
      const int32_t slot = s.slot[j];
      const int64_t at = static_cast<int64_t>(slot) * a.kv_dim + static_cast<int64_t>(kv_head) * hd + d;
      s.k[j][d] = slot >= 0 ? a.k_cache[at] : 0.0f;
      s.v[j][d] = slot >= 0 ? a.v_cache[at] : 0.0f;
    }
    __syncthreads();
    // Scores of rows ty*4.. and keys tx, tx + 16.
    float sc[kRowsPerThread][2] = {};
    for (int d = 0; d < hd; ++d) {
      const float k_a = s.k[tx][d], k_b = s.k[tx + kCols][d];
#pragma unroll
      for (int i = 0; i < kRowsPerThread; ++i) {
        const float qv = s.q[ty * kRowsPerThread + i][d];
        sc[i][0] += qv * k_a;
        sc[i][1] += qv * k_b;
      }
    }
    // Online softmax over this step's keys, each row's max and sum over its 16 threads.
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      const bool in_a = k0 + tx <= pos[i], in_b = k0 + tx + kCols <= pos[i];
      float mx = fmaxf(in_a ? sc[i][0] : -INFINITY, in_b ? sc[i][1] : -INFINITY);
#pragma unroll
      for (int o = kCols / 2; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
      const float m_new = fmaxf(m[i], mx);
      // A row with no key here yet (m_new still -inf) keeps zeros.
      const float corr = m_new == -INFINITY ? 1.0f : expf(m[i] - m_new);
      const float pa = in_a ? expf(sc[i][0] - m_new) : 0.0f, pb = in_b ? expf(sc[i][1] - m_new) : 0.0f;
      float sum = pa + pb;
#pragma unroll
      for (int o = kCols / 2; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
      l[i] = l[i] * corr + sum;
      m[i] = m_new;
#pragma unroll
      for (int j = 0; j < D; ++j) acc[i][j] *= corr;
      s.p[ty * kRowsPerThread + i][tx] = pa;
      s.p[ty * kRowsPerThread + i][tx + kCols] = pb;
    }
    __syncthreads();
    for (int j = 0; j < kKeys; ++j) {
      float pv[kRowsPerThread];
#pragma unroll
      for (int i = 0; i < kRowsPerThread; ++i) pv[i] = s.p[ty * kRowsPerThread + i][j];
#pragma unroll
      for (int c = 0; c < D; ++c) {
        const int d = tx + kCols * c;
        const float vv = d < hd ? s.v[j][d] : 0.0f;
#pragma unroll
        for (int i = 0; i < kRowsPerThread; ++i) acc[i][c] += pv[i] * vv;
      }
    }
    __syncthreads();  // before the next step overwrites the keys, values and weights
  }

#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int r = ty * kRowsPerThread + i;
    if (r >= n_rows) continue;
    const int64_t t = t0 + r / group, h = int64_t{kv_head} * group + r % group;
    const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
    float* o = a.out + t * a.ldo + h * hd;
#pragma unroll
    for (int c = 0; c < D; ++c) {
      const int d = tx + kCols * c;
      if (d < hd) o[d] = acc[i][c] * inv;
    }
  }
}

template <int D>
cudaError_t launch(const AttentionArgs& a, cudaStream_t s) {
  constexpr size_t bytes = sizeof(Smem<D * kCols>);
  // Over the 48 KiB a block gets without asking (asked once, before any capture needs it).
  static const cudaError_t allowed = cudaFuncSetAttribute(
      attention_prefill_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (allowed != cudaSuccess) return allowed;
  const dim3 grid(static_cast<unsigned>(a.n_tiles), static_cast<unsigned>(a.n_head_kv));
  attention_prefill_kernel<D><<<grid, kThreads, bytes, s>>>(a);
  return cudaGetLastError();
}

}  // namespace

int32_t attention_prefill_tile_tokens(int32_t n_head, int32_t n_head_kv) {
  if (n_head_kv <= 0 || n_head % n_head_kv != 0) return 0;
  return kRows / (n_head / n_head_kv);  // 0 when a KV head has more query heads than a tile's rows
}

cudaError_t attention_prefill(const AttentionArgs& a, cudaStream_t s) {
  if (a.n_tiles <= 0) return cudaSuccess;
  if (a.head_dim <= 0 || a.head_dim > kMaxHeadDim || a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0 ||
      attention_prefill_tile_tokens(a.n_head, a.n_head_kv) <= 0 || !a.tiles || a.window > 0)
    return cudaErrorInvalidValue;  // windowed layers take the split kernel (cuda_matmul.cpp)
  if (a.head_dim <= 64) return launch<4>(a, s);
  if (a.head_dim <= 128) return launch<8>(a, s);
  return launch<16>(a, s);
}

}  // namespace hayate::cuda
