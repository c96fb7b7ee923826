// Owns the KV cache's block ids: hands out free blocks and counts references, so that a block
// shared by several sequences (a common prefix) is freed only when the last one lets go.
#pragma once

#include <cstdint>
#include <vector>

namespace hayate {

class BlockManager {
 public:
  explicit BlockManager(int32_t n_blocks);

  // A free block with one reference, or -1 when none is left.
  int32_t allocate();
  void retain(int32_t block);
  void release(int32_t block);  // Error(Internal) on a block that is not in use

  int32_t n_blocks() const { return static_cast<int32_t>(refs_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t refs(int32_t block) const { return refs_.at(block); }

 private:
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;
};

}  // namespace hayate
