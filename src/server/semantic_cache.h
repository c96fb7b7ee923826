// The semantic response cache of RAG chat (issue 15; off by default): a question whose embedding
// is within a cosine similarity threshold of one answered before, against the same collection at
// the same version and with the same everything else (model, sampling, history, rag options), is
// answered with that earlier answer. A change of the collection (its version) makes its entries
// misses, and they are dropped. Entries are unit vectors compared by a scan: the cache is small
// (bounded in entries, oldest evicted first), and the scan is far cheaper than a generation.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache.h"

namespace hayate::server {

class SemanticCache {
 public:
  SemanticCache(float threshold, size_t max_entries) : threshold_(threshold), max_entries_(max_entries) {}

  struct Hit {
    std::string body;
    float similarity = 0;
  };
  // `context`: what besides the question decides the answer (semantic_context()).
  std::optional<Hit> get(const std::string& collection, int64_t version, const std::string& context,
                         const std::vector<float>& query);
  void put(const std::string& collection, int64_t version, const std::string& context, std::vector<float> query,
           std::string body);

  int64_t hits() const { return stats().hits; }
  int64_t misses() const { return stats().misses; }
  size_t size();
  // As /metrics shows every cache: "semantic" in memory, its lookups, entries, bytes and evictions.
  cache::CacheStats stats() const;

 private:
  struct Entry {
    std::string collection, context, body;
    int64_t version = 0;
    std::vector<float> query;  // unit length
  };
  static int64_t bytes_of(const Entry& e);
  const float threshold_;
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // oldest first
  int64_t bytes_ = 0, evictions_ = 0;
  cache::LookupCounters counters_;
};

// The key of everything in a chat request body but the last user message's text and the fields
// that cannot change the answer, or nullopt when the request may not be answered from the cache
// (streamed, several choices, or sampled with a random seed).
std::optional<std::string> semantic_context(const std::string& body, const std::string& model_id);

}  // namespace hayate::server
