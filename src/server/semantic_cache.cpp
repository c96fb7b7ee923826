#include "server/semantic_cache.h"

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "cache/hash.h"

namespace hayate::server {
namespace {

std::vector<float> unit(std::vector<float> v) {
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm > 0)
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

}  // namespace

int64_t SemanticCache::bytes_of(const Entry& e) {
  return static_cast<int64_t>(e.collection.size() + e.context.size() + e.body.size() + e.query.size() * sizeof(float));
}

std::optional<SemanticCache::Hit> SemanticCache::get(const std::string& collection, int64_t version,
                                                     const std::string& context, const std::vector<float>& query) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<float> q = unit(query);
  std::lock_guard lk(mu_);
  std::optional<Hit> best;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->collection == collection && it->version != version) {  // the collection changed since
      bytes_ -= bytes_of(*it);
      it = entries_.erase(it);
      continue;
    }
    if (it->collection == collection && it->context == context && it->query.size() == q.size()) {
      double dot = 0;
      for (size_t i = 0; i < q.size(); ++i) dot += static_cast<double>(q[i]) * it->query[i];
      if (dot >= threshold_ && (!best || dot > best->similarity)) best = Hit{it->body, static_cast<float>(dot)};
    }
    ++it;
  }
  counters_.lookup(
      best.has_value(),
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  return best;
}

void SemanticCache::put(const std::string& collection, int64_t version, const std::string& context,
                        std::vector<float> query, std::string body) {
  if (max_entries_ == 0) return;
  std::lock_guard lk(mu_);
  while (entries_.size() >= max_entries_) {
    bytes_ -= bytes_of(entries_.front());
    entries_.pop_front();
    ++evictions_;
  }
  entries_.push_back({collection, context, std::move(body), version, unit(std::move(query))});
  bytes_ += bytes_of(entries_.back());
  counters_.put();
}

cache::CacheStats SemanticCache::stats() const {
  cache::CacheStats s;
  s.name = "semantic";
  s.store = "memory";
  counters_.fill(s);
  std::lock_guard lk(mu_);
  s.stored.entries = static_cast<int64_t>(entries_.size());
  s.stored.bytes = bytes_;
  s.stored.evictions = evictions_;
  return s;
}

size_t SemanticCache::size() {
  std::lock_guard lk(mu_);
  return entries_.size();
}

std::optional<std::string> semantic_context(const std::string& body, const std::string& model_id) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || j.value("stream", false) || j.value("n", 1) != 1) return std::nullopt;
  const double temperature =
      j.contains("temperature") && j["temperature"].is_number() ? j["temperature"].get<double>() : 1.0;
  if (temperature != 0 && !j.contains("seed")) return std::nullopt;
  if (!j.contains("messages") || !j["messages"].is_array()) return std::nullopt;
  nlohmann::json& messages = j["messages"];
  for (auto it = messages.rbegin(); it != messages.rend(); ++it)
    if (it->is_object() && it->value("role", "") == "user") {
      (*it)["content"] = "";  // the question itself is compared by its embedding
      break;
    }
  for (const char* unused : {"user", "stream_options", "metadata"}) j.erase(unused);
  j["model"] = model_id;
  return cache::sha256_hex(j.dump());  // nlohmann's objects keep their keys sorted: a canonical form
}

}  // namespace hayate::server
