// Internal: causal attention of one token over its sequence's cached positions, for all the
// query heads that share one KV head (grouped-query attention reads each K/V row once for the
// whole group). Softmax is computed online over chunks of positions (flash-attention style): a
// running maximum, a running sum and a rescaled output accumulator, so no score row of the
// context's length is kept. K and V are f32, f16 or Q8_0 (CpuKvCache).
#pragma once

#include <cstdint>

#include "backend/cpu/cpu_kv_cache.h"

namespace hayate::detail {

struct AttendGroup {
  const void* k_base = nullptr;  // this layer's K blocks (kv_head_at())
  const void* v_base = nullptr;
  KvType values = KvType::F32;  // Q8_0: blocks of 32 values, each head's slice whole blocks
  int64_t kv_dim = 0;
  const int32_t* block_table = nullptr;  // the sequence's blocks
  int32_t block_size = 0;
  int32_t first = 0;  // attends to positions [first, pos] (first > 0: a sliding window)
  int32_t pos = 0;
  int32_t kv_head = 0;
  int32_t head_dim = 0;
  int32_t n_q = 0;           // query heads of the group (at most kMaxGroup)
  const float* q = nullptr;  // n_q heads of head_dim floats, consecutive
  float* out = nullptr;      // same layout as q
};

// The first value of the group's KV head in cache slot `slot`.
inline int64_t head_at(const AttendGroup& a, int64_t slot) {
  return kv_head_at(slot, a.kv_head, a.block_size, a.kv_dim, a.head_dim);
}

// 2^f for |f| <= 1/2 by a degree-6 polynomial (relative error about 2e-7), highest power
// first: the exponentials of the SIMD kernels' online softmax.
constexpr float kExp2Poly[7] = {1.5403530393381606e-4f,
                                1.3333558146428443e-3f,
                                9.6181291076284772e-3f,
                                5.5504108664821580e-2f,
                                2.4022650695910071e-1f,
                                6.9314718055994531e-1f,
                                1.0f};

constexpr int32_t kMaxGroup = 16;
constexpr int32_t kMaxHeadDim = 512;

void attend_group_scalar(const AttendGroup& a);
void attend_group_avx2(const AttendGroup& a);  // only after quant::detail::cpu_has_avx2()

// Several tokens of one sequence at once (a prompt), n_tok × n_q <= kTileLanes query heads, one
// per vector lane: each chunk of K and V is read once for all of them. Token i attends to
// [first[i], pos[i]] with the query heads q[i] and writes out[i]; every token's result is bit for
// bit the one it gets alone (chunks start at multiples of the chunk size whatever the tile).
// Fields of `a` other than first, pos, q and out describe the shared sequence and head. Only after
// quant::detail::cpu_has_avx512(); head_dim a multiple of 16.
constexpr int32_t kTileLanes = 32;
void attend_tile_avx512(const AttendGroup& a, int32_t n_tok, const int32_t* first, const int32_t* pos,
                        const float* const* q, float* const* out);

}  // namespace hayate::detail
