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
#include <type_traits>

#include "backend/cuda/kernels.h"
#include "backend/cuda/matvec_fast.cuh"

namespace hayate::cuda {
namespace {

using fast::F32Act;
using fast::Fast;
using fast::Q16Act;
using fast::Q8Act;

constexpr int kWarps = kMatvecWarps;  // warps per thread block

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// R consecutive rows to a group of `parts` warps (kWarps / parts groups a block), NT tokens; a
// warp's lanes take kPerIter blocks at a time, the parts of a group every parts-th round of them.
// The parts' sums meet in shared memory and are added in part order: deterministic. `block` is
// the thread block's index among those of this weight (matvec_fast_parts runs several weights'
// blocks in one grid, each through this same code).
template <uint32_t T, int NT, int R, typename Act>
__device__ __forceinline__ void row_group(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes,
                                          const Act& act, float* out, int64_t ldo, const float* bias, int parts,
                                          int64_t block) {
  __shared__ float partial[kWarps][R * NT];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int part = warp % parts;
  const int64_t row0 = (block * (kWarps / parts) + warp / parts) * R;
  const bool active = row0 < rows;
  float acc[R][NT];
  if (active) fast::lane_sums<T, NT, R>(w, rows, cols, row_bytes, act, row0, lane, acc, part, parts);
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

template <uint32_t T, int NT, int R, typename Act, int MinBlocks = 1>
__global__ void __launch_bounds__(kWarps * 32, MinBlocks)
    matvec_fast(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes, Act act, float* out, int64_t ldo,
                const float* bias, int parts) {
  row_group<T, NT, R>(w, rows, cols, row_bytes, act, out, ldo, bias, parts, blockIdx.x);
}

// The int8 and int16 paths' activations (fast::Q8Act, Q16Act): a warp a block of 32, codes and
// scale as the host's fast::quantize_act_block / quantize_act16_block make them (the same scale
// and code functions; the maximum is exact).
template <typename Code>
__global__ void quantize_act(const float* x, int64_t ldx, int64_t n_tokens, int64_t cols, Code* q, float* d) {
  const int64_t per_token = cols / 32;
  const int64_t block = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  if (block >= n_tokens * per_token) return;  // the whole warp
  const int lane = threadIdx.x % 32;
  const int64_t t = block / per_token, b = block % per_token;
  const float v = x[t * ldx + 32 * b + lane];
  float amax = fabsf(v);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  float inverse = 0.0f;
  if constexpr (sizeof(Code) == 2) {
    const float scale = fast::act16_scale(amax, inverse);
    q[t * cols + 32 * b + lane] = fast::act16_code(v, inverse);
    if (lane == 0) d[t * per_token + b] = scale;
  } else {
    const float scale = fast::act_scale(amax, inverse);
    q[t * cols + 32 * b + lane] = fast::act_code(v, inverse);
    if (lane == 0) d[t * per_token + b] = scale;
  }
}

// Several weights of one type in one grid (matvec_parts): block b runs row_group for the part
// that owns it (fusion.h: part_first_blocks), with that part's rows a warp (1 or kBigRows, the
// two that rows_per_warp gives at NT tokens) and warps a row.
struct FastParts {
  int n = 0;
  const uint8_t* w[kMaxMatvecParts] = {};
  int64_t rows[kMaxMatvecParts] = {}, row_bytes[kMaxMatvecParts] = {}, ldo[kMaxMatvecParts] = {};
  int64_t first[kMaxMatvecParts] = {};
  float* out[kMaxMatvecParts] = {};
  const float* bias[kMaxMatvecParts] = {};
  int rows_per_warp[kMaxMatvecParts] = {}, split[kMaxMatvecParts] = {};
};

template <int NT>
inline constexpr int kBigRows = NT <= 2 ? 2 : 4;

template <uint32_t T, int NT, typename Act>
__global__ void __launch_bounds__(kWarps * 32) matvec_fast_parts(FastParts p, int64_t cols, Act act) {
  const int i = part_of_block(p.n, p.first, blockIdx.x);
  // Constant indices only (a dynamic one would copy the parameters to local memory).
  const uint8_t* w = p.w[0];
  int64_t rows = p.rows[0], row_bytes = p.row_bytes[0], ldo = p.ldo[0], first = p.first[0];
  float* out = p.out[0];
  const float* bias = p.bias[0];
  int r = p.rows_per_warp[0], split = p.split[0];
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
      r = p.rows_per_warp[k];
      split = p.split[k];
    }
  const int64_t block = blockIdx.x - first;
  if (r == kBigRows<NT>)
    row_group<T, NT, kBigRows<NT>>(w, rows, cols, row_bytes, act, out, ldo, bias, split, block);
  else
    row_group<T, NT, 1>(w, rows, cols, row_bytes, act, out, ldo, bias, split, block);
}

// The feed-forward's gate and up products and SwiGLU in one pass: a warp takes row `row` of both
// matrices (the activations loaded once per block of both), and writes silu(gate) * up, as
// swiglu_kernel computes it, so neither product goes through memory.
template <uint32_t T, int NT, typename Act>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_fast_swiglu(const uint8_t* wg, const uint8_t* wu, int64_t rows, int64_t cols, int64_t row_bytes, Act act,
                       float* out, int64_t ldo) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp
  float g[1][NT], u[1][NT];
  fast::lane_sums<T, NT, 1>(wg, rows, cols, row_bytes, act, row, lane, g);
  fast::lane_sums<T, NT, 1>(wu, rows, cols, row_bytes, act, row, lane, u);
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    const float gs = warp_sum(g[0][t]), us = warp_sum(u[0][t]);
    if (lane == 0) out[t * ldo + row] = gs / (1.0f + expf(-gs)) * us;
  }
}

