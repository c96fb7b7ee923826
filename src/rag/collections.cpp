#include "rag/collections.h"

#include <filesystem>

#include "core/error.h"

namespace hayate::rag {

Collections::Collections(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(ErrorKind::BadInput, dir + ": cannot create the collections directory: " + ec.message());
  store_ = std::make_unique<Store>((std::filesystem::path(dir) / "collections.db").string());
}

CollectionInfo Collections::require(const std::string& name) {
  std::optional<CollectionInfo> info = store_->collection(name);
  if (!info) fail(ErrorKind::NotFound, "collection '" + name + "' does not exist");
  return *info;
}

std::vector<SearchResult> Collections::search(const std::string& name, std::vector<float> query, int32_t top_k,
                                              std::optional<float> min_score) {
  const CollectionInfo info = require(name);
  std::vector<Hit> hits;
  {
    std::lock_guard lk(mu_);
    std::unique_ptr<VectorIndex>& index = indexes_[name];
    // A collection deleted and made again under the same name is another index.
    if (!index || index->version() > info.version || index->metric() != info.metric)
      index = std::make_unique<VectorIndex>(info);
    if (index->version() != info.version) {
      std::vector<int64_t> ids;
      std::vector<float> data;
      int64_t version = 0;
      store_->vectors(name, ids, data, version);
      index->rebuild(ids, std::move(data), version);
    }
    hits = index->search(std::move(query), top_k);
  }
  std::vector<SearchResult> out;
  for (const Hit& h : hits) {
    if (min_score && (info.metric == Metric::L2 ? h.score > *min_score : h.score < *min_score)) continue;
    std::optional<StoredChunk> c = store_->chunk(h.id);
    if (c) out.push_back({std::move(*c), h.score});  // deleted since the index was read: left out
  }
  return out;
}

}  // namespace hayate::rag
