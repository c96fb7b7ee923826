// Where collections live, behind one interface with two stores: a SQLite database in WAL mode
// (synchronous=FULL; one server's) or PostgreSQL (shared by several servers). Either way a document
// whose add returned is stored with all its chunks and their vectors, and a crash mid-add leaves
// none of it. The vector index is derived data, rebuilt from here (index.h) whenever a
// collection's version moved on, so a server sees the others' changes at its next search.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hayate::rag {

enum class Metric { Cosine, InnerProduct, L2 };
// "cosine", "ip", "l2"; Error(BadInput) naming the choices for anything else.
Metric parse_metric(const std::string& name);
const char* metric_name(Metric m);

struct CollectionInfo {
  std::string name;
  Metric metric = Metric::Cosine;
  std::string index = "Flat";  // a FAISS factory string: Flat, IVFn,Flat, IVFn,PQm[xb], HNSWm
  int32_t nprobe = 0;          // IVF: lists searched per query (0: the default, 16)
  int32_t ef_search = 0;       // HNSW: the candidate list's length (0: the default, 64)
  int32_t dim = 0;             // the embedding model's dimension
  std::string model;           // the embedding model's id
  int64_t created = 0;         // seconds since the epoch
  int64_t version = 0;         // grows with every change of its documents (the index's staleness check)
};

struct NewChunk {
  int64_t start = 0, end = 0;  // bytes of the document
  std::string text, section;
  std::vector<float> vector;  // dim floats
};

struct NewDocument {
  std::string id;             // the caller's id; unique in the collection
  std::string content_hash;   // of the text: the same id and hash again is a no-op
  std::string metadata_json;  // an object
  std::vector<NewChunk> chunks;
};

struct StoredChunk {
  int64_t id = 0;  // the vector's id in the index
  std::string document_id, text, section, metadata_json;
  int64_t start = 0, end = 0, seq = 0;
};

struct CollectionStats {
  int64_t documents = 0, chunks = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Error(BadInput) when the name is taken or not [A-Za-z0-9_-]{1,64}.
  virtual void create_collection(const CollectionInfo& info) = 0;
  virtual std::vector<CollectionInfo> list_collections() = 0;
  virtual std::optional<CollectionInfo> collection(const std::string& name) = 0;
  // Removes the collection and everything in it; false when there was none.
  virtual bool delete_collection(const std::string& name) = 0;
  virtual CollectionStats stats(const std::string& name) = 0;

  enum class AddResult { Added, Replaced, Unchanged };
  // One transaction: the document and all its chunks, or nothing. A document with this id and
  // another content hash is replaced (its old chunks removed); with the same hash it is left as is.
  // Error(NotFound) when the collection is gone (deleted meanwhile, by another server).
  virtual AddResult add_document(const std::string& collection, const NewDocument& doc) = 0;
  virtual bool delete_document(const std::string& collection, const std::string& document_id) = 0;

  // Every chunk's id and vector, in id order (to build the index), and the version they are of.
  virtual void vectors(const std::string& collection, std::vector<int64_t>& ids, std::vector<float>& data,
                       int64_t& version) = 0;
  virtual std::optional<StoredChunk> chunk(int64_t id) = 0;
  // A random id the database was given when it was made: tells caches shared by several servers
  // (Redis) apart the collections of different databases that have the same name and version.
  const std::string& id() const { return id_; }

 protected:
  std::string id_;
};

// A SQLite file, opened or created. Error(BadInput) when the file is not one.
std::unique_ptr<Store> open_sqlite_store(const std::string& path);
// PostgreSQL at a postgres:// or postgresql:// URL (libpq's conninfo), its tables made when
// missing. Error(Unavailable) when it cannot be reached.
std::unique_ptr<Store> open_postgres_store(const std::string& conninfo);
bool is_postgres_url(const std::string& spec);

// What every store checks of a new collection: Error(BadInput) for a bad name or dimension.
void check_new_collection(const CollectionInfo& info);
int64_t unix_seconds();

}  // namespace hayate::rag