template <uint32_t T, int NT, typename Act>
cudaError_t launch_swiglu(const DevWeight& g, const DevWeight& u, Act act, float* out, int64_t ldo, cudaStream_t s) {
  const auto blocks = static_cast<unsigned>((g.rows + kWarps - 1) / kWarps);
  matvec_fast_swiglu<T, NT><<<blocks, kWarps * 32, 0, s>>>(static_cast<const uint8_t*>(g.data),
                                                           static_cast<const uint8_t*>(u.data), g.rows, g.cols,
                                                           g.row_bytes, act, out, ldo);
  return cudaGetLastError();
}

template <uint32_t T, typename Act>
cudaError_t launch_swiglu_type(const DevWeight& g, const DevWeight& u, Act act, int64_t n_tokens, float* out,
                               int64_t ldo, cudaStream_t s) {
  using Launch = cudaError_t (*)(const DevWeight&, const DevWeight&, Act, float*, int64_t, cudaStream_t);
  static constexpr Launch kByTokens[] = {launch_swiglu<T, 1, Act>, launch_swiglu<T, 2, Act>, launch_swiglu<T, 3, Act>,
                                         launch_swiglu<T, 4, Act>, launch_swiglu<T, 5, Act>, launch_swiglu<T, 6, Act>,
                                         launch_swiglu<T, 7, Act>, launch_swiglu<T, 8, Act>};
  return kByTokens[n_tokens - 1](g, u, act, out, ldo, s);
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

template <uint32_t T, int NT, int R, typename Act>
cudaError_t launch(const DevWeight& w, Act act, float* out, int64_t ldo, const float* bias, cudaStream_t s) {
  const int parts = parts_per_row<T, NT, R>(w.rows, w.cols);
  const int64_t groups = (w.rows + R - 1) / R, per_block = kWarps / parts;
  const auto blocks = static_cast<unsigned>((groups + per_block - 1) / per_block);
  const auto* data = static_cast<const uint8_t*>(w.data);
  if constexpr (T == kQ4_K && NT == 1 && R <= 2) {
    if (four_blocks_an_sm())
      matvec_fast<T, NT, R, Act, 4>
          <<<blocks, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, act, out, ldo, bias, parts);
    else
      matvec_fast<T, NT, R, Act>
          <<<blocks, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, act, out, ldo, bias, parts);
  } else {
    matvec_fast<T, NT, R, Act>
        <<<blocks, kWarps * 32, 0, s>>>(data, w.rows, w.cols, w.row_bytes, act, out, ldo, bias, parts);
  }
  return cudaGetLastError();
}

