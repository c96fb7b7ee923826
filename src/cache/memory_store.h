// The in-process store: least recently used entries go first once the entry or byte limit is
// reached, each entry has an expiry time, values may be kept zstd-compressed, and the whole store
// may be written to a file (zstd, atomically) and read back at the next start.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>

#include "cache/store.h"

namespace hayate::cache {

class MemoryStore : public Store {
 public:
  using Clock = std::function<double()>;  // seconds since the epoch; tests move time by hand

  explicit MemoryStore(MemoryLimits limits = {}, Clock clock = {});
  ~MemoryStore() override;  // saves when persistence is on

  std::string name() const override { return "memory"; }
  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value, double ttl_seconds) override;
  void erase(std::string_view key) override;
  int64_t clear(std::string_view prefix) override;
  StoreStats stats(std::string_view prefix) override;

  // Writes the live entries to limits.persist_path (a temporary file renamed over it, so a crash
  // leaves the old file or the new one). No-op without a path. Error(ResourceExhausted) when the
  // file cannot be written.
  void save();
  // Reads limits.persist_path if it exists; entries past their expiry are skipped. A file that is
  // not a cache file (or is damaged) is ignored with a warning rather than failing the start.
  void load();

 private:
  struct Entry {
    std::string key;
    std::string value;  // compressed when `compressed`
    double expires;     // seconds since the epoch; 0: never
    bool compressed;
  };
  using List = std::list<Entry>;

  void drop_locked(List::iterator it);
  void enforce_limits_locked();
  void insert_locked(std::string_view key, std::string value, double expires, bool compressed);
  static int64_t size_of(const Entry& e) { return static_cast<int64_t>(e.key.size() + e.value.size()); }

  const MemoryLimits limits_;
  const Clock clock_;
  std::mutex mu_;
  List lru_;                                                    // front: most recently used
  std::unordered_map<std::string_view, List::iterator> index_;  // views into the list's keys
  int64_t bytes_ = 0, evictions_ = 0, expired_ = 0;
};

}  // namespace hayate::cache
