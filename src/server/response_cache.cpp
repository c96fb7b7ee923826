#include "server/response_cache.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "api/openai.h"
#include "cache/memory_store.h"

namespace hayate::server {

std::unique_ptr<cache::Cache> make_response_cache(const ServerConfig& config) {
  if (config.cache == "off") return nullptr;
  cache::MemoryLimits limits;
  limits.max_entries = config.cache_entries;
  limits.max_bytes = config.cache_max_bytes;
  limits.compress = config.cache_compress;
  limits.persist_path = config.cache_persist;
  std::shared_ptr<cache::Store> store = cache::make_store(config.cache, limits);
  spdlog::info("response cache: {} (deterministic requests only)", store->name());
  return std::make_unique<cache::Cache>("response", std::move(store), config.cache_ttl);
}

std::optional<std::string> response_cache_key(std::string_view route, const std::string& model_id,
                                              const std::string& body, const SamplingParams& sampling, bool stream) {
  if (stream) return std::nullopt;
  if (sampling.temperature > 0 && sampling.seed == SamplingParams{}.seed) return std::nullopt;
  nlohmann::json canonical = nlohmann::json::parse(body, nullptr, false);
  // A RAG answer depends on the collection's contents, which change without the request changing.
  if (!canonical.is_object() || canonical.contains("rag")) return std::nullopt;
  // The model may be named by an alias or left out; the served one is what decides the answer.
  for (const char* field : {"model", "stream", "stream_options", "user"}) canonical.erase(field);
  // nlohmann's objects keep their keys sorted, so dump() is one text per request.
  return std::string(route) + "\n" + model_id + "\n" + canonical.dump();
}

std::optional<std::string> refresh_cached_response(const std::string& cached, const std::string& id_prefix) {
  nlohmann::json body = nlohmann::json::parse(cached, nullptr, false);
  if (!body.is_object() || !body.contains("choices")) return std::nullopt;
  body["id"] = api::new_request_id(id_prefix);
  body["created"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return body.dump();
}

}  // namespace hayate::server