template <uint32_t T, int R, typename Act>
cudaError_t launch_rows(const DevWeight& w, Act act, int64_t n_tokens, float* out, int64_t ldo, const float* bias,
                        cudaStream_t s) {
  using Launch = cudaError_t (*)(const DevWeight&, Act, float*, int64_t, const float*, cudaStream_t);
  static constexpr Launch kByTokens[] = {launch<T, 1, R, Act>, launch<T, 2, R, Act>, launch<T, 3, R, Act>,
                                         launch<T, 4, R, Act>, launch<T, 5, R, Act>, launch<T, 6, R, Act>,
                                         launch<T, 7, R, Act>, launch<T, 8, R, Act>};
  return kByTokens[n_tokens - 1](w, act, out, ldo, bias, s);
}

template <uint32_t T, typename Act>
cudaError_t launch_type(const DevWeight& w, Act act, int64_t n_tokens, float* out, int64_t ldo, const float* bias,
                        cudaStream_t s) {
  switch (rows_per_warp(w.rows, n_tokens)) {
    case 4:
      return launch_rows<T, 4>(w, act, n_tokens, out, ldo, bias, s);
    case 2:
      return launch_rows<T, 2>(w, act, n_tokens, out, ldo, bias, s);
    default:
      return launch_rows<T, 1>(w, act, n_tokens, out, ldo, bias, s);
  }
}

// Rows a warp and warps a row of weight w as its own launch would take them (launch_type,
// launch): the fused grid gives each part the same, so each row is the same sum.
template <uint32_t T, int NT>
void part_shape(const DevWeight& w, int& rows_per_warp_out, int& split) {
  rows_per_warp_out = rows_per_warp(w.rows, NT);
  switch (rows_per_warp_out) {
    case 4:
      split = parts_per_row<T, NT, 4>(w.rows, w.cols);
      break;
    case 2:
      split = parts_per_row<T, NT, 2>(w.rows, w.cols);
      break;
    default:
      split = parts_per_row<T, NT, 1>(w.rows, w.cols);
  }
}

template <uint32_t T, int NT, typename Act>
cudaError_t launch_parts(const MatvecParts& m, Act act, cudaStream_t s) {
  FastParts p;
  p.n = m.n;
  for (int i = 0; i < m.n; ++i) {
    p.w[i] = static_cast<const uint8_t*>(m.w[i].data);
    p.rows[i] = m.w[i].rows;
    p.row_bytes[i] = m.w[i].row_bytes;
    p.ldo[i] = m.ldo[i];
    p.out[i] = m.out[i];
    p.bias[i] = m.bias[i];
    part_shape<T, NT>(m.w[i], p.rows_per_warp[i], p.split[i]);
    if (p.rows_per_warp[i] != 1 && p.rows_per_warp[i] != kBigRows<NT>) return cudaErrorInvalidValue;
  }
  const int64_t blocks = part_first_blocks(p.n, p.rows, p.rows_per_warp, p.split, p.first);
  matvec_fast_parts<T, NT><<<static_cast<unsigned>(blocks), kWarps * 32, 0, s>>>(p, m.w[0].cols, act);
  return cudaGetLastError();
}

