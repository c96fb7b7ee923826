// A collection's vector index: FAISS behind the collection's factory string, with the chunk ids
// of the store as its ids. Cosine is inner product over unit-length vectors. The index is derived
// data: built from the store's vectors, and tagged with the store version it reflects, so a stale
// one is rebuilt rather than trusted.
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

class VectorIndex {
 public:
  // Error(BadInput) for a factory string this build does not take (only "Flat" for now: IVF and
  // HNSW need training and parameters that are the next step).
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

 private:
  const int32_t dim_;
  const Metric metric_;
  const int64_t created_;  // the collection's: tells a file of a deleted namesake apart
  std::unique_ptr<faiss::Index> index_;
  int64_t version_ = -1;
};

// Scales a vector to unit length (a zero vector stays zero).
void normalize(std::vector<float>& v);

}  // namespace hayate::rag
