#include "gateway/upstreams.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hayate::gateway {

Upstream::Upstream(UpstreamConfig config, net::Endpoint endpoint)
    : config_(std::move(config)), endpoint_(std::move(endpoint)) {}

bool Upstream::selectable(Clock::time_point now) const {
  std::lock_guard lk(mu_);
  if (!open_) return healthy_;
  return healthy_ && now >= open_until_ && !trial_;
}

bool Upstream::claim(Clock::time_point now) {
  std::lock_guard lk(mu_);
  if (!open_) return healthy_;
  if (!healthy_ || now < open_until_ || trial_) return false;
  trial_ = true;
  return true;
}

void Upstream::succeeded() {
  std::lock_guard lk(mu_);
  failures_ = 0;
  ejections_in_row_ = 0;
  open_ = trial_ = false;
}

void Upstream::release() {
  std::lock_guard lk(mu_);
  trial_ = false;
}

bool Upstream::failed(Clock::time_point now, const GatewayConfig& policy) {
  std::lock_guard lk(mu_);
  ++failures_;
  const bool was_trial = open_ && trial_;
  trial_ = false;
  if (!was_trial && (open_ || failures_ < policy.eject_failures)) return false;
  // Ejected (again): the time doubles with each ejection in a row.
  const double seconds =
      std::min(policy.eject_max_seconds, policy.eject_seconds * std::pow(2.0, std::min(ejections_in_row_, 30)));
  ++ejections_in_row_;
  ++ejections_;
  open_ = true;
  open_until_ = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  return true;
}

bool Upstream::health_checked(bool ok, Clock::time_point now) {
  std::lock_guard lk(mu_);
  const bool was_healthy = healthy_;
  healthy_ = ok;
  bool readmitted = false;
  if (ok && open_ && now >= open_until_ && !trial_) {  // back: the next failure starts a new count
    open_ = false;
    failures_ = 0;
    readmitted = true;
  }
  return was_healthy != ok || readmitted;
}

Upstream::State Upstream::state(Clock::time_point now) const {
  std::lock_guard lk(mu_);
  if (!healthy_) return State::Unhealthy;
  if (open_) return now >= open_until_ ? State::HalfOpen : State::Ejected;
  return healthy_ ? State::Up : State::Unhealthy;
}

int64_t Upstream::ejections() const {
  std::lock_guard lk(mu_);
  return ejections_;
}

const char* to_string(Upstream::State s) {
  switch (s) {
    case Upstream::State::Up:
      return "up";
    case Upstream::State::Ejected:
      return "ejected";
    case Upstream::State::HalfOpen:
      return "half-open";
    case Upstream::State::Unhealthy:
      return "unhealthy";
  }
  return "?";
}

std::vector<uint64_t> prefix_hashes(std::string_view model, std::string_view text, size_t block) {
  std::vector<uint64_t> out;
  if (block == 0) return out;
  constexpr uint64_t kPrime = 1099511628211ull;
  uint64_t h = 14695981039346656037ull;
  for (const char c : model) h = (h ^ static_cast<unsigned char>(c)) * kPrime;
  h = (h ^ 0xffu) * kPrime;  // the model's end
  const size_t blocks = std::min<size_t>(text.size() / block, 64);
  for (size_t i = 0; i < blocks * block; ++i) {
    h = (h ^ static_cast<unsigned char>(text[i])) * kPrime;
    if ((i + 1) % block == 0) out.push_back(h);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string AffinityTable::lookup(const std::vector<uint64_t>& hashes) {
  std::lock_guard lk(mu_);
  for (const uint64_t h : hashes)
    if (const auto it = map_.find(h); it != map_.end()) return it->second.first;
  return "";
}

void AffinityTable::record(const std::vector<uint64_t>& hashes, const std::string& upstream) {
  std::lock_guard lk(mu_);
  for (const uint64_t h : hashes) {
    if (const auto it = map_.find(h); it != map_.end()) {
      it->second.first = upstream;
      lru_.splice(lru_.begin(), lru_, it->second.second);
      continue;
    }
    lru_.push_front(h);
    map_.emplace(h, std::make_pair(upstream, lru_.begin()));
    while (map_.size() > capacity_) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
  }
}

size_t AffinityTable::size() const {
  std::lock_guard lk(mu_);
  return map_.size();
}

Routing::Routing(std::shared_ptr<const GatewayConfig> config, std::vector<Upstream*> upstreams)
    : config_(std::move(config)), upstreams_(std::move(upstreams)) {
  for (Upstream* u : upstreams_) {
    ModelRoute& r = models_[u->config().model];
    r.name = u->config().model;
    r.replicas.push_back(u);
  }
  for (const ModelConfig& m : config_->models) {
    models_[m.name].fallback = m.fallback;
    for (const std::string& a : m.aliases) aliases_[a] = m.name;
  }
}

const ModelRoute* Routing::find(const std::string& name) const {
  auto it = models_.find(name);
  if (it == models_.end())
    if (const auto a = aliases_.find(name); a != aliases_.end()) it = models_.find(a->second);
  return it == models_.end() ? nullptr : &it->second;
}

std::vector<std::string> Routing::model_names() const {
  std::vector<std::string> out;
  for (const auto& [name, route] : models_) out.push_back(name);
  for (const auto& [alias, model] : aliases_) out.push_back(alias);
  return out;
}

std::vector<Upstream*> UpstreamSet::get(const std::vector<UpstreamConfig>& configs) {
  std::lock_guard lk(mu_);
  std::vector<Upstream*> out;
  for (const UpstreamConfig& c : configs) {
    // Everything that changes how requests are sent is in the key: a changed one is a new upstream.
    const std::string key = c.name + "\n" + c.url + "\n" + c.model + "\n" + c.upstream_model + "\n" + c.api_key;
    auto& slot = by_key_[key];
    if (!slot) slot = std::make_unique<Upstream>(c, net::resolve(net::parse_api_url(c.url)));
    out.push_back(slot.get());
  }
  return out;
}

Pick pick_replica(const ModelRoute& route, const std::vector<uint64_t>& hashes, const std::vector<Upstream*>& tried,
                  AffinityTable& affinity, int64_t slack, Clock::time_point now) {
  static std::atomic<uint64_t> turn{0};
  auto was_tried = [&](Upstream* u) { return std::find(tried.begin(), tried.end(), u) != tried.end(); };
  std::vector<Upstream*> fresh, any;
  for (Upstream* u : route.replicas) {
    if (!u->selectable(now)) continue;
    any.push_back(u);
    if (!was_tried(u)) fresh.push_back(u);
  }
  std::vector<Upstream*>& candidates = fresh.empty() ? any : fresh;
  const std::string preferred = hashes.empty() ? "" : affinity.lookup(hashes);
  while (!candidates.empty()) {
    int least = candidates.front()->outstanding();
    for (Upstream* u : candidates) least = std::min(least, u->outstanding());
    Pick p;
    for (Upstream* u : candidates)
      if (u->name() == preferred && u->outstanding() <= least + slack) p = {u, true};
    if (!p.upstream) {
      std::vector<Upstream*> idle;
      for (Upstream* u : candidates)
        if (u->outstanding() == least) idle.push_back(u);
      p.upstream = idle[turn.fetch_add(1, std::memory_order_relaxed) % idle.size()];
    }
    if (p.upstream->claim(now)) {
      if (!hashes.empty()) affinity.record(hashes, p.upstream->name());
      return p;
    }
    candidates.erase(std::find(candidates.begin(), candidates.end(), p.upstream));  // a trial taken meanwhile
  }
  return {};
}

}  // namespace hayate::gateway
