#include "server/auth.h"

#include <algorithm>

namespace hayate::server {

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < b.size(); ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    diff |= static_cast<unsigned>(x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

std::optional<std::string> KeyChecker::check(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.substr(0, kBearer.size()) != kBearer) return std::nullopt;
  const std::string_view given = authorization.substr(kBearer.size());
  // Every key is compared (no early exit), so the time does not tell which key matched.
  const std::string* match = nullptr;
  for (const std::string& key : keys_)
    if (constant_time_equal(given, key) && !match) match = &key;
  if (!match) return std::nullopt;
  return *match;
}

std::optional<double> RateLimiter::acquire(const std::string& client, Clock::time_point now) {
  std::lock_guard lk(mu_);
  auto [it, fresh] = buckets_.try_emplace(client, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.last = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  return (1.0 - b.tokens) / rate_;
}

}  // namespace hayate::server
