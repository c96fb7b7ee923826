#include "engine/block_manager.h"

#include <string>

#include "core/error.h"

namespace hayate {

BlockManager::BlockManager(int32_t n_blocks) : refs_(static_cast<size_t>(n_blocks), 0) {
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // hand out low ids first
}

int32_t BlockManager::allocate() {
  if (free_.empty()) return -1;
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

void BlockManager::retain(int32_t block) {
  if (block < 0 || block >= n_blocks() || refs_[block] == 0)
    fail(ErrorKind::Internal, "retain of KV block " + std::to_string(block) + " that is not in use");
  ++refs_[block];
}

void BlockManager::release(int32_t block) {
  if (block < 0 || block >= n_blocks() || refs_[block] == 0)
    fail(ErrorKind::Internal, "release of KV block " + std::to_string(block) + " that is not in use");
  if (--refs_[block] == 0) free_.push_back(block);
}

}  // namespace hayate