template <uint32_t T, typename Act>
cudaError_t launch_parts_type(const MatvecParts& m, Act act, int64_t n_tokens, cudaStream_t s) {
  using Launch = cudaError_t (*)(const MatvecParts&, Act, cudaStream_t);
  static constexpr Launch kByTokens[] = {launch_parts<T, 1, Act>, launch_parts<T, 2, Act>, launch_parts<T, 3, Act>,
                                         launch_parts<T, 4, Act>, launch_parts<T, 5, Act>, launch_parts<T, 6, Act>,
                                         launch_parts<T, 7, Act>, launch_parts<T, 8, Act>};
  return kByTokens[n_tokens - 1](m, act, s);
}

// The activations of a call as the kernels read them: f32 (q8 null), or quantized into q8's
// scratch first (the int8 path), then `run(act)` with F32Act or Q8Act.
template <typename Run>
cudaError_t with_act(const float* x, int64_t ldx, int64_t n_tokens, int64_t cols, const ActQ8* q8, cudaStream_t s,
                     Run&& run) {
  if (!q8) return run(F32Act{x, ldx});
  auto* q16 = reinterpret_cast<int16_t*>(q8->q);
  if (!q8->ready) {
    const int64_t threads = n_tokens * cols;  // a thread a value, a warp a block of 32
    const auto blocks = static_cast<unsigned>((threads + 255) / 256);
    if (q8->bits16)
      quantize_act<<<blocks, 256, 0, s>>>(x, ldx, n_tokens, cols, q16, q8->d);
    else
      quantize_act<<<blocks, 256, 0, s>>>(x, ldx, n_tokens, cols, q8->q, q8->d);
    if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  if (q8->bits16) return run(Q16Act{q16, q8->d, cols});
  return run(Q8Act{q8->q, q8->d, cols});
}

// Q4_K's layout on the int8 and int16 paths: fast::kQ4_K_Wide (16 code bytes a lane), or with
// HAYATE_CUDA_MATVEC_WIDE=0 Fast<kQ4_K>'s 8 (read per launch: the benchmark compares the two).
bool q4k_wide() {
  const char* v = std::getenv("HAYATE_CUDA_MATVEC_WIDE");
  return !(v && std::strcmp(v, "0") == 0);
}

// run(std::integral_constant<uint32_t, T>) for the weight's format T (Q4_K, Q6_K or Q8_0) and the
// kernels' activations Act: Q4_K takes its wide layout with 8- and 16-bit activations.
template <typename Act, typename Run>
cudaError_t by_type(uint32_t type, Run&& run) {
  switch (type) {
    case kQ4_K:
      if constexpr (!std::is_same_v<Act, F32Act>)
        if (q4k_wide()) return run(std::integral_constant<uint32_t, fast::kQ4_K_Wide>{});
      return run(std::integral_constant<uint32_t, kQ4_K>{});
    case kQ6_K:
      return run(std::integral_constant<uint32_t, kQ6_K>{});
    default:
      return run(std::integral_constant<uint32_t, kQ8_0>{});
  }
}

template <uint32_t T>
bool parts_shapes_fit(const MatvecParts& m, int64_t n_tokens) {
  const int big = n_tokens <= 2 ? 2 : 4;
  for (int i = 0; i < m.n; ++i) {
    const int r = rows_per_warp(m.w[i].rows, n_tokens);
    if (r != 1 && r != big) return false;
    // The one-token Q4_K kernels built for 4 blocks an SM have their own register budget.
    if (T == kQ4_K && n_tokens == 1 && r <= 2 && four_blocks_an_sm()) return false;
  }
  return true;
}

}  // namespace

bool matvec_fast_parts_fits(const MatvecParts& m, const float* x, int64_t ldx, int64_t n_tokens) {
  if (m.n < 2 || m.n > kMaxMatvecParts || n_tokens < 1 || n_tokens > kMatvecFastMaxTokens) return false;
  for (int i = 0; i < m.n; ++i)
    if (m.w[i].type != m.w[0].type || m.w[i].cols != m.w[0].cols || !matvec_fast_fits(m.w[i], x, ldx, n_tokens))
      return false;
  switch (m.w[0].type) {
    case kQ4_K:
      return parts_shapes_fit<kQ4_K>(m, n_tokens);
    case kQ6_K:
      return parts_shapes_fit<kQ6_K>(m, n_tokens);
    default:
      return parts_shapes_fit<kQ8_0>(m, n_tokens);
  }
}

