// The collections of one server: the store (SQLite, the truth) and an in-memory vector index per
// collection, rebuilt from the store whenever the store's version of the collection moved on (so
// an index never answers with chunks that are gone, nor misses committed ones). Embedding is the
// caller's (the server runs it through the engine): this takes and answers vectors.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "rag/index.h"
#include "rag/store.h"

namespace hayate::rag {

struct SearchResult {
  StoredChunk chunk;
  float score = 0;
};

class Collections {
 public:
  // Opens dir/collections.db (creating dir). Error(BadInput) when it cannot.
  explicit Collections(const std::string& dir);

  Store& store() { return *store_; }
  // Error(NotFound) naming the collection when there is none.
  CollectionInfo require(const std::string& name);
  // top_k best chunks; with min_score, only those scoring at least that (l2: at most).
  std::vector<SearchResult> search(const std::string& name, std::vector<float> query, int32_t top_k,
                                   std::optional<float> min_score = std::nullopt);

 private:
  std::unique_ptr<Store> store_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<VectorIndex>> indexes_;
};

}  // namespace hayate::rag
