#include "rag/collections.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace hayate::rag {

Collections::Collections(const std::string& dir, const std::string& store) : dir_(dir) {
  if (!store.empty() && !is_postgres_url(store))
    fail(ErrorKind::BadInput, "rag_store '" + store + "' is not a postgres:// or postgresql:// URL");
  if (dir.empty() && store.empty()) fail(ErrorKind::BadInput, "collections need a directory or a PostgreSQL store");
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(dir) / "indexes", ec);
    if (ec) fail(ErrorKind::BadInput, dir + ": cannot create the collections directory: " + ec.message());
  }
  store_ = store.empty() ? open_sqlite_store((std::filesystem::path(dir) / "collections.db").string())
                         : open_postgres_store(store);
}

CollectionInfo Collections::require(const std::string& name) {
  std::optional<CollectionInfo> info = store_->collection(name);
  if (!info) fail(ErrorKind::NotFound, "collection '" + name + "' does not exist");
  return *info;
}

std::string Collections::index_path(const std::string& name) const {
  if (dir_.empty()) return "";
  return (std::filesystem::path(dir_) / "indexes" / (name + ".faiss")).string();
}

bool Collections::delete_collection(const std::string& name) {
  std::lock_guard lk(mu_);
  indexes_.erase(name);
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove(index_path(name), ec);
  return store_->delete_collection(name);
}

VectorIndex& Collections::current_index_locked(const std::string& name, const CollectionInfo& info) {
  std::unique_ptr<VectorIndex>& index = indexes_[name];
  // A collection deleted and made again under the same name is another index.
  if (!index || index->created() != info.created || index->version() > info.version || index->metric() != info.metric) {
    index = std::make_unique<VectorIndex>(info);
    const std::string path = index_path(name);
    if (!path.empty() && std::filesystem::exists(path)) {
      std::ifstream in(path, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      try {
        index->deserialize(bytes, info.created);
      } catch (const Error& e) {
        spdlog::warn("rag: the index file {} is {}; rebuilding it from the store", path, e.what());
        index = std::make_unique<VectorIndex>(info);
      }
    }
  }
  if (index->version() != info.version) {
    std::vector<int64_t> ids;
    std::vector<float> data;
    int64_t version = 0;
    store_->vectors(name, ids, data, version);
    index->rebuild(ids, std::move(data), version);
    ++rebuilds_;
    try {
      if (!dir_.empty()) write_file_atomically(index_path(name), index->serialize());
    } catch (const Error& e) {
      spdlog::warn("rag: cannot save the index of '{}' ({}); it is rebuilt at the next start", name, e.what());
    }
  }
  return *index;
}

size_t Collections::warm_up() {
  size_t n = 0;
  for (const CollectionInfo& info : store_->list_collections()) {
    std::lock_guard lk(mu_);
    current_index_locked(info.name, info);
    ++n;
  }
  return n;
}

std::vector<SearchResult> Collections::search(const std::string& name, std::vector<float> query, int32_t top_k,
                                              std::optional<float> min_score) {
  const CollectionInfo info = require(name);
  std::vector<Hit> hits;
  {
    std::lock_guard lk(mu_);
    hits = current_index_locked(name, info).search(std::move(query), top_k);
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
