// A store on a Redis server (hiredis), which several hayate servers share: what one cached is a
// hit on the others. Redis keeps the TTLs (SET ... PX). A server that cannot be reached is a miss
// and a warning in the log, never an error to the request: the store retries the connection at
// most once a second, so a stopped Redis costs each lookup nothing but a branch.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "cache/store.h"

struct redisContext;
struct redisReply;

namespace hayate::cache {

class RedisStore : public Store {
 public:
  // Error(BadInput) for a malformed address. Does not connect yet (a Redis that starts after
  // hayate is used once it is up).
  RedisStore(std::string host, int port, int db = 0, double timeout_seconds = 0.25);
  ~RedisStore() override;

  std::string name() const override;
  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value, double ttl_seconds) override;
  void erase(std::string_view key) override;
  int64_t clear(std::string_view prefix) override;
  StoreStats stats(std::string_view prefix) override;

 private:
  // The reply of one command (argv form), or null when Redis cannot be reached; mu_ held.
  redisReply* command_locked(std::initializer_list<std::string_view> args);
  bool connect_locked();
  void lost_locked(const std::string& why);
  template <typename F>
  void scan_locked(std::string_view prefix, F&& on_key);

  const std::string host_;
  const int port_, db_;
  const double timeout_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point next_try_{};
  bool warned_ = false;  // one warning per outage
  bool available_ = true;
};

}  // namespace hayate::cache