cudaError_t matvec_fast_parts(const MatvecParts& m, const float* x, int64_t ldx, int64_t n_tokens, cudaStream_t s,
                              const ActQ8* q8) {
  if (!matvec_fast_parts_fits(m, x, ldx, n_tokens)) return cudaErrorInvalidValue;
  return with_act(x, ldx, n_tokens, m.w[0].cols, q8, s, [&](auto act) {
    return by_type<decltype(act)>(m.w[0].type, [&](auto t) { return launch_parts_type<decltype(t)::value>(m, act, n_tokens, s); });
  });
}

bool matvec_fast_fits(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens) {
  if (n_tokens < 1 || n_tokens > kMatvecFastMaxTokens) return false;
  if (w.type != kQ4_K && w.type != kQ6_K && w.type != kQ8_0) return false;
  // 16-byte activation loads; Q4_K's 16-byte header loads need 16-byte aligned rows (144-byte
  // blocks: so they are when the data is), the others 2-byte ones (their rows have even sizes).
  return reinterpret_cast<uintptr_t>(x) % 16 == 0 && ldx % 4 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0 &&
         w.row_bytes % (w.type == kQ4_K ? 16 : 2) == 0;
}

cudaError_t matvec_fast(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out, int64_t ldo,
                        const float* bias, cudaStream_t s, const ActQ8* q8) {
  if (n_tokens <= 0 || w.rows <= 0) return cudaSuccess;
  if (!matvec_fast_fits(w, x, ldx, n_tokens)) return cudaErrorInvalidValue;
  return with_act(x, ldx, n_tokens, w.cols, q8, s, [&](auto act) {
    return by_type<decltype(act)>(w.type,
                                  [&](auto t) { return launch_type<decltype(t)::value>(w, act, n_tokens, out, ldo, bias, s); });
  });
}

bool matvec_fast_swiglu_fits(const DevWeight& gate, const DevWeight& up, const float* x, int64_t ldx,
                             int64_t n_tokens) {
  return gate.type == up.type && gate.rows == up.rows && gate.cols == up.cols && gate.row_bytes == up.row_bytes &&
         matvec_fast_fits(gate, x, ldx, n_tokens) && matvec_fast_fits(up, x, ldx, n_tokens);
}

cudaError_t matvec_fast_swiglu(const DevWeight& gate, const DevWeight& up, const float* x, int64_t ldx,
                               int64_t n_tokens, float* out, int64_t ldo, cudaStream_t s, const ActQ8* q8) {
  if (n_tokens <= 0 || gate.rows <= 0) return cudaSuccess;
  if (!matvec_fast_swiglu_fits(gate, up, x, ldx, n_tokens)) return cudaErrorInvalidValue;
  return with_act(x, ldx, n_tokens, gate.cols, q8, s, [&](auto act) {
    return by_type<decltype(act)>(gate.type, [&](auto t) {
      return launch_swiglu_type<decltype(t)::value>(gate, up, act, n_tokens, out, ldo, s);
    });
  });
}

size_t act_q8_bytes(int64_t n_tokens, int64_t cols, bool bits16) {
  return static_cast<size_t>(n_tokens * cols) * (bits16 ? 2 : 1) +
         static_cast<size_t>(n_tokens * (cols / 32)) * sizeof(float);
}

ActQ8 act_q8_in(void* scratch, int64_t n_tokens, int64_t cols, bool bits16) {
  auto* q = static_cast<int8_t*>(scratch);
  ActQ8 a{q, reinterpret_cast<float*>(q + n_tokens * cols * (bits16 ? 2 : 1))};
  a.bits16 = bits16;
  return a;
}

}  // namespace hayate::cuda
