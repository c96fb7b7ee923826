#include "engine/prefix_cache.h"

#include <algorithm>
#include <unordered_set>

#include "core/error.h"

namespace hayate {
namespace {

uint64_t mix64(uint64_t x) {  // splitmix64's finalizer: every input bit moves every output bit
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t PrefixCache::block_hash(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = mix64(parent ^ (0x9e3779b97f4a7c15ull * (tokens.size() + 1)));
  for (int32_t t : tokens) h = mix64(h + 0x9e3779b97f4a7c15ull + static_cast<uint32_t>(t));
  return h;
}

PrefixCache::PrefixCache(BlockManager& blocks, int32_t block_size, bool enabled, HashFn hash)
    : blocks_(blocks), block_size_(block_size), enabled_(enabled), hash_(std::move(hash)) {
  if (block_size <= 0) fail(ErrorKind::BadInput, "prefix cache: block size must be positive");
  if (!hash_) hash_ = &PrefixCache::block_hash;
}

PrefixCache::Entry* PrefixCache::find(uint64_t key, uint64_t parent_serial, std::span<const int32_t> tokens) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  Entry& e = it->second;
  if (e.parent_serial != parent_serial || !std::equal(tokens.begin(), tokens.end(), e.tokens.begin(), e.tokens.end()))
    return nullptr;  // a collision: another prefix owns this key
  return &e;
}

PrefixCache::Entry* PrefixCache::parent_of(const Entry& e) {
  if (e.parent_serial == 0) return nullptr;
  auto it = entries_.find(e.parent_key);
  if (it == entries_.end() || it->second.serial != e.parent_serial)
    fail(ErrorKind::Internal, "prefix cache: a cached block lost its parent");
  return &it->second;
}

void PrefixCache::touch(Entry& e) {
  lru_.erase({e.last_used, e.key});
  e.last_used = clock_;
  lru_.insert({e.last_used, e.key});
}

PrefixCache::Match PrefixCache::lookup(std::span<const int32_t> tokens, int32_t max_blocks) {
  Match m;
  if (!enabled_) return m;
  ++clock_;
  const auto bs = static_cast<size_t>(block_size_);
  for (int32_t i = 0; i < max_blocks && (static_cast<size_t>(i) + 1) * bs <= tokens.size(); ++i) {
    const auto block_tokens = tokens.subspan(static_cast<size_t>(i) * bs, bs);
    const uint64_t key = hash_(m.chain.last_key, block_tokens);
    Entry* e = find(key, m.chain.last_serial, block_tokens);
    if (!e) break;
    touch(*e);
    blocks_.retain(e->block);
    m.blocks.push_back(e->block);
    m.chain = {i + 1, key, e->serial, false};
  }
  m.n_tokens = static_cast<int32_t>(m.blocks.size()) * block_size_;
  return m;
}

void PrefixCache::count_lookup(int32_t hit_tokens, int32_t miss_tokens) {
  ++counters_.lookups;
  counters_.hit_tokens += hit_tokens;
  counters_.miss_tokens += miss_tokens;
}

void PrefixCache::insert(std::span<const int32_t> tokens, std::span<const int32_t> block_table, int32_t n_full_blocks,
                         PrefixChain& chain) {
  if (!enabled_ || chain.broken || chain.n_blocks >= n_full_blocks) return;
  if (static_cast<size_t>(n_full_blocks) > block_table.size() ||
      static_cast<size_t>(n_full_blocks) * static_cast<size_t>(block_size_) > tokens.size())
    fail(ErrorKind::Internal, "prefix cache: insert of blocks the sequence does not have");
  ++clock_;
  const auto bs = static_cast<size_t>(block_size_);
  for (int32_t i = chain.n_blocks; i < n_full_blocks; ++i) {
    const auto block_tokens = tokens.subspan(static_cast<size_t>(i) * bs, bs);
    const uint64_t key = hash_(chain.last_key, block_tokens);
    Entry* parent = nullptr;
    if (chain.last_serial != 0) {
      // The parent may have been evicted since this sequence passed it (it held a private copy).
      auto pit = entries_.find(chain.last_key);
      if (pit == entries_.end() || pit->second.serial != chain.last_serial) {
        chain.broken = true;
        return;
      }
      parent = &pit->second;
    }
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      Entry& e = it->second;
      if (e.parent_serial != chain.last_serial ||
          !std::equal(block_tokens.begin(), block_tokens.end(), e.tokens.begin(), e.tokens.end())) {
        chain.broken = true;  // a collision: this prefix cannot be cached under its key
        return;
      }
      touch(e);  // the same prefix, computed by another sequence first
      chain = {i + 1, key, e.serial, false};
      continue;
    }
    Entry e{key,
            chain.last_key,
            next_serial_++,
            chain.last_serial,
            block_table[static_cast<size_t>(i)],
            0,
            clock_,
            std::vector<int32_t>(block_tokens.begin(), block_tokens.end())};
    blocks_.retain_for_cache(e.block);
    if (parent) ++parent->n_children;
    lru_.insert({e.last_used, key});
    chain = {i + 1, key, e.serial, false};
    entries_.emplace(key, std::move(e));
  }
}

bool PrefixCache::evict_one() {
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    Entry& e = entries_.at(it->second);
    if (e.n_children > 0 || blocks_.refs(e.block) != 1) continue;
    if (Entry* parent = parent_of(e)) --parent->n_children;
    blocks_.release_from_cache(e.block);
    const uint64_t key = e.key;
    lru_.erase(it);
    entries_.erase(key);
    ++counters_.evictions;
    return true;
  }
  return false;
}

int32_t PrefixCache::allocate_or_evict() {
  int32_t b = blocks_.allocate();
  while (b < 0 && enabled_ && evict_one()) b = blocks_.allocate();
  return b;
}

int32_t PrefixCache::n_available() const {
  // A cached block is evictable once nothing but the cache holds it or any of its descendants.
  std::unordered_set<uint64_t> pinned;
  for (const auto& [key, e] : entries_) {
    if (blocks_.refs(e.block) == 1) continue;
    for (const Entry* p = &e; p && pinned.insert(p->key).second;) {
      auto it = p->parent_serial == 0 ? entries_.end() : entries_.find(p->parent_key);
      p = it == entries_.end() ? nullptr : &it->second;
    }
  }
  return blocks_.n_free() + static_cast<int32_t>(entries_.size() - pinned.size());
}

bool PrefixCache::contains_block(int32_t block) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const auto& kv) { return kv.second.block == block; });
}

}  // namespace hayate
