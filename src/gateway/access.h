// Who may use the gateway and how much: API keys (Authorization: Bearer KEY), a token bucket of
// requests per key (per client address without keys), a token quota per key and window, and the
// CORS origins. Thread-safe; the counters outlive a config reload (they follow the key's name).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "gateway/config.h"

namespace hayate::gateway {

struct Admission {
  int status = 0;          // 0: admitted; else 401 or 429
  std::string code;        // OpenAI-style error code: invalid_api_key, rate_limit_exceeded, insufficient_quota
  std::string message;     // what was wrong and what to do
  double retry_after = 0;  // seconds, for 429
  std::string who;         // the key's name, or the client's address without keys
};

class Access {
 public:
  explicit Access(const GatewayConfig& config) { configure(config); }
  void configure(const GatewayConfig& config);

  // `authorization`: the header's value; `peer`: the client's address (without its port).
  Admission admit(const std::string& authorization, const std::string& peer, std::chrono::steady_clock::time_point now);
  // Charges `tokens` to the quota of `who` (a key's name).
  void charge(const std::string& who, int64_t tokens, std::chrono::steady_clock::time_point now);
  // The Access-Control-Allow-Origin value for `origin`, or "" when it is not allowed.
  std::string cors_origin(const std::string& origin) const;

 private:
  struct Bucket {
    double tokens = -1;  // < 0: not started (full)
    std::chrono::steady_clock::time_point last{};
  };
  struct Quota {
    int64_t used = 0;
    std::chrono::steady_clock::time_point window_start{};
  };

  mutable std::mutex mu_;
  GatewayConfig config_;  // keys, limits and origins only are read
  std::map<std::string, Bucket> buckets_;
  std::map<std::string, Quota> quotas_;
};

}  // namespace hayate::gateway
