// Who may call the server, and how often: API keys (Authorization: Bearer KEY, compared in
// constant time) and a token bucket per key.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hayate::server {

// a == b, in a time that depends only on b's length (b is the secret).
bool constant_time_equal(std::string_view a, std::string_view b);

class KeyChecker {
 public:
  explicit KeyChecker(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  bool enabled() const { return !keys_.empty(); }
  // The key of an "Authorization: Bearer KEY" header when it is one of the keys; nullopt
  // otherwise. Every key is compared, so the time does not tell which one nearly matched.
  std::optional<std::string> check(std::string_view authorization) const;

 private:
  std::vector<std::string> keys_;
};

// A token bucket per client: `burst` requests at once, refilled at `per_minute` a minute.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(double per_minute, double burst) : rate_(per_minute / 60.0), burst_(burst) {}
  bool enabled() const { return rate_ > 0; }
  // nullopt: allowed (a token taken); otherwise the seconds until the next token.
  std::optional<double> acquire(const std::string& client, Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  double rate_, burst_;  // tokens per second, bucket size
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace hayate::server
