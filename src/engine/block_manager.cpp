#include "engine/block_manager.h"

#include <string>

#include "core/error.h"

namespace hayate {

BlockManager::BlockManager(int32_t n_blocks)
    : refs_(static_cast<size_t>(n_blocks), 0), cached_(static_cast<size_t>(n_blocks), false) {
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // hand out low ids first
}

int32_t BlockManager::allocate() {
  if (free_.empty()) return -1;
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  ++n_active_;
  return b;
}

void BlockManager::retain(int32_t block) {
  if (block < 0 || block >= n_blocks() || refs_[block] == 0)
    fail(ErrorKind::Internal, "retain of KV block " + std::to_string(block) + " that is not in use");
  n_active_ += !active(block);
  ++refs_[block];
}

void BlockManager::release(int32_t block) {
  if (block < 0 || block >= n_blocks() || refs_[block] == 0)
    fail(ErrorKind::Internal, "release of KV block " + std::to_string(block) + " that is not in use");
  if (cached_[block] && refs_[block] == 1)
    fail(ErrorKind::Internal, "release of KV block " + std::to_string(block) + ", which only the prefix cache holds");
  --refs_[block];
  n_active_ -= !active(block);
  if (refs_[block] == 0) free_.push_back(block);
}

void BlockManager::retain_for_cache(int32_t block) {
  if (block < 0 || block >= n_blocks() || refs_[block] == 0 || cached_[block])
    fail(ErrorKind::Internal, "the prefix cache cannot take KV block " + std::to_string(block));
  cached_[block] = true;
  ++refs_[block];  // active() is unchanged: one more reference, and it is the cache's
}

void BlockManager::release_from_cache(int32_t block) {
  if (block < 0 || block >= n_blocks() || !cached_[block])
    fail(ErrorKind::Internal, "the prefix cache does not hold KV block " + std::to_string(block));
  cached_[block] = false;
  if (--refs_[block] == 0) free_.push_back(block);
}

}  // namespace hayate
