// Where a request goes: the upstreams (each one server, with a circuit breaker and health state
// shared by every thread), the models they serve (aliases, replicas, fallback chains), and the
// choice of a replica: prefix affinity first, then the least requests in flight.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/config.h"
#include "net/url.h"

namespace hayate::gateway {

using Clock = std::chrono::steady_clock;

// One upstream server. Its circuit is closed (in use), open (ejected until a time) or half-open
// (past that time: one trial request at a time decides). Passive ejection: `eject_failures`
// failures in a row open it, for `eject_seconds`, doubled on each ejection in a row up to
// `eject_max_seconds`. A passing health check or a successful trial closes it again.
class Upstream {
 public:
  enum class State { Up, Ejected, HalfOpen, Unhealthy };

  Upstream(UpstreamConfig config, net::Endpoint endpoint);
  const UpstreamConfig& config() const { return config_; }
  const net::Endpoint& endpoint() const { return endpoint_; }
  const std::string& name() const { return config_.name; }

  int outstanding() const { return outstanding_.load(std::memory_order_relaxed); }
  void begin() { outstanding_.fetch_add(1, std::memory_order_relaxed); }
  void end() { outstanding_.fetch_sub(1, std::memory_order_relaxed); }

  // May a request be sent now (the circuit closed and the last health check passed, or a trial
  // is due)? `claim` takes the trial slot of a half-open circuit; false when another took it.
  bool selectable(Clock::time_point now) const;
  bool claim(Clock::time_point now);

  void succeeded();
  // An attempt that ended without telling whether the upstream works (the client left, a 429):
  // frees the trial slot of a half-open circuit.
  void release();
  // Returns true when this failure ejected the upstream.
  bool failed(Clock::time_point now, const GatewayConfig& policy);
  // A failed check takes the upstream out until a check passes. A passing check closes an open
  // circuit once its ejection time is over (without a trial request); before that, requests
  // failing on a server whose /health still answers keep it out. Returns true when the check
  // changed the upstream's health or re-admitted it.
  bool health_checked(bool ok, Clock::time_point now);
  State state(Clock::time_point now) const;
  int64_t ejections() const;

 private:
  const UpstreamConfig config_;
  const net::Endpoint endpoint_;
  std::atomic<int> outstanding_{0};
  mutable std::mutex mu_;
  int failures_ = 0;          // in a row
  int ejections_in_row_ = 0;  // doubles the ejection time
  int64_t ejections_ = 0;
  bool open_ = false, trial_ = false, healthy_ = true;
  Clock::time_point open_until_{};
};

const char* to_string(Upstream::State s);

// 64-bit FNV-1a hashes of `text`'s prefixes at every `block` bytes (the longest first), seeded
// with the model's name so that two models' prompts never share an entry; at most 64 blocks.
std::vector<uint64_t> prefix_hashes(std::string_view model, std::string_view text, size_t block);

// prefix hash -> the upstream that served it, the least recently used dropped past `capacity`.
// Thread-safe.
class AffinityTable {
 public:
  explicit AffinityTable(size_t capacity) : capacity_(capacity) {}
  // The upstream of the longest known prefix (hashes longest first), or "".
  std::string lookup(const std::vector<uint64_t>& hashes);
  void record(const std::vector<uint64_t>& hashes, const std::string& upstream);
  size_t size() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::list<uint64_t> lru_;  // most recent first
  std::unordered_map<uint64_t, std::pair<std::string, std::list<uint64_t>::iterator>> map_;
};

struct ModelRoute {
  std::string name;
  std::vector<Upstream*> replicas;
  std::vector<std::string> fallback;
};

// One configuration's routing, immutable once built (a reload builds a new one). Upstreams live
// in an UpstreamSet that outlives every Routing, so that a reload keeps their state.
class Routing {
 public:
  Routing(std::shared_ptr<const GatewayConfig> config, std::vector<Upstream*> upstreams);
  const GatewayConfig& config() const { return *config_; }
  const std::vector<Upstream*>& upstreams() const { return upstreams_; }
  // The route of a model name or alias; null when none serves it.
  const ModelRoute* find(const std::string& name) const;
  // The model of requests that name none (the first upstream's).
  const ModelRoute& default_route() const { return *find(config_->upstreams.front().model); }
  // Model names and aliases, for GET /v1/models.
  std::vector<std::string> model_names() const;

 private:
  std::shared_ptr<const GatewayConfig> config_;
  std::vector<Upstream*> upstreams_;
  std::map<std::string, ModelRoute> models_;
  std::map<std::string, std::string> aliases_;
};

// Every upstream ever configured, by name and URL (a reload that keeps one keeps its state).
class UpstreamSet {
 public:
  // Resolves new URLs (Error(BadInput) naming one that does not resolve).
  std::vector<Upstream*> get(const std::vector<UpstreamConfig>& configs);

 private:
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Upstream>> by_key_;
};

struct Pick {
  Upstream* upstream = nullptr;
  bool affinity = false;  // chosen because it served the prompt's prefix
};

// A replica of `route` for a request: among the selectable replicas not in `tried` (or, when all
// were tried, any selectable one), the one that served the longest prefix of the prompt unless it
// has more than `slack` requests in flight over the least busy, else the least busy (ties in turn).
Pick pick_replica(const ModelRoute& route, const std::vector<uint64_t>& hashes, const std::vector<Upstream*>& tried,
                  AffinityTable& affinity, int64_t slack, Clock::time_point now);

}  // namespace hayate::gateway
