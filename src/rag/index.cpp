#include "rag/index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>

#include <cmath>

#include "core/error.h"

namespace hayate::rag {

void normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  const auto inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

VectorIndex::VectorIndex(const CollectionInfo& info) : dim_(info.dim), metric_(info.metric) {
  if (info.index != "Flat") fail(ErrorKind::BadInput, "index '" + info.index + "' is not supported yet; use \"Flat\"");
  if (dim_ <= 0) fail(ErrorKind::BadInput, "index: the dimension must be positive");
  rebuild({}, {}, 0);
}

VectorIndex::~VectorIndex() = default;

void VectorIndex::rebuild(const std::vector<int64_t>& ids, std::vector<float> data, int64_t version) {
  if (data.size() != ids.size() * static_cast<size_t>(dim_))
    fail(ErrorKind::Internal, "index: " + std::to_string(data.size()) + " floats for " + std::to_string(ids.size()) +
                                  " vectors of " + std::to_string(dim_));
  faiss::Index* flat = metric_ == Metric::L2 ? static_cast<faiss::Index*>(new faiss::IndexFlatL2(dim_))
                                             : static_cast<faiss::Index*>(new faiss::IndexFlatIP(dim_));
  auto map = std::make_unique<faiss::IndexIDMap2>(flat);
  map->own_fields = true;
  if (metric_ == Metric::Cosine)
    for (size_t i = 0; i < ids.size(); ++i) {
      std::vector<float> row(data.begin() + static_cast<ptrdiff_t>(i * dim_),
                             data.begin() + static_cast<ptrdiff_t>((i + 1) * dim_));
      normalize(row);
      std::copy(row.begin(), row.end(), data.begin() + static_cast<ptrdiff_t>(i * dim_));
    }
  if (!ids.empty()) {
    std::vector<faiss::Index::idx_t> fids(ids.begin(), ids.end());
    map->add_with_ids(static_cast<faiss::Index::idx_t>(ids.size()), data.data(), fids.data());
  }
  index_ = std::move(map);
  version_ = version;
}

std::vector<Hit> VectorIndex::search(std::vector<float> query, int32_t k) const {
  if (query.size() != static_cast<size_t>(dim_))
    fail(ErrorKind::BadInput, "search: the query vector has " + std::to_string(query.size()) +
                                  " dimensions, the collection " + std::to_string(dim_));
  if (k <= 0 || index_->ntotal == 0) return {};
  if (metric_ == Metric::Cosine) normalize(query);
  k = static_cast<int32_t>(std::min<int64_t>(k, index_->ntotal));
  std::vector<float> distances(static_cast<size_t>(k));
  std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(k));
  index_->search(1, query.data(), k, distances.data(), labels.data());
  std::vector<Hit> hits;
  for (int32_t i = 0; i < k; ++i)
    if (labels[static_cast<size_t>(i)] >= 0)
      hits.push_back({labels[static_cast<size_t>(i)], distances[static_cast<size_t>(i)]});
  return hits;
}

int64_t VectorIndex::size() const { return index_->ntotal; }

}  // namespace hayate::rag
