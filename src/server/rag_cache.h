// The embedding cache and the search cache of retrieval (issue 15, the seed's 500-1,000 and
// 200-500 entries, TTL 3,600 s), on the cache interface's stores (memory or a shared Redis).
// An embedding is keyed by the model and the query's tokens; a search by the database, the collection, its
// creation time and its store version, the query vector and the search's parameters, so a
// change to the collection is never answered from the cache (the version moved on) and a cached
// search needs no invalidation.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "rag/collections.h"
#include "server/config.h"

namespace hayate::server {

struct RagCaches {
  std::unique_ptr<cache::Cache> embeddings, searches;  // null when config.rag_cache is off
};
RagCaches make_rag_caches(const ServerConfig& config);

std::string embedding_cache_key(const std::string& model_id, const std::vector<int32_t>& ids);
std::string encode_vector(const std::vector<float>& v);
// nullopt for bytes that are not `dim` floats (a damaged or foreign entry: a miss).
std::optional<std::vector<float>> decode_vector(const std::string& bytes, int32_t dim);

// `store_id`: the database's (rag::Store::id), for servers of different databases on one Redis.
std::string search_cache_key(const std::string& store_id, const rag::CollectionInfo& info,
                             const std::vector<float>& query, int32_t top_k, std::optional<float> min_score);
std::string encode_results(const std::vector<rag::SearchResult>& results);
std::optional<std::vector<rag::SearchResult>> decode_results(const std::string& text);

// The collection's top_k through the search cache when there is one; `hit` says which.
std::vector<rag::SearchResult> cached_search(rag::Collections& c, cache::Cache* searches, const std::string& name,
                                             std::vector<float> query, int32_t top_k, std::optional<float> min_score,
                                             bool& hit);

}  // namespace hayate::server
