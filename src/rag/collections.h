// The collections of one server: the store (SQLite, or PostgreSQL shared with other servers; the
// truth) and a vector index per collection, rebuilt from the store whenever the store's version of
// the collection moved on (so an index never answers with chunks that are gone, nor misses
// committed ones, whichever server made the change: every search reads the version). Each index
// is also kept in DIR/indexes/NAME.faiss (written atomically), read at the first search after a
// start when it is of the store's version and intact; a missing, stale or damaged file is rebuilt.
// Embedding is the caller's (the server runs it through the engine): this takes and answers vectors.
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
  // `store`: empty for dir/collections.db (SQLite), or a postgres:// URL. `dir` (created) keeps the
  // index files; empty (only with PostgreSQL) keeps them in memory, built from the store at start.
  // Error(BadInput) when it cannot open them, Error(Unavailable) when PostgreSQL cannot be reached.
  explicit Collections(const std::string& dir, const std::string& store = "");

  Store& store() { return *store_; }
  // Error(NotFound) naming the collection when there is none.
  CollectionInfo require(const std::string& name);
  // Removes the collection, its documents and its index file; false when there was none.
  bool delete_collection(const std::string& name);
  // Indexes built from the store's vectors (not read from their file) since this opened.
  int64_t rebuilds() const { return rebuilds_; }
  // Reads (or rebuilds) every collection's index now, so that the first search after a start does
  // not pay for it; returns how many collections there are.
  size_t warm_up();
  // top_k best chunks; with min_score, only those scoring at least that (l2: at most).
  std::vector<SearchResult> search(const std::string& name, std::vector<float> query, int32_t top_k,
                                   std::optional<float> min_score = std::nullopt);

 private:
  std::string index_path(const std::string& name) const;  // empty: index files are not kept
  // The collection's index of the store's version: the one in memory, its file, or rebuilt.
  VectorIndex& current_index_locked(const std::string& name, const CollectionInfo& info);

  const std::string dir_;
  std::unique_ptr<Store> store_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<VectorIndex>> indexes_;
  int64_t rebuilds_ = 0;
};

}  // namespace hayate::rag
