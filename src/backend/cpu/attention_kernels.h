// Internal: causal attention of one token over its sequence's cached positions, for all the
// query heads that share one KV head (grouped-query attention reads each K/V row once for the
// whole group). Softmax is computed online over chunks of positions (flash-attention style): a
// running maximum, a running sum and a rescaled output accumulator, so no score row of the
// context's length is kept.
#pragma once

#include <cstdint>

namespace hayate::detail {

struct AttendGroup {
  const float* k_base = nullptr;  // this layer's K slots (slot s at k_base + s * kv_dim)
  const float* v_base = nullptr;
  int64_t kv_dim = 0;
  const int32_t* block_table = nullptr;  // the sequence's blocks
  int32_t block_size = 0;
  int32_t pos = 0;  // attends to positions [0, pos]
  int32_t kv_head = 0;
  int32_t head_dim = 0;
  int32_t n_q = 0;           // query heads of the group (at most kMaxGroup)
  const float* q = nullptr;  // n_q heads of head_dim floats, consecutive
  float* out = nullptr;      // same layout as q
};

constexpr int32_t kMaxGroup = 16;
constexpr int32_t kMaxHeadDim = 512;

void attend_group_scalar(const AttendGroup& a);
void attend_group_avx2(const AttendGroup& a);  // only after quant::detail::cpu_has_avx2()

}  // namespace hayate::detail
