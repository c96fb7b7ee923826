#include "rag/index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <zlib.h>

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace hayate::rag {

void normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  const auto inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

VectorIndex::VectorIndex(const CollectionInfo& info) : dim_(info.dim), metric_(info.metric), created_(info.created) {
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

namespace {

constexpr char kMagic[8] = {'H', 'Y', 'I', 'N', 'D', 'E', 'X', '1'};
struct Header {
  char magic[8];
  int64_t created, version;
  uint64_t payload_bytes;
  uint32_t crc;
  uint32_t dim;
};

uint32_t crc_of(const uint8_t* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const auto step = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, data, step);
    data += step;
    n -= step;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

std::string VectorIndex::serialize() const {
  faiss::VectorIOWriter writer;
  faiss::write_index(index_.get(), &writer);
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.created = created_;
  h.version = version_;
  h.payload_bytes = writer.data.size();
  h.crc = crc_of(writer.data.data(), writer.data.size());
  h.dim = static_cast<uint32_t>(dim_);
  std::string out(reinterpret_cast<const char*>(&h), sizeof h);
  out.append(reinterpret_cast<const char*>(writer.data.data()), writer.data.size());
  return out;
}

void VectorIndex::deserialize(std::string_view bytes, int64_t created) {
  Header h{};
  if (bytes.size() < sizeof h) fail(ErrorKind::BadInput, "shorter than its header");
  std::memcpy(&h, bytes.data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) fail(ErrorKind::BadInput, "not a hayate index file");
  if (h.created != created || h.dim != static_cast<uint32_t>(dim_))
    fail(ErrorKind::BadInput, "the index of another collection of that name");
  if (h.payload_bytes != bytes.size() - sizeof h) fail(ErrorKind::BadInput, "truncated");
  const auto* payload = reinterpret_cast<const uint8_t*>(bytes.data() + sizeof h);
  if (crc_of(payload, h.payload_bytes) != h.crc) fail(ErrorKind::BadInput, "damaged (its checksum does not match)");
  faiss::VectorIOReader reader;
  reader.data.assign(payload, payload + h.payload_bytes);
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::read_index(&reader));
  } catch (const std::exception& e) {
    fail(ErrorKind::BadInput, std::string("FAISS cannot read it: ") + e.what());
  }
  if (index->d != dim_) fail(ErrorKind::BadInput, "its vectors have another dimension");
  index_ = std::move(index);
  version_ = h.version;
}

}  // namespace hayate::rag
