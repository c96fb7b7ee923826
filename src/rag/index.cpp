#include "rag/index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <string_view>

#include "core/error.h"

namespace hayate::rag {
namespace {

constexpr int64_t kPointsPerCentroid = 39;  // FAISS warns below this many training points per list
constexpr int64_t kSamplePerCentroid = 64;  // training uses at most this many: k-means time grows with it
constexpr int64_t kRetrainGrowth = 8;       // lists trained on n vectors are kept up to 8n
constexpr int32_t kDefaultNprobe = 16;      // the seed's Milvus setting
constexpr int32_t kDefaultEfSearch = 64;

int32_t number(const std::string& s, int32_t lo, int32_t hi, const std::string& what) {
  if (s.size() > 6 || std::stol(s) < lo || std::stol(s) > hi)
    fail(ErrorKind::BadInput,
         "index: " + what + " must be " + std::to_string(lo) + ".." + std::to_string(hi) + ", not " + s);
  return static_cast<int32_t>(std::stol(s));
}

// The digits at the front of `s`, taken off it; nullopt when there are none.
std::optional<std::string> digits(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0) return std::nullopt;
  std::string out(s.substr(0, n));
  s.remove_prefix(n);
  return out;
}

bool take(std::string_view& s, std::string_view word) {
  if (s.substr(0, word.size()) != word) return false;
  s.remove_prefix(word.size());
  return true;
}

// One query, or a small index's build, has little to share among threads, and OpenMP's idle
// threads spin: on a busy machine its parallel regions cost more than they save (a test's few
// thousand vectors took 20 s instead of 5). Limits this thread's regions while it lives.
class OneThread {
 public:
  explicit OneThread(bool on) : threads_(omp_get_max_threads()), on_(on) {
    if (on_) omp_set_num_threads(1);
  }
  ~OneThread() {
    if (on_) omp_set_num_threads(threads_);
  }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  const int threads_;
  const bool on_;
};

constexpr int64_t kParallelBuild = 50000;  // vectors from which a build uses OpenMP's threads

faiss::MetricType faiss_metric(Metric m) { return m == Metric::L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT; }

}  // namespace

void normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  const auto inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

IndexSpec parse_index_spec(const CollectionInfo& info) {
  // Scanned by hand: GCC 12's <regex> trips -Wmaybe-uninitialized in the sanitizer build.
  const auto unknown = [&] {
    fail(ErrorKind::BadInput, "index '" + info.index +
                                  "' is not one of \"Flat\", \"IVF<nlist>,Flat\", \"IVF<nlist>,PQ<m>[x<bits>]\", "
                                  "\"HNSW<M>\"");
  };
  IndexSpec spec;
  std::string_view s = info.index;
  if (s == "Flat") {
    spec.kind = IndexSpec::Kind::Flat;
  } else if (take(s, "IVF")) {
    const std::optional<std::string> nlist = digits(s);
    if (!nlist || !take(s, ",")) unknown();
    std::optional<std::string> m, bits;
    if (s == "Flat") {
      spec.kind = IndexSpec::Kind::IvfFlat;
    } else if (take(s, "PQ") && (m = digits(s)) && (s.empty() || (take(s, "x") && (bits = digits(s)) && s.empty()))) {
      spec.kind = IndexSpec::Kind::IvfPq;
    } else {
      unknown();
    }
    spec.nlist = number(*nlist, 1, 65536, "IVF's list count");
    int64_t centroids = spec.nlist;
    if (spec.kind == IndexSpec::Kind::IvfPq) {
      spec.pq_m = number(*m, 1, 4096, "PQ's sub-quantizer count");
      if (bits) spec.pq_bits = number(*bits, 1, 16, "PQ's bits per code");
      if (info.dim % spec.pq_m != 0)
        fail(ErrorKind::BadInput,
             "index: PQ" + std::to_string(spec.pq_m) + " must divide the dimension " + std::to_string(info.dim));
      centroids = std::max<int64_t>(centroids, int64_t{1} << spec.pq_bits);
    }
    spec.train_min = centroids * kPointsPerCentroid;
  } else if (take(s, "HNSW")) {
    const std::optional<std::string> m = digits(s);
    if (!m || !(s.empty() || s == ",Flat")) unknown();
    spec.kind = IndexSpec::Kind::Hnsw;
    spec.hnsw_m = number(*m, 2, 256, "HNSW's link count");
  } else {
    unknown();
  }
  const bool is_ivf = spec.kind == IndexSpec::Kind::IvfFlat || spec.kind == IndexSpec::Kind::IvfPq;
  if (info.nprobe != 0 && (!is_ivf || info.nprobe < 0 || info.nprobe > spec.nlist))
    fail(ErrorKind::BadInput, is_ivf ? "nprobe must be 1.." + std::to_string(spec.nlist) + " for " + info.index
                                     : "nprobe applies to IVF indexes, not " + info.index);
  if (info.ef_search != 0 && (spec.kind != IndexSpec::Kind::Hnsw || info.ef_search < 0 || info.ef_search > 65536))
    fail(ErrorKind::BadInput, spec.kind == IndexSpec::Kind::Hnsw
                                  ? std::string("ef_search must be 1..65536")
                                  : "ef_search applies to HNSW indexes, not " + info.index);
  return spec;
}

