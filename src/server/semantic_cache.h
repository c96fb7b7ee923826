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

  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }
  size_t size();

 private:
  struct Entry {
    std::string collection, context, body;
    int64_t version = 0;
    std::vector<float> query;  // unit length
  };
  const float threshold_;
  const size_t max_entries_;
  std::mutex mu_;
  std::deque<Entry> entries_;  // oldest first
  int64_t hits_ = 0, misses_ = 0;
};

// The key of everything in a chat request body but the last user message's text and the fields
// that cannot change the answer, or nullopt when the request may not be answered from the cache
// (streamed, several choices, or sampled with a random seed).
std::optional<std::string> semantic_context(const std::string& body, const std::string& model_id);

}  // namespace hayate::server
