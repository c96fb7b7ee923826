// Where a cache keeps its entries. One narrow interface, two stores: in-process (memory_store.h:
// LRU + TTL with entry and byte limits, optional persistence and compression) and Redis
// (redis_store.h: shared by several servers). A store never throws on the hot path: a store that
// cannot answer is a miss, so a cache can only make a request faster, never fail it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hayate::cache {

struct StoreStats {
  int64_t entries = 0;    // under the prefix asked for
  int64_t bytes = 0;      // keys and values (Redis: not known, 0)
  int64_t evictions = 0;  // entries dropped for the limits (LRU), not for their age
  int64_t expired = 0;    // entries dropped for their TTL
  bool available = true;  // Redis: the last command reached the server
};

class Store {
 public:
  virtual ~Store();
  virtual std::string name() const = 0;  // "memory", "redis://127.0.0.1:6379"
  // nullopt on a miss, and when the store cannot be reached.
  virtual std::optional<std::string> get(std::string_view key) = 0;
  // ttl_seconds <= 0: no expiry (memory: until evicted).
  virtual void put(std::string_view key, std::string_view value, double ttl_seconds) = 0;
  virtual void erase(std::string_view key) = 0;
  // Removes every key that starts with `prefix`; returns how many.
  virtual int64_t clear(std::string_view prefix) = 0;
  virtual StoreStats stats(std::string_view prefix) = 0;
};

struct MemoryLimits {
  int64_t max_entries = 1000;  // 0: no limit
  int64_t max_bytes = 0;       // 0: no limit
  bool compress = false;       // zstd values of 256 bytes and more
  std::string persist_path;    // empty: not persisted; else loaded at start and written by save()
};

// "memory" (limits apply), or "redis://HOST:PORT[/DB]". Error(BadInput) for anything else.
std::unique_ptr<Store> make_store(const std::string& spec, const MemoryLimits& limits = {});

}  // namespace hayate::cache
