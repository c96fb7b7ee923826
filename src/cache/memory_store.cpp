#include "cache/memory_store.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cache/zstd_util.h"
#include "core/atomic_file.h"
#include "core/error.h"

namespace hayate::cache {
namespace {

constexpr size_t kCompressFrom = 256;  // smaller values gain too little to pay for the call
constexpr char kMagic[8] = {'H', 'Y', 'C', 'A', 'C', 'H', 'E', '1'};

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

template <typename T>
void put_pod(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
bool get_pod(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}

}  // namespace

Store::~Store() = default;

MemoryStore::MemoryStore(MemoryLimits limits, Clock clock)
    : limits_(std::move(limits)), clock_(clock ? std::move(clock) : Clock(wall_seconds)) {
  load();
}

MemoryStore::~MemoryStore() {
  try {
    save();
  } catch (const std::exception& e) {
    spdlog::warn("cache: could not save {}: {}", limits_.persist_path, e.what());
  }
}

void MemoryStore::drop_locked(List::iterator it) {
  bytes_ -= size_of(*it);
  index_.erase(it->key);
  lru_.erase(it);
}

void MemoryStore::enforce_limits_locked() {
  while (!lru_.empty() && ((limits_.max_entries > 0 && static_cast<int64_t>(lru_.size()) > limits_.max_entries) ||
                           (limits_.max_bytes > 0 && bytes_ > limits_.max_bytes))) {
    drop_locked(std::prev(lru_.end()));
    ++evictions_;
  }
}

void MemoryStore::insert_locked(std::string_view key, std::string value, double expires, bool compressed) {
  if (auto found = index_.find(key); found != index_.end()) drop_locked(found->second);
  lru_.push_front(Entry{std::string(key), std::move(value), expires, compressed});
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += size_of(lru_.front());
  enforce_limits_locked();
}

std::optional<std::string> MemoryStore::get(std::string_view key) {
  std::string value;
  bool compressed = false;
  {
    std::lock_guard lk(mu_);
    const auto found = index_.find(key);
    if (found == index_.end()) return std::nullopt;
    const List::iterator it = found->second;
    if (it->expires > 0 && clock_() >= it->expires) {
      drop_locked(it);
      ++expired_;
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it);
    value = it->value;
    compressed = it->compressed;
  }
  if (!compressed) return value;
  return zstd_decompress(value);
}

void MemoryStore::put(std::string_view key, std::string_view value, double ttl_seconds) {
  const bool compress = limits_.compress && value.size() >= kCompressFrom;
  std::string stored = compress ? zstd_compress(value, 1) : std::string(value);
  const double expires = ttl_seconds > 0 ? clock_() + ttl_seconds : 0;
  std::lock_guard lk(mu_);
  insert_locked(key, std::move(stored), expires, compress);
}

void MemoryStore::erase(std::string_view key) {
  std::lock_guard lk(mu_);
  if (auto found = index_.find(key); found != index_.end()) drop_locked(found->second);
}

int64_t MemoryStore::clear(std::string_view prefix) {
  std::lock_guard lk(mu_);
  int64_t n = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    const auto next = std::next(it);
    if (std::string_view(it->key).substr(0, prefix.size()) == prefix) {
      drop_locked(it);
      ++n;
    }
    it = next;
  }
  return n;
}

StoreStats MemoryStore::stats(std::string_view prefix) {
  std::lock_guard lk(mu_);
  StoreStats s;
  s.evictions = evictions_;
  s.expired = expired_;
  if (prefix.empty()) {
    s.entries = static_cast<int64_t>(lru_.size());
    s.bytes = bytes_;
    return s;
  }
  for (const Entry& e : lru_)
    if (std::string_view(e.key).substr(0, prefix.size()) == prefix) {
      ++s.entries;
      s.bytes += size_of(e);
    }
  return s;
}

void MemoryStore::save() {
  if (limits_.persist_path.empty()) return;
  std::string raw;
  {
    std::lock_guard lk(mu_);
    const double now = clock_();
    // Oldest first, so that loading in file order leaves the most recent at the front.
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
      if (it->expires > 0 && now >= it->expires) continue;
      put_pod(raw, static_cast<uint32_t>(it->key.size()));
      put_pod(raw, static_cast<uint32_t>(it->value.size()));
      put_pod(raw, it->expires);
      put_pod(raw, static_cast<uint8_t>(it->compressed));
      raw += it->key;
      raw += it->value;
    }
  }
  const std::string body = zstd_compress(raw, 3);
  const std::filesystem::path path(limits_.persist_path);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  write_file_atomically(limits_.persist_path, std::string(kMagic, sizeof kMagic) + body);
}

void MemoryStore::load() {
  if (limits_.persist_path.empty() || !std::filesystem::exists(limits_.persist_path)) return;
  std::ifstream in(limits_.persist_path, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < sizeof kMagic || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    spdlog::warn("cache: {} is not a hayate cache file; starting empty", limits_.persist_path);
    return;
  }
  std::string raw;
  try {
    raw = zstd_decompress(std::string_view(file).substr(sizeof kMagic));
  } catch (const std::exception& e) {
    spdlog::warn("cache: {} is damaged ({}); starting empty", limits_.persist_path, e.what());
    return;
  }
  std::string_view rest(raw);
  const double now = clock_();
  std::lock_guard lk(mu_);
  while (!rest.empty()) {
    uint32_t klen = 0, vlen = 0;
    double expires = 0;
    uint8_t compressed = 0;
    if (!get_pod(rest, klen) || !get_pod(rest, vlen) || !get_pod(rest, expires) || !get_pod(rest, compressed) ||
        rest.size() < static_cast<size_t>(klen) + vlen) {
      spdlog::warn("cache: {} ends in the middle of an entry; kept the entries before it", limits_.persist_path);
      return;
    }
    const std::string_view key = rest.substr(0, klen);
    std::string value(rest.substr(klen, vlen));
    rest.remove_prefix(static_cast<size_t>(klen) + vlen);
    if (expires > 0 && now >= expires) continue;
    insert_locked(key, std::move(value), expires, compressed != 0);
  }
}

}  // namespace hayate::cache
