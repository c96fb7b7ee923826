#include <gtest/gtest.h>

#include <numeric>

#include "engine/prefix_cache.h"

namespace hayate {
namespace {

constexpr int32_t kBs = 4;

std::vector<int32_t> iota_tokens(int n, int32_t first) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

// A sequence that allocated and computed `tokens`, then offered its full blocks to the cache.
struct Seq {
  std::vector<int32_t> tokens;
  std::vector<int32_t> table;
  PrefixChain chain;

  Seq(PrefixCache& cache, std::vector<int32_t> t) : tokens(std::move(t)) {
    for (size_t i = 0; i < (tokens.size() + kBs - 1) / kBs; ++i) table.push_back(cache.allocate_or_evict());
    cache.insert(tokens, table, static_cast<int32_t>(tokens.size()) / kBs, chain);
  }
  void release(BlockManager& blocks) {
    for (int32_t b : table) blocks.release(b);
    table.clear();
  }
};

TEST(PrefixCache, KeysChainThroughParents) {
  const auto a = iota_tokens(kBs, 0);
  const uint64_t root = kPrefixRootKey;
  EXPECT_EQ(PrefixCache::block_hash(root, a), PrefixCache::block_hash(root, a));
  EXPECT_NE(PrefixCache::block_hash(root, a), PrefixCache::block_hash(root + 1, a));
  auto b = a;
  b[3] = 99;
  EXPECT_NE(PrefixCache::block_hash(root, a), PrefixCache::block_hash(root, b));

  // The same second block after a different first block is a different prefix.
  BlockManager blocks(16);
  PrefixCache cache(blocks, kBs);
  Seq first(cache, iota_tokens(2 * kBs, 0));
  auto other = iota_tokens(2 * kBs, 0);
  other[0] = 50;
  const auto m = cache.lookup(other, 2);
  EXPECT_TRUE(m.blocks.empty());
}

TEST(PrefixCache, LookupReturnsLongestRunOfFullBlocksAndRetainsThem) {
  BlockManager blocks(16);
  PrefixCache cache(blocks, kBs);
  Seq a(cache, iota_tokens(4 * kBs + 2, 0));  // 4 full blocks and a partial one
  EXPECT_EQ(cache.size(), 4);                 // the partial block is never cached
  EXPECT_FALSE(cache.contains_block(a.table[4]));

  auto query = iota_tokens(5 * kBs, 0);
  query[3 * kBs + 1] = 77;  // differs inside the fourth block
  auto m = cache.lookup(query, 10);
  ASSERT_EQ(m.blocks.size(), 3u);
  EXPECT_EQ(m.n_tokens, 3 * kBs);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(m.blocks[static_cast<size_t>(i)], a.table[static_cast<size_t>(i)]);
    EXPECT_EQ(blocks.refs(a.table[static_cast<size_t>(i)]), 3);  // a, the cache, the lookup
  }
  EXPECT_EQ(m.chain.n_blocks, 3);

