// A named cache over a store (store.h): the embedding, search and response caches of the server
// are each one of these. It names entries "hayate:<cache>:<sha256 of the key>", so several caches
// (and several servers) can share one Redis, and counts what /metrics and `hayate cache stats`
// show: hits, misses and the time each lookup took.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/store.h"

namespace hayate::cache {

// Upper bounds (seconds) of the lookup latency buckets; the last bucket is +Inf.
inline constexpr std::array<double, 10> kLatencyBounds = {2e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3};

struct CacheStats {
  std::string name, store;
  int64_t hits = 0, misses = 0, puts = 0;
  StoreStats stored;  // entries, bytes, evictions and expiries as the store counts them
  std::array<int64_t, kLatencyBounds.size() + 1> latency_buckets{};  // lookups per bucket (not cumulative)
  double latency_sum = 0;                                            // seconds over all lookups
  double hit_rate() const { return hits + misses ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0; }
};

// Lookups counted as /metrics shows them for every cache (this one, and the semantic response
// cache of RAG chat, which keeps its own entries): hits, misses, stores and each lookup's time.
class LookupCounters {
 public:
  void lookup(bool hit, int64_t nanoseconds);
  void put() { puts_.fetch_add(1, std::memory_order_relaxed); }
  // Fills hits, misses, puts and the latency fields of `s`.
  void fill(CacheStats& s) const;

 private:
  std::atomic<int64_t> hits_{0}, misses_{0}, puts_{0};
  std::array<std::atomic<int64_t>, kLatencyBounds.size() + 1> buckets_{};
  std::atomic<int64_t> latency_ns_{0};
};

class Cache {
 public:
  // ttl_seconds <= 0: entries do not expire (a memory store still evicts them for its limits).
  Cache(std::string name, std::shared_ptr<Store> store, double ttl_seconds);

  std::optional<std::string> get(std::string_view key);
  void put(std::string_view key, std::string_view value);
  void erase(std::string_view key);
  int64_t clear();  // this cache's entries only
  CacheStats stats() const;
  const std::string& name() const { return name_; }
  Store& store() { return *store_; }

 private:
  std::string entry_key(std::string_view key) const;

  const std::string name_, prefix_;
  const std::shared_ptr<Store> store_;
  const double ttl_;
  LookupCounters counters_;
};

}  // namespace hayate::cache
