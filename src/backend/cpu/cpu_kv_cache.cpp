#include "backend/cpu/cpu_kv_cache.h"

#include "core/error.h"

namespace hayate {

CpuKvCache::CpuKvCache(const HParams& hp, int32_t blocks, int32_t bs) {
  if (blocks <= 0 || bs <= 0) fail(ErrorKind::BadInput, "KV cache needs a positive number of blocks and block size");
  n_layer = hp.n_layer;
  n_blocks = blocks;
  block_size = bs;
  kv_dim = hp.kv_dim();
  const size_t per_layer = static_cast<size_t>(blocks) * bs * kv_dim;
  bytes = per_layer * sizeof(float) * 2 * n_layer;
  try {
    k_.resize(n_layer);
    v_.resize(n_layer);
    for (int32_t l = 0; l < n_layer; ++l) {
      k_[l].assign(per_layer, 0.0f);
      v_[l].assign(per_layer, 0.0f);
    }
  } catch (const std::bad_alloc&) {
    fail(ErrorKind::ResourceExhausted,
         "cannot allocate a KV cache of " + std::to_string(bytes >> 20) + " MiB; use a shorter context (--ctx-size)");
  }
}

}  // namespace hayate
