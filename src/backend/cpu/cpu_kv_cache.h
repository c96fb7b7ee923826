#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "backend/backend.h"

namespace hayate {

// How the host backends store K and V: f32, f16 (half the memory and bandwidth of long
// contexts, each value within 2^-11) or q8_0 (blocks of 32 values with one fp16 scale: 34 bytes
// for 128 of f32; the head size must be a multiple of 32).
enum class KvType { F32, F16, Q8_0 };

// The fast backend's choice from HAYATE_KV_TYPE; none when the variable is unset or empty
// (Error(BadInput) on another word).
std::optional<KvType> cpu_kv_type();
// The fast backend's KV type for a model when HAYATE_KV_TYPE does not say: f16, as the reference
// engine's default, for a model with quantized matrices; f32 for one of float matrices (f32, f16,
// bf16), which is run for exactness: the CPU backend's logits stay within 1e-4 of the reference
// backend's (backend_forward_test) and of transformers' (hf_reference_test), and f16 K/V alone
// move them by 3e-4 to 1.5e-3. Before a model is known (no prepare()), f32.
KvType default_kv_type(bool quantized_weights);
// Bytes of `n` values of a row (n a multiple of 32 for Q8_0).
size_t kv_bytes(KvType type, int64_t n);

// Where the values of KV head `kv_head` of cache slot `slot` start in a layer: each block of
// block_size slots holds its heads one after another, a head's rows of consecutive positions
// together, so attention reads one head's chunk of positions as one stream (a slot-major layout
// had the hardware prefetcher chasing head-sized slices at a whole row's stride).
inline int64_t kv_head_at(int64_t slot, int32_t kv_head, int32_t block_size, int64_t kv_dim, int32_t head_dim) {
  return slot / block_size * block_size * kv_dim + static_cast<int64_t>(kv_head) * block_size * head_dim +
         slot % block_size * head_dim;
}

// KV cache in host memory: for each layer, K and V of n_blocks blocks of block_size slots of
// kv_dim values, laid out as kv_head_at() says.
class CpuKvCache : public KvCache {
 public:
  CpuKvCache(const HParams& hp, int32_t n_blocks, int32_t block_size, KvType type);

  KvType type() const { return type_; }
  // This layer's blocks (kv_head_at()).
  const void* k(int32_t layer) const { return k_[layer].get(); }
  const void* v(int32_t layer) const { return v_[layer].get(); }
  // Writes one token's K and V rows (kv_dim floats each) into `slot`.
  void store(int32_t layer, int64_t slot, const float* k, const float* v);
  // Reads n values of a slot from `offset` (within one head) as floats.
  void load_k(int32_t layer, int64_t slot, int64_t offset, int64_t n, float* dst) const;
  void load_v(int32_t layer, int64_t slot, int64_t offset, int64_t n, float* dst) const;

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  using Bytes = std::unique_ptr<uint8_t[], Free>;
  size_t at(int64_t slot, int64_t offset) const {
    return kv_bytes(type_, kv_head_at(slot, static_cast<int32_t>(offset / head_dim_), block_size, kv_dim, head_dim_) +
                               offset % head_dim_);
  }
  KvType type_;
  int32_t head_dim_;
  std::vector<Bytes> k_, v_;
};

// The cache slot of a token at `position` in a sequence with this block table.
inline int64_t kv_slot(const std::vector<int32_t>& block_table, int32_t block_size, int32_t position) {
  return static_cast<int64_t>(block_table[position / block_size]) * block_size + position % block_size;
}

}  // namespace hayate
