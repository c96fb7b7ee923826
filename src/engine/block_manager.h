// Owns the KV cache's block ids: hands out free blocks and counts references, so that a block
// shared by several sequences (a common prefix) is freed only when the last one lets go.
//
// The prefix cache's own reference is counted apart (retain_for_cache / release_from_cache), so
// that n_active() — blocks something other than the cache holds — is exact at any moment: it is
// zero whenever no sequence runs, and a leaked reference shows there even on a cached block.
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
  // The prefix cache's single reference to a block (Error(Internal) for a second one, or for a
  // release without one).
  void retain_for_cache(int32_t block);
  void release_from_cache(int32_t block);

  int32_t n_blocks() const { return static_cast<int32_t>(refs_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t refs(int32_t block) const { return refs_.at(block); }
  int32_t n_active() const { return n_active_; }

 private:
  bool active(int32_t block) const { return refs_[block] > (cached_[block] ? 1 : 0); }

  std::vector<int32_t> refs_;
  std::vector<bool> cached_;
  std::vector<int32_t> free_;
  int32_t n_active_ = 0;
};

}  // namespace hayate