  // max_blocks caps the match (the scheduler keeps the block of a prompt's last token).
  const auto capped = cache.lookup(iota_tokens(4 * kBs, 0), (4 * kBs - 1) / kBs);
  EXPECT_EQ(capped.blocks.size(), 3u);
  // A query shorter than a block matches nothing.
  EXPECT_TRUE(cache.lookup(iota_tokens(kBs - 1, 0), 10).blocks.empty());
}

TEST(PrefixCache, InsertContinuesTheChainOfAHit) {
  BlockManager blocks(16);
  PrefixCache cache(blocks, kBs);
  Seq a(cache, iota_tokens(2 * kBs, 0));
  auto longer = iota_tokens(4 * kBs, 0);
  auto m = cache.lookup(longer, 4);
  ASSERT_EQ(m.blocks.size(), 2u);
  std::vector<int32_t> table = m.blocks;
  table.push_back(cache.allocate_or_evict());
  table.push_back(cache.allocate_or_evict());
  cache.insert(longer, table, 4, m.chain);
  EXPECT_EQ(cache.size(), 4);
  EXPECT_EQ(cache.lookup(longer, 4).blocks, table);
}

TEST(PrefixCache, CollisionsNeverReturnAnotherPrefix) {
  BlockManager blocks(16);
  // Every block hashes to the same key: only verified tokens and parents can tell them apart.
  PrefixCache cache(blocks, kBs, true, [](uint64_t, std::span<const int32_t>) { return uint64_t{42}; });
  Seq a(cache, iota_tokens(2 * kBs, 0));
  EXPECT_EQ(cache.size(), 1);  // the second block collides with the first and is not cached
  EXPECT_TRUE(a.chain.broken);

  EXPECT_TRUE(cache.lookup(iota_tokens(2 * kBs, 100), 2).blocks.empty());
  const auto m = cache.lookup(iota_tokens(2 * kBs, 0), 2);
  ASSERT_EQ(m.blocks.size(), 1u);  // block 1's key finds block 0's entry, whose parent differs
  EXPECT_EQ(m.blocks[0], a.table[0]);

  Seq b(cache, iota_tokens(kBs, 100));  // same key, other tokens: stays private
  EXPECT_EQ(cache.size(), 1);
  EXPECT_FALSE(cache.contains_block(b.table[0]));
  for (int32_t x : m.blocks) blocks.release(x);
}

TEST(PrefixCache, EvictsOnlyUnreferencedBlocksLeastRecentlyUsedFirst) {
  BlockManager blocks(6);
  PrefixCache cache(blocks, kBs);
  Seq a(cache, iota_tokens(2 * kBs, 0));
  Seq b(cache, iota_tokens(2 * kBs, 100));
  Seq c(cache, iota_tokens(2 * kBs, 200));
  EXPECT_EQ(blocks.n_free(), 0);
  EXPECT_EQ(cache.n_available(), 0);
  EXPECT_EQ(cache.allocate_or_evict(), -1);  // every cached block is still in use

  a.release(blocks);
  b.release(blocks);
  EXPECT_EQ(cache.n_available(), 4);
  // Touch a's prefix: b becomes the least recently used.
  for (int32_t x : cache.lookup(a.tokens, 2).blocks) blocks.release(x);

  // Leaves go first, so b's second block before its first; c (in use) is never evicted.
  EXPECT_EQ(cache.allocate_or_evict(), 3);  // b: blocks 2, 3
  EXPECT_EQ(cache.allocate_or_evict(), 2);
  EXPECT_EQ(cache.allocate_or_evict(), 1);  // then a: blocks 0, 1
  EXPECT_EQ(cache.allocate_or_evict(), 0);
  EXPECT_EQ(cache.allocate_or_evict(), -1);
  EXPECT_EQ(cache.counters().evictions, 4);
  EXPECT_EQ(cache.size(), 2);
  EXPECT_EQ(blocks.refs(c.table[0]), 2);
  EXPECT_TRUE(cache.lookup(b.tokens, 2).blocks.empty());
}

TEST(PrefixCache, ParentWithACachedChildInUseIsNotEvictable) {
  BlockManager blocks(8);
  PrefixCache cache(blocks, kBs);
  Seq a(cache, iota_tokens(kBs, 0));
  auto longer = iota_tokens(2 * kBs, 0);
  Seq b(cache, longer);  // computed its own copy of block 0, cached block 1 under a's block 0
  EXPECT_EQ(cache.size(), 2);
  EXPECT_FALSE(cache.contains_block(b.table[0]));
  EXPECT_TRUE(cache.contains_block(b.table[1]));
  a.release(blocks);  // a's block 0 is held by the cache alone, but its child is b's
  EXPECT_EQ(cache.n_available(), blocks.n_free());
  const int32_t before = blocks.n_free();
  for (int i = 0; i < before; ++i) EXPECT_GE(cache.allocate_or_evict(), 0);
  EXPECT_EQ(cache.allocate_or_evict(), -1);
  EXPECT_EQ(cache.lookup(longer, 2).blocks.size(), 2u);
}

TEST(PrefixCache, CountersAndDisabledCache) {
  BlockManager blocks(8);
  PrefixCache cache(blocks, kBs);
  cache.count_lookup(8, 3);
  cache.count_lookup(0, 5);
  EXPECT_EQ(cache.counters().lookups, 2);
  EXPECT_EQ(cache.counters().hit_tokens, 8);
  EXPECT_EQ(cache.counters().miss_tokens, 8);

  PrefixCache off(blocks, kBs, false);
  Seq a(off, iota_tokens(2 * kBs, 0));
  EXPECT_EQ(off.size(), 0);
  EXPECT_TRUE(off.lookup(a.tokens, 2).blocks.empty());
  a.release(blocks);
  EXPECT_EQ(blocks.n_free(), 8);
}

}  // namespace
}  // namespace hayate
