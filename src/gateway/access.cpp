#include "gateway/access.h"

#include <algorithm>
#include <cmath>

namespace hayate::gateway {

using std::chrono::duration;

void Access::configure(const GatewayConfig& config) {
  std::lock_guard lk(mu_);
  config_ = config;
  config_.upstreams.clear();
  config_.models.clear();
}

Admission Access::admit(const std::string& authorization, const std::string& peer,
                        std::chrono::steady_clock::time_point now) {
  std::lock_guard lk(mu_);
  Admission a;
  const KeyConfig* key = nullptr;
  if (!config_.keys.empty()) {
    const std::string prefix = "Bearer ";
    const std::string given = authorization.rfind(prefix, 0) == 0 ? authorization.substr(prefix.size()) : "";
    for (const KeyConfig& k : config_.keys)
      if (!given.empty() && k.key == given) key = &k;
    if (!key) {
      a.status = 401;
      a.code = "invalid_api_key";
      a.message = given.empty() ? "This gateway needs an API key: send it as 'Authorization: Bearer KEY'"
                                : "The API key sent is not one of this gateway's keys";
      return a;
    }
    a.who = key->name;
  } else {
    a.who = peer;
  }

  const int64_t rpm = key ? key->rate_limit_rpm : config_.rate_limit_rpm;
  const int64_t burst = key ? key->rate_limit_burst : config_.rate_limit_burst;
  if (rpm > 0) {
    // A token bucket: `burst` requests at once, refilled at rpm per minute.
    Bucket& b = buckets_[a.who];
    const double rate = static_cast<double>(rpm) / 60.0;
    if (b.tokens < 0) b.tokens = static_cast<double>(burst);
    b.tokens = std::min<double>(static_cast<double>(burst), b.tokens + duration<double>(now - b.last).count() * rate);
    b.last = now;
    if (b.tokens < 1) {
      a.status = 429;
      a.code = "rate_limit_exceeded";
      a.retry_after = std::ceil((1 - b.tokens) / rate);
      a.message = "Rate limit of " + std::to_string(rpm) + " requests per minute reached for '" + a.who +
                  "'; retry after " + std::to_string(static_cast<int64_t>(a.retry_after)) + " s";
      return a;
    }
    b.tokens -= 1;
  }
  if (key && key->token_quota > 0) {
    Quota& q = quotas_[a.who];
    const duration<double> window(key->quota_window);
    if (q.window_start == std::chrono::steady_clock::time_point{} || now - q.window_start >= window) {
      q.window_start = now;
      q.used = 0;
    }
    if (q.used >= key->token_quota) {
      a.status = 429;
      a.code = "insufficient_quota";
      a.retry_after = std::ceil(duration<double>(window - (now - q.window_start)).count());
      a.message = "The key '" + a.who + "' has used its quota of " + std::to_string(key->token_quota) +
                  " tokens for this window of " + std::to_string(static_cast<int64_t>(key->quota_window)) + " s";
      return a;
    }
  }
  return a;
}

void Access::charge(const std::string& who, int64_t tokens, std::chrono::steady_clock::time_point now) {
  if (tokens <= 0) return;
  std::lock_guard lk(mu_);
  for (const KeyConfig& k : config_.keys) {
    if (k.name != who || k.token_quota <= 0) continue;
    Quota& q = quotas_[who];
    if (q.window_start == std::chrono::steady_clock::time_point{}) q.window_start = now;
    q.used += tokens;
  }
}

std::string Access::cors_origin(const std::string& origin) const {
  std::lock_guard lk(mu_);
  if (origin.empty()) return "";
  for (const std::string& allowed : config_.cors_origins)
    if (allowed == "*" || allowed == origin) return allowed == "*" ? "*" : origin;
  return "";
}

}  // namespace hayate::gateway
