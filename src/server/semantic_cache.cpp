#include "server/semantic_cache.h"

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

std::optional<SemanticCache::Hit> SemanticCache::get(const std::string& collection, int64_t version,
                                                     const std::string& context, const std::vector<float>& query) {
  const std::vector<float> q = unit(query);
  std::lock_guard lk(mu_);
  std::optional<Hit> best;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->collection == collection && it->version != version) {  // the collection changed since
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
  ++(best ? hits_ : misses_);
  return best;
}

void SemanticCache::put(const std::string& collection, int64_t version, const std::string& context,
                        std::vector<float> query, std::string body) {
  if (max_entries_ == 0) return;
  std::lock_guard lk(mu_);
  while (entries_.size() >= max_entries_) entries_.pop_front();
  entries_.push_back({collection, context, std::move(body), version, unit(std::move(query))});
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
