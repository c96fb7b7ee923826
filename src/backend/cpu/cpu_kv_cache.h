#pragma once

#include <vector>

#include "backend/backend.h"

namespace hayate {

// KV cache in host memory, fp32: for each layer, K and V of n_blocks * block_size slots of kv_dim floats.
class CpuKvCache : public KvCache {
 public:
  CpuKvCache(const HParams& hp, int32_t n_blocks, int32_t block_size);

  float* k(int32_t layer, int64_t slot) { return k_[layer].data() + slot * kv_dim; }
  float* v(int32_t layer, int64_t slot) { return v_[layer].data() + slot * kv_dim; }

 private:
  std::vector<std::vector<float>> k_, v_;
};

// The cache slot of a token at `position` in a sequence with this block table.
inline int64_t kv_slot(const std::vector<int32_t>& block_table, int32_t block_size, int32_t position) {
  return static_cast<int64_t>(block_table[position / block_size]) * block_size + position % block_size;
}

}  // namespace hayate
