// Automatic prefix caching: full KV blocks are remembered by the tokens that produced them, so
// a later prompt that starts the same way reuses their keys and values instead of recomputing.
//
// A block's key is a hash of its parent block's key and its block_size token ids: a chain, so
// one key stands for the whole prefix up to the end of that block. Every entry also keeps its
// tokens and the serial number of its parent entry, and a hit must match both, so a hash
// collision can only cost a miss, never wrong keys and values.
//
// The cache holds one reference to each cached block. A block whose only reference is the
// cache is evictable; evictions take the least recently used leaf of the chain first, so a
// cached block's parent is always cached too.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/block_manager.h"

namespace hayate {

inline constexpr uint64_t kPrefixRootKey = 0x6a09e667f3bcc908ull;

// How far one sequence's leading full blocks are known to the cache (its place in the chain).
struct PrefixChain {
  int32_t n_blocks = 0;                // leading full blocks already looked up or inserted
  uint64_t last_key = kPrefixRootKey;  // key of block n_blocks-1
  uint64_t last_serial = 0;
  bool broken = false;  // a collision stopped the chain: this sequence inserts nothing more
};

struct PrefixCacheCounters {
  int64_t lookups = 0;
  int64_t hit_tokens = 0;   // prompt tokens whose KV came from the cache
  int64_t miss_tokens = 0;  // prompt tokens that had to be computed
  int64_t evictions = 0;
};

class PrefixCache {
 public:
  using HashFn = std::function<uint64_t(uint64_t parent, std::span<const int32_t> tokens)>;

  // enabled == false: lookups miss, inserts do nothing, allocation never evicts.
  // hash: for tests that force collisions; the default is block_hash.
  PrefixCache(BlockManager& blocks, int32_t block_size, bool enabled = true, HashFn hash = {});

  static uint64_t block_hash(uint64_t parent, std::span<const int32_t> tokens);

  struct Match {
    std::vector<int32_t> blocks;  // retained once each for the caller
    int32_t n_tokens = 0;         // blocks.size() * block_size
    PrefixChain chain;            // where the sequence's later inserts continue
  };
  // The longest run of cached full blocks that begins `tokens`, at most max_blocks of them.
  // The caller owns one reference to each returned block. Does not touch the counters (a
  // scheduler may look up a prompt it then cannot admit); see count_lookup.
  Match lookup(std::span<const int32_t> tokens, int32_t max_blocks);
  void count_lookup(int32_t hit_tokens, int32_t miss_tokens);

  // Offers the sequence's full, computed blocks [chain.n_blocks, n_full_blocks) to the cache.
  // `tokens` holds at least n_full_blocks * block_size ids; `block_table` the sequence's blocks.
  // A block whose prefix is already cached under another block id stays private to the sequence.
  void insert(std::span<const int32_t> tokens, std::span<const int32_t> block_table, int32_t n_full_blocks,
              PrefixChain& chain);

  // A free block, evicting the least recently used evictable block when none is free; -1 when
  // neither is left.
  int32_t allocate_or_evict();
  // Blocks that allocate_or_evict could still hand out: free ones plus evictable cached ones.
  int32_t n_available() const;

  bool enabled() const { return enabled_; }
  int32_t size() const { return static_cast<int32_t>(entries_.size()); }
  bool contains_block(int32_t block) const;
  const PrefixCacheCounters& counters() const { return counters_; }

 private:
  struct Entry {
    uint64_t key, parent_key;
    uint64_t serial, parent_serial;  // serials are never reused, unlike keys and block ids
    int32_t block;
    int32_t n_children = 0;
    uint64_t last_used;
    std::vector<int32_t> tokens;
  };

  // The entry under `key` when it holds exactly this prefix, else null.
  Entry* find(uint64_t key, uint64_t parent_serial, std::span<const int32_t> tokens);
  void touch(Entry& e);
  Entry* parent_of(const Entry& e);
  bool evict_one();

  BlockManager& blocks_;
  int32_t block_size_;
  bool enabled_;
  HashFn hash_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::set<std::pair<uint64_t, uint64_t>> lru_;  // (last_used, key), least recent first
  uint64_t clock_ = 0;
  uint64_t next_serial_ = 1;  // 0 is the root's serial
  PrefixCacheCounters counters_;
};

}  // namespace hayate
