#include "server/rag_cache.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "server/routes.h"

namespace hayate::server {

RagCaches make_rag_caches(const ServerConfig& config) {
  RagCaches out;
  if (config.rag_cache == "off") return out;
  auto make = [&](const char* name, int64_t entries) {
    cache::MemoryLimits limits;
    limits.max_entries = entries;
    return std::make_unique<cache::Cache>(name, cache::make_store(config.rag_cache, limits), config.rag_cache_ttl);
  };
  if (config.embedding_cache_entries > 0) out.embeddings = make("embedding", config.embedding_cache_entries);
  if (config.search_cache_entries > 0) out.searches = make("search", config.search_cache_entries);
  spdlog::info("retrieval caches: {} (embeddings {} entries, searches {})", config.rag_cache,
               config.embedding_cache_entries, config.search_cache_entries);
  return out;
}

std::string embedding_cache_key(const std::string& model_id, const std::vector<int32_t>& ids) {
  std::string key = model_id + '\n';
  key.append(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t));
  return key;
}

std::string encode_vector(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::optional<std::vector<float>> decode_vector(const std::string& bytes, int32_t dim) {
  if (dim <= 0 || bytes.size() != static_cast<size_t>(dim) * sizeof(float)) return std::nullopt;
  std::vector<float> v(static_cast<size_t>(dim));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

std::string search_cache_key(const std::string& store_id, const rag::CollectionInfo& info,
                             const std::vector<float>& query, int32_t top_k, std::optional<float> min_score) {
  std::string key = store_id + '\n' + info.name + '\n' + std::to_string(info.created) + '\n' +
                    std::to_string(info.version) + '\n' + std::to_string(top_k) + '\n' +
                    (min_score ? std::to_string(*min_score) : "-") + '\n';
  return key + encode_vector(query);
}

std::string encode_results(const std::vector<rag::SearchResult>& results) {
  nlohmann::json a = nlohmann::json::array();
  for (const rag::SearchResult& r : results)
    a.push_back({r.chunk.id, r.chunk.document_id, r.chunk.text, r.chunk.section, r.chunk.metadata_json, r.chunk.start,
                 r.chunk.end, r.chunk.seq, r.score});
  return a.dump();
}

std::optional<std::vector<rag::SearchResult>> decode_results(const std::string& text) {
  const nlohmann::json a = nlohmann::json::parse(text, nullptr, false);
  if (!a.is_array()) return std::nullopt;
  std::vector<rag::SearchResult> out;
  try {
    for (const nlohmann::json& r : a) {
      rag::SearchResult s;
      s.chunk = {r.at(0).get<int64_t>(),     r.at(1).get<std::string>(), r.at(2).get<std::string>(),
                 r.at(3).get<std::string>(), r.at(4).get<std::string>(), r.at(5).get<int64_t>(),
                 r.at(6).get<int64_t>(),     r.at(7).get<int64_t>()};
      s.score = r.at(8).get<float>();
      out.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // not one of ours: a miss
  }
  return out;
}

std::vector<rag::SearchResult> cached_search(rag::Collections& c, cache::Cache* searches, const std::string& name,
                                             std::vector<float> query, int32_t top_k, std::optional<float> min_score,
                                             bool& hit) {
  hit = false;
  if (!searches) return c.search(name, std::move(query), top_k, min_score);
  const std::string key = search_cache_key(c.store().id(), c.require(name), query, top_k, min_score);
  if (std::optional<std::string> cached = searches->get(key))
    if (std::optional<std::vector<rag::SearchResult>> results = decode_results(*cached)) {
      hit = true;
      return std::move(*results);
    }
  std::vector<rag::SearchResult> results = c.search(name, std::move(query), top_k, min_score);
  searches->put(key, encode_results(results));
  return results;
}

awaitable<std::optional<std::vector<float>>> embed_query(Exchange& ex, ServerState& st, Service& svc,
                                                         std::vector<int32_t> ids, bool& hit) {
  hit = false;
  cache::Cache* c = st.embedding_cache();
  const std::string key = c ? embedding_cache_key(svc.model_id(), ids) : std::string();
  if (c)
    if (std::optional<std::string> cached = c->get(key))
      if (std::optional<std::vector<float>> v = decode_vector(*cached, svc.n_embd())) {
        hit = true;
        co_return v;
      }
  std::vector<std::vector<int32_t>> one{std::move(ids)};
  std::optional<std::vector<std::vector<float>>> vectors = co_await embed_all(ex, st, svc, std::move(one));
  if (!vectors) co_return std::nullopt;
  if (c) c->put(key, encode_vector(vectors->at(0)));
  co_return std::move(vectors->at(0));
}

}  // namespace hayate::server
