// The BERT-family encoder's own operations (forward/encoder.h): LayerNorm of each row, GELU in
// its erf form, and bidirectional attention over sequences packed one after another, without a
// cache. f32 throughout, the host backends' formulas; only the order of the sums differs.
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/kernels.h"

namespace hayate::cuda {
namespace {

constexpr int kNormThreads = 128;

// The sum of v over the block (kNormThreads threads), returned to every thread. `scratch` holds
// a float per warp; the leading barrier lets the caller use it again for the next sum.
__device__ float block_sum(float v, float* scratch) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormThreads / 32; ++i) total += scratch[i];
  return total;
}

// One block a row: the mean, then the mean of the squared deviations (two passes, as the host
// backends), then (x - mean) / sqrt(var + eps) * w + b. Each thread writes only the elements it
// read, after both sums, so out may be x.
__global__ void __launch_bounds__(kNormThreads)
    layer_norm_kernel(const float* x, int64_t ldx, const float* w, const float* b, int64_t cols, float eps, float* out,
                      int64_t ldo) {
  __shared__ float scratch[kNormThreads / 32];
  const float* in = x + static_cast<int64_t>(blockIdx.x) * ldx;
  float* o = out + static_cast<int64_t>(blockIdx.x) * ldo;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < cols; i += kNormThreads) sum += in[i];
  const float mean = block_sum(sum, scratch) / static_cast<float>(cols);
  float sq = 0.0f;
  for (int64_t i = threadIdx.x; i < cols; i += kNormThreads) {
    const float d = in[i] - mean;
    sq += d * d;
  }
  const float var = block_sum(sq, scratch) / static_cast<float>(cols);
  const float inv = 1.0f / sqrtf(var + eps);
  for (int64_t i = threadIdx.x; i < cols; i += kNormThreads) o[i] = (in[i] - mean) * inv * w[i] + b[i];
}

__global__ void gelu_kernel(const float* x, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    out[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  }
}

// Attention: a block takes kQueries consecutive queries of one sequence and one head (kWarps
// warps of kPerWarp queries each) and walks the sequence's keys kKeys at a time, each step's keys
// and values staged once in shared memory for all of the block's queries. A lane scores one key
// against its warp's queries, then the online softmax (running max and sum per query) rescales
// the lane's output columns (lane, lane + 32, ...) and adds the step's weighted values.
constexpr int kWarps = 4;
constexpr int kPerWarp = 4;
constexpr int kQueries = kWarps * kPerWarp;
constexpr int kKeys = 32;  // one a lane

// HD: the largest head size the instance takes (head_dim <= HD, the rest zero-padded). K rows
// padded by one float, so that lanes reading one column of different keys hit different banks.
template <int HD>
struct AttnSmem {
  float q[kQueries][HD];
  float k[kKeys][HD + 1];
  float v[kKeys][HD];
};

template <int HD>
__global__ void __launch_bounds__(kWarps * 32) encoder_attention_kernel(EncoderAttentionArgs a) {
  __shared__ AttnSmem<HD> s;
  constexpr int kCols = HD / 32;  // output columns a lane accumulates
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int32_t first = a.tiles[3 * blockIdx.x], len = a.tiles[3 * blockIdx.x + 1], q0 = a.tiles[3 * blockIdx.x + 2];
  const int32_t hd = a.head_dim;
  const int64_t col0 = static_cast<int64_t>(blockIdx.y) * hd;
  const int32_t n_q = min(kQueries, len - q0);
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));

  for (int i = threadIdx.x; i < kQueries * HD; i += kWarps * 32) {
    const int r = i / HD, d = i % HD;
    s.q[r][d] = r < n_q && d < hd ? a.q[(first + q0 + r) * a.ldq + col0 + d] : 0.0f;
  }
  float m[kPerWarp], l[kPerWarp], acc[kPerWarp][kCols];
#pragma unroll
  for (int i = 0; i < kPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc[i][c] = 0.0f;
  }

  for (int32_t k0 = 0; k0 < len; k0 += kKeys) {
    const int32_t n_k = min(kKeys, len - k0);
    __syncthreads();  // the previous step's keys and values are read (and the queries written)
    for (int i = threadIdx.x; i < kKeys * HD; i += kWarps * 32) {
      const int r = i / HD, d = i % HD;
      const bool in = r < n_k && d < hd;
      const int64_t row = first + k0 + r;
      s.k[r][d] = in ? a.k[row * a.ldk + col0 + d] : 0.0f;
      s.v[r][d] = in ? a.v[row * a.ldv + col0 + d] : 0.0f;
    }
    __syncthreads();
    float score[kPerWarp] = {};
    for (int d = 0; d < HD; ++d) {
      const float kd = s.k[lane][d];
#pragma unroll
      for (int i = 0; i < kPerWarp; ++i) score[i] += s.q[warp * kPerWarp + i][d] * kd;
    }
#pragma unroll
    for (int i = 0; i < kPerWarp; ++i) {
      const float sc = lane < n_k ? score[i] * scale : -INFINITY;
      float top = sc;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, off));
      const float m_new = fmaxf(m[i], top);  // finite: every step has at least one key
      const float p = lane < n_k ? expf(sc - m_new) : 0.0f;
      float p_sum = p;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) p_sum += __shfl_xor_sync(0xffffffffu, p_sum, off);
      const float alpha = expf(m[i] - m_new);  // 0 on the first step (m = -inf)
      l[i] = l[i] * alpha + p_sum;
      m[i] = m_new;
#pragma unroll
      for (int c = 0; c < kCols; ++c) acc[i][c] *= alpha;
      for (int j = 0; j < n_k; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
        for (int c = 0; c < kCols; ++c) acc[i][c] += pj * s.v[j][lane + 32 * c];
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kPerWarp; ++i) {
    const int r = warp * kPerWarp + i;
    if (r >= n_q) continue;
    float* o = a.out + (first + q0 + r) * a.ldo + col0;
    const float inv = 1.0f / l[i];
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      if (lane + 32 * c < hd) o[lane + 32 * c] = acc[i][c] * inv;
  }
}

template <int HD>
cudaError_t launch_encoder_attention(const EncoderAttentionArgs& a, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(a.n_tiles), static_cast<unsigned>(a.n_head));
  encoder_attention_kernel<HD><<<grid, kWarps * 32, 0, s>>>(a);
  return cudaGetLastError();
}

}  // namespace

cudaError_t layer_norm(const float* x, int64_t ldx, const float* w, const float* b, int64_t rows, int64_t cols,
                       float eps, float* out, int64_t ldo, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  layer_norm_kernel<<<static_cast<unsigned>(rows), kNormThreads, 0, s>>>(x, ldx, w, b, cols, eps, out, ldo);
  return cudaGetLastError();
}

cudaError_t gelu(const float* x, float* out, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  gelu_kernel<<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), kThreads, 0, s>>>(x, out, n);
  return cudaGetLastError();
}

int32_t encoder_attention_tile_queries() { return kQueries; }

cudaError_t encoder_attention(const EncoderAttentionArgs& a, cudaStream_t s) {
  if (a.n_tiles == 0) return cudaSuccess;
  if (a.head_dim <= 32) return launch_encoder_attention<32>(a, s);
  if (a.head_dim <= 64) return launch_encoder_attention<64>(a, s);
  if (a.head_dim <= kMaxEncoderHeadDim) return launch_encoder_attention<kMaxEncoderHeadDim>(a, s);
  return cudaErrorInvalidValue;
}

}  // namespace hayate::cuda
