// Host logic of the CUDA backend's fused launches (issue 12, stage 7), without CUDA headers so that
// a CPU test checks it: how the thread blocks of one mat-vec launch over several weights (Q, K
// and V; gate and up) are shared out among them, and the HAYATE_CUDA_DISABLE list.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define HAYATE_FUSION_HD __host__ __device__ __forceinline__
#else
#define HAYATE_FUSION_HD inline
#endif

namespace hayate::cuda {

// Warps of a mat-vec thread block (matvec_fast.cu and matvec.cu use this one number).
constexpr int kMatvecWarps = 8;
// Weights one launch of matvec_parts takes.
constexpr int kMaxMatvecParts = 4;

// Thread blocks a weight of `rows` rows needs when a warp takes `rows_per_warp` rows and
// `split` warps share each group of rows (split-K): what its launch alone would have.
HAYATE_FUSION_HD int64_t part_blocks(int64_t rows, int rows_per_warp, int split) {
  const int64_t groups = (rows + rows_per_warp - 1) / rows_per_warp;
  const int64_t per_block = kMatvecWarps / split;
  return (groups + per_block - 1) / per_block;
}

// first[i] = the blocks of parts 0..i-1, so part i owns blocks [first[i], first[i + 1]); returns
// the blocks of all n parts (the launch's grid).
HAYATE_FUSION_HD int64_t part_first_blocks(int n, const int64_t* rows, const int* rows_per_warp, const int* split,
                                           int64_t* first) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    first[i] = total;
    total += part_blocks(rows[i], rows_per_warp[i], split[i]);
  }
  return total;
}

// The part that owns block b: the last i < n with first[i] <= b. The loop has a constant bound
// so that a kernel indexes its parameter arrays with constants only.
HAYATE_FUSION_HD int part_of_block(int n, const int64_t* first, int64_t b) {
  int part = 0;
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int i = 1; i < kMaxMatvecParts; ++i)
    if (i < n && b >= first[i]) part = i;
  return part;
}

// Whether `feature` is one of the comma-separated names of `list` (HAYATE_CUDA_DISABLE's value;
// null: none). Names are matched whole: "fuse" does not turn off "fuse_qkv".
inline bool feature_listed(const char* list, const char* feature) {
  if (!list || !feature || !*feature) return false;
  const size_t len = std::strlen(feature);
  for (const char* p = list;;) {
    const char* end = std::strchr(p, ',');
    const size_t n = end ? static_cast<size_t>(end - p) : std::strlen(p);
    if (n == len && std::strncmp(p, feature, len) == 0) return true;
    if (!end) return false;
    p = end + 1;
  }
}

}  // namespace hayate::cuda
