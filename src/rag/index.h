// A collection's vector index: FAISS behind the collection's factory string, with the chunk ids
// of the store as its ids. Cosine is inner product over unit-length vectors. The index is derived
// data: built from the store's vectors, and tagged with the store version it reflects, so a stale
// one is rebuilt rather than trusted. An IVF index is a flat one until the collection has enough
// vectors to train its lists on (k-means on fewer points than FAISS's 39 per centroid gives lists
// that miss); once trained, its lists are kept across rebuilds until the collection has grown
// eightfold past the vectors they were trained on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rag/store.h"

namespace faiss {
struct Index;
}

namespace hayate::rag {

struct Hit {
  int64_t id = 0;   // the chunk's id in the store
  float score = 0;  // cosine / inner product: higher is closer; l2: the squared distance, lower is closer
};

// A factory string this build takes, read: "Flat", "IVF<nlist>,Flat", "IVF<nlist>,PQ<m>[x<bits>]",
// "HNSW<M>" (or "HNSW<M>,Flat").
struct IndexSpec {
  enum class Kind { Flat, IvfFlat, IvfPq, Hnsw } kind = Kind::Flat;
  int32_t nlist = 0;      // IVF
  int32_t pq_m = 0;       // PQ: sub-quantizers (must divide the dimension)
  int32_t pq_bits = 8;    // PQ: bits per code
  int32_t hnsw_m = 0;     // HNSW: links per node
  int64_t train_min = 0;  // IVF: vectors needed before it is trained (a flat index until then)
};

// Error(BadInput) saying what is accepted, for another string or an impossible one (PQ's m not
// dividing dim, nprobe for a non-IVF index, nprobe above nlist).
IndexSpec parse_index_spec(const CollectionInfo& info);

class VectorIndex {
 public:
  // Error(BadInput) as parse_index_spec for a spec this build does not take.
  explicit VectorIndex(const CollectionInfo& info);
  ~VectorIndex();

  // Replaces the contents with these vectors (n = ids.size(), data = n * dim floats).
  void rebuild(const std::vector<int64_t>& ids, std::vector<float> data, int64_t version);
  // The k best, best first; ids of -1 (fewer vectors than k) are left out.
  std::vector<Hit> search(std::vector<float> query, int32_t k) const;
  int64_t version() const { return version_; }
  // The index as a file's bytes: a header (magic, the collection's creation time, the store
  // version, a CRC-32 of the rest) and FAISS's own serialization.
  std::string serialize() const;
  // Reads serialize()'s bytes back. Error(BadInput) saying why for a file that is not one, is
  // damaged (checked before FAISS reads a byte of it), or belongs to another collection.
  void deserialize(std::string_view bytes, int64_t created);
  int64_t size() const;
  Metric metric() const { return metric_; }
  int64_t created() const { return created_; }
  // The vectors the IVF lists were trained on; 0 while the index is flat (or not IVF).
  int64_t trained_on() const { return trained_on_; }

 private:
  void apply_search_params();

  const int32_t dim_;
  const Metric metric_;
  const int64_t created_;  // the collection's: tells a file of a deleted namesake apart
  const std::string factory_;
  const IndexSpec spec_;
  const int32_t nprobe_, ef_search_;
  std::unique_ptr<faiss::Index> index_;
  int64_t version_ = -1;
  int64_t trained_on_ = 0;
};

// Scales a vector to unit length (a zero vector stays zero).
void normalize(std::vector<float>& v);

}  // namespace hayate::rag
