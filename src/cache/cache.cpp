#include "cache/cache.h"

#include <chrono>

#include "cache/hash.h"

namespace hayate::cache {

Cache::Cache(std::string name, std::shared_ptr<Store> store, double ttl_seconds)
    : name_(std::move(name)), prefix_("hayate:" + name_ + ":"), store_(std::move(store)), ttl_(ttl_seconds) {}

std::string Cache::entry_key(std::string_view key) const { return prefix_ + sha256_hex(key); }

void LookupCounters::lookup(bool hit, int64_t nanoseconds) {
  (hit ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  const double seconds = static_cast<double>(nanoseconds) * 1e-9;
  size_t b = 0;
  while (b < kLatencyBounds.size() && seconds > kLatencyBounds[b]) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  latency_ns_.fetch_add(nanoseconds, std::memory_order_relaxed);
}

void LookupCounters::fill(CacheStats& s) const {
  s.hits = hits_.load();
  s.misses = misses_.load();
  s.puts = puts_.load();
  for (size_t b = 0; b < buckets_.size(); ++b) s.latency_buckets[b] = buckets_[b].load();
  s.latency_sum = static_cast<double>(latency_ns_.load()) * 1e-9;
}

std::optional<std::string> Cache::get(std::string_view key) {
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::string> value = store_->get(entry_key(key));
  counters_.lookup(
      value.has_value(),
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  return value;
}

void Cache::put(std::string_view key, std::string_view value) {
  store_->put(entry_key(key), value, ttl_);
  counters_.put();
}

void Cache::erase(std::string_view key) { store_->erase(entry_key(key)); }

int64_t Cache::clear() { return store_->clear(prefix_); }

CacheStats Cache::stats() const {
  CacheStats s;
  s.name = name_;
  s.store = store_->name();
  counters_.fill(s);
  s.stored = store_->stats(prefix_);
  return s;
}

}  // namespace hayate::cache
