// The last requests the server answered, for the dashboard's request log (GET /v1/requests/recent).
// A fixed number are kept; the oldest goes first. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace hayate::server {

struct RecentRequest {
  double time = 0;  // unix seconds when it ended
  std::string id, method, path;
  int status = 0;
  int64_t duration_ms = 0;
  int32_t prompt_tokens = 0, completion_tokens = 0;
};

class RecentRequests {
 public:
  explicit RecentRequests(size_t capacity = 100) : capacity_(capacity) {}

  void add(RecentRequest r) {
    r.time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::lock_guard lk(mu_);
    items_.push_front(std::move(r));
    if (items_.size() > capacity_) items_.pop_back();
  }
  std::vector<RecentRequest> newest_first() const {
    std::lock_guard lk(mu_);
    return {items_.begin(), items_.end()};
  }

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::deque<RecentRequest> items_;
};

}  // namespace hayate::server