VectorIndex::VectorIndex(const CollectionInfo& info)
    : dim_(info.dim),
      metric_(info.metric),
      created_(info.created),
      factory_(info.index),
      spec_(parse_index_spec(info)),
      nprobe_(info.nprobe > 0 ? info.nprobe : std::min(kDefaultNprobe, std::max(spec_.nlist, 1))),
      ef_search_(info.ef_search > 0 ? info.ef_search : kDefaultEfSearch) {
  if (dim_ <= 0) fail(ErrorKind::BadInput, "index: the dimension must be positive");
  rebuild({}, {}, 0);
}

VectorIndex::~VectorIndex() = default;

void VectorIndex::apply_search_params() {
  auto* map = dynamic_cast<faiss::IndexIDMap2*>(index_.get());
  faiss::Index* inner = map ? map->index : index_.get();
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(inner)) ivf->nprobe = static_cast<size_t>(nprobe_);
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(inner)) hnsw->hnsw.efSearch = ef_search_;
}

void VectorIndex::rebuild(const std::vector<int64_t>& ids, std::vector<float> data, int64_t version) {
  if (data.size() != ids.size() * static_cast<size_t>(dim_))
    fail(ErrorKind::Internal, "index: " + std::to_string(data.size()) + " floats for " + std::to_string(ids.size()) +
                                  " vectors of " + std::to_string(dim_));
  const auto n = static_cast<int64_t>(ids.size());
  const size_t d = static_cast<size_t>(dim_);
  const OneThread one(n < kParallelBuild);
  if (metric_ == Metric::Cosine)
    for (int64_t i = 0; i < n; ++i) {
      float* row = data.data() + static_cast<size_t>(i) * d;
      double sum = 0;
      for (size_t j = 0; j < d; ++j) sum += static_cast<double>(row[j]) * row[j];
      if (sum <= 0) continue;
      const auto inv = static_cast<float>(1.0 / std::sqrt(sum));
      for (size_t j = 0; j < d; ++j) row[j] *= inv;
    }
  const bool ivf = spec_.kind == IndexSpec::Kind::IvfFlat || spec_.kind == IndexSpec::Kind::IvfPq;
  auto* current = dynamic_cast<faiss::IndexIDMap2*>(index_.get());
  if (ivf && n >= spec_.train_min && trained_on_ > 0 && n <= kRetrainGrowth * trained_on_ && current) {
    current->reset();  // the trained lists stay; only the vectors go
  } else {
    std::unique_ptr<faiss::Index> inner;
    int64_t trained_on = 0;
    if (spec_.kind == IndexSpec::Kind::Hnsw || (ivf && n >= spec_.train_min)) {
      try {
        inner.reset(faiss::index_factory(dim_, factory_.c_str(), faiss_metric(metric_)));
      } catch (const std::exception& e) {
        fail(ErrorKind::BadInput, "index '" + factory_ + "': FAISS cannot make it: " + e.what());
      }
    } else if (metric_ == Metric::L2) {
      inner = std::make_unique<faiss::IndexFlatL2>(dim_);
    } else {
      inner = std::make_unique<faiss::IndexFlatIP>(dim_);
    }
    if (ivf && n >= spec_.train_min) {
      // An evenly strided sample: the store's order is insertion order, so this spans the documents.
      const int64_t cap =
          std::max<int64_t>(spec_.nlist, spec_.pq_m ? int64_t{1} << spec_.pq_bits : 0) * kSamplePerCentroid;
      const int64_t take = std::min(n, cap);
      std::vector<float> sample(static_cast<size_t>(take) * d);
      for (int64_t i = 0; i < take; ++i) {
        const auto from = static_cast<size_t>(i * n / take) * d;
        std::copy(data.begin() + static_cast<ptrdiff_t>(from), data.begin() + static_cast<ptrdiff_t>(from + d),
                  sample.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(i) * d));
      }
      if (auto* ivf_index = dynamic_cast<faiss::IndexIVF*>(inner.get())) ivf_index->cp.niter = 10;
      // The factory turns on polysemous training (minutes of annealing) for codes this never
      // compares by Hamming distance.
      if (auto* pq = dynamic_cast<faiss::IndexIVFPQ*>(inner.get())) pq->do_polysemous_training = false;
      inner->train(take, sample.data());
      trained_on = n;
    }
    auto map = std::make_unique<faiss::IndexIDMap2>(inner.release());
    map->own_fields = true;
    index_ = std::move(map);
    trained_on_ = trained_on;
  }
  if (n > 0) {
    std::vector<faiss::Index::idx_t> fids(ids.begin(), ids.end());
    index_->add_with_ids(n, data.data(), fids.data());
  }
  apply_search_params();
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
  const OneThread one(true);
  index_->search(1, query.data(), k, distances.data(), labels.data());
  std::vector<Hit> hits;
  for (int32_t i = 0; i < k; ++i)
    if (labels[static_cast<size_t>(i)] >= 0)
      hits.push_back({labels[static_cast<size_t>(i)], distances[static_cast<size_t>(i)]});
  return hits;
}

int64_t VectorIndex::size() const { return index_->ntotal; }

namespace {

// 2: the trained-on count joined the header (a file of 1 is rebuilt as not one).
constexpr char kMagic[8] = {'H', 'Y', 'I', 'N', 'D', 'E', 'X', '2'};
struct Header {
  char magic[8];
  int64_t created, version, trained_on;
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
  h.trained_on = trained_on_;
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
  if (!dynamic_cast<faiss::IndexIDMap2*>(index.get())) fail(ErrorKind::BadInput, "not an index with ids");
  index_ = std::move(index);
  version_ = h.version;
  trained_on_ = h.trained_on;
  apply_search_params();
}

}  // namespace hayate::rag
