// Collections in PostgreSQL (libpq), shared by every hayate server of a cluster: the same tables as
// the SQLite store, every statement parameterised, vectors as bytea sent and read in binary. A
// collection's version comes from one sequence for all of them, so a version is never seen twice:
// a server's index of a collection deleted and made again by another server is always stale. One
// connection per store, one statement (or transaction) at a time; a lost connection is reset on
// the next call.
#include <libpq-fe.h>

#include <cstring>
#include <mutex>
#include <random>
#include <type_traits>

#include "core/error.h"
#include "rag/store.h"

namespace hayate::rag {
namespace {

// Servers starting together would race on CREATE TABLE IF NOT EXISTS (it is not atomic in
// PostgreSQL): an advisory lock makes them take turns.
constexpr const char* kSchema = R"sql(
BEGIN;
SELECT pg_advisory_xact_lock(7316017);
CREATE SEQUENCE IF NOT EXISTS hayate_rag_versions;
CREATE TABLE IF NOT EXISTS hayate_rag_collections(
  name TEXT PRIMARY KEY, metric TEXT NOT NULL, index_spec TEXT NOT NULL, dim INTEGER NOT NULL,
  model TEXT NOT NULL, created BIGINT NOT NULL, version BIGINT NOT NULL, nprobe INTEGER NOT NULL,
  ef_search INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hayate_rag_documents(
  id BIGSERIAL PRIMARY KEY,
  collection TEXT NOT NULL REFERENCES hayate_rag_collections(name) ON DELETE CASCADE,
  doc_id TEXT NOT NULL, content_hash TEXT NOT NULL, metadata TEXT NOT NULL, UNIQUE(collection, doc_id));
CREATE TABLE IF NOT EXISTS hayate_rag_chunks(
  id BIGSERIAL PRIMARY KEY, document BIGINT NOT NULL REFERENCES hayate_rag_documents(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL, start_byte BIGINT NOT NULL, end_byte BIGINT NOT NULL, text TEXT NOT NULL,
  section TEXT NOT NULL, vector BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS hayate_rag_chunks_by_document ON hayate_rag_chunks(document);
CREATE TABLE IF NOT EXISTS hayate_rag_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO hayate_rag_meta(key, value) VALUES ('id', $id$) ON CONFLICT (key) DO NOTHING;
COMMIT;
)sql";

constexpr const char* kInfoColumns =
    "SELECT name, metric, index_spec, dim, model, created, version, nprobe, ef_search FROM hayate_rag_collections";

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;

std::string field(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}
int64_t integer(const PGresult* r, int row, int col) { return std::stoll(PQgetvalue(r, row, col)); }

CollectionInfo read_info(const PGresult* r, int row) {
  CollectionInfo c;
  c.name = field(r, row, 0);
  c.metric = parse_metric(field(r, row, 1));
  c.index = field(r, row, 2);
  c.dim = static_cast<int32_t>(integer(r, row, 3));
  c.model = field(r, row, 4);
  c.created = integer(r, row, 5);
  c.version = integer(r, row, 6);
  c.nprobe = static_cast<int32_t>(integer(r, row, 7));
  c.ef_search = static_cast<int32_t>(integer(r, row, 8));
  return c;
}

// A statement's parameters: text ones, and binary ones (a vector's bytes) where `binary` is set.
struct Params {
  std::vector<std::string> values;
  std::vector<int> binary;
  Params& text(std::string v) {
    // libpq reads a text parameter up to its first NUL: the rest would be dropped without a word.
    if (v.find('\0') != std::string::npos)
      fail(ErrorKind::BadInput, "collections: PostgreSQL text cannot hold a NUL byte");
    values.push_back(std::move(v));
    binary.push_back(0);
    return *this;
  }
  Params& bytes(const void* data, size_t n) {
    values.emplace_back(static_cast<const char*>(data), n);
    binary.push_back(1);
    return *this;
  }
};

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(std::string conninfo) : conninfo_(std::move(conninfo)) {
    std::lock_guard lk(mu_);
    try {
      reconnect_locked();
      std::random_device rd;
      char fresh[33];
      std::snprintf(fresh, sizeof fresh, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
      std::string schema = kSchema;
      schema.replace(schema.find("$id$"), 4, std::string("'") + fresh + "'");
      Result r(PQexec(conn_, schema.c_str()));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        fail(ErrorKind::BadInput, "collections: cannot make the tables in PostgreSQL: " + message(r.get()));
      id_ = field(query_locked("SELECT value FROM hayate_rag_meta WHERE key = 'id'", {}).get(), 0, 0);
    } catch (...) {
      if (conn_) PQfinish(conn_);
      throw;
    }
  }
  ~PostgresStore() override {
    if (conn_) PQfinish(conn_);
  }
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  void create_collection(const CollectionInfo& info) override {
    check_new_collection(info);
    std::lock_guard lk(mu_);
    Result r = query_locked(
        "INSERT INTO hayate_rag_collections(name, metric, index_spec, dim, model, created, version, nprobe, "
        "ef_search) VALUES ($1, $2, $3, $4, $5, $6, nextval('hayate_rag_versions'), $7, $8) "
        "ON CONFLICT (name) DO NOTHING",
        Params()
            .text(info.name)
            .text(metric_name(info.metric))
            .text(info.index)
            .text(std::to_string(info.dim))
            .text(info.model)
            .text(std::to_string(unix_seconds()))
            .text(std::to_string(info.nprobe))
            .text(std::to_string(info.ef_search)));
    if (affected(r.get()) == 0) fail(ErrorKind::BadInput, "collection '" + info.name + "' exists already");
  }

  std::vector<CollectionInfo> list_collections() override {
    std::lock_guard lk(mu_);
    Result r = query_locked(std::string(kInfoColumns) + " ORDER BY name", {});
    std::vector<CollectionInfo> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(read_info(r.get(), i));
    return out;
  }

  std::optional<CollectionInfo> collection(const std::string& name) override {
    std::lock_guard lk(mu_);
    Result r = query_locked(std::string(kInfoColumns) + " WHERE name = $1", Params().text(name));
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return read_info(r.get(), 0);
  }

  bool delete_collection(const std::string& name) override {
    std::lock_guard lk(mu_);
    return affected(query_locked("DELETE FROM hayate_rag_collections WHERE name = $1", Params().text(name)).get()) > 0;
  }

  CollectionStats stats(const std::string& name) override {
    std::lock_guard lk(mu_);
    Result r = query_locked(
        "SELECT (SELECT COUNT(*) FROM hayate_rag_documents WHERE collection = $1), (SELECT COUNT(*) FROM "
        "hayate_rag_chunks c JOIN hayate_rag_documents d ON c.document = d.id WHERE d.collection = $1)",
        Params().text(name));
    return {integer(r.get(), 0, 0), integer(r.get(), 0, 1)};
  }

  AddResult add_document(const std::string& collection, const NewDocument& doc) override {
    std::lock_guard lk(mu_);
    return transaction_locked([&] {
      lock_collection_locked(collection);
      Result old =
          query_locked("SELECT id, content_hash FROM hayate_rag_documents WHERE collection = $1 AND doc_id = $2",
                       Params().text(collection).text(doc.id));
      AddResult result = AddResult::Added;
      if (PQntuples(old.get()) > 0) {
        if (field(old.get(), 0, 1) == doc.content_hash) return AddResult::Unchanged;
        query_locked("DELETE FROM hayate_rag_documents WHERE id = $1", Params().text(field(old.get(), 0, 0)));
        result = AddResult::Replaced;
      }
      const std::string row =
          field(query_locked("INSERT INTO hayate_rag_documents(collection, doc_id, content_hash, metadata) "
                             "VALUES ($1, $2, $3, $4) RETURNING id",
                             Params().text(collection).text(doc.id).text(doc.content_hash).text(doc.metadata_json))
                    .get(),
                0, 0);
      for (size_t i = 0; i < doc.chunks.size(); ++i) {
        const NewChunk& c = doc.chunks[i];
        query_locked(
            "INSERT INTO hayate_rag_chunks(document, seq, start_byte, end_byte, text, section, vector) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            Params()
                .text(row)
                .text(std::to_string(i))
                .text(std::to_string(c.start))
                .text(std::to_string(c.end))
                .text(c.text)
                .text(c.section)
                .bytes(c.vector.data(), c.vector.size() * sizeof(float)));
      }
      bump_version_locked(collection);
      return result;
    });
  }

  bool delete_document(const std::string& collection, const std::string& document_id) override {
    std::lock_guard lk(mu_);
    return transaction_locked([&] {
      lock_collection_locked(collection);
      const bool deleted = affected(query_locked("DELETE FROM hayate_rag_documents WHERE collection = $1 AND "
                                                 "doc_id = $2",
                                                 Params().text(collection).text(document_id))
                                        .get()) > 0;
      if (deleted) bump_version_locked(collection);
      return deleted;
    });
  }

  void vectors(const std::string& collection, std::vector<int64_t>& ids, std::vector<float>& data,
               int64_t& version) override {
    std::lock_guard lk(mu_);
    // One statement is one snapshot: the vectors and the version they are of, read together (an
    // empty collection is one row of NULLs, with its version).
    Result r = query_locked(
        "SELECT c.id::text, c.vector, col.version::text FROM hayate_rag_collections col LEFT JOIN "
        "(hayate_rag_documents d JOIN hayate_rag_chunks c ON c.document = d.id) ON d.collection = col.name "
        "WHERE col.name = $1 ORDER BY c.id",
        Params().text(collection), true);
    ids.clear();
    data.clear();
    version = 0;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      version = std::stoll(field(r.get(), i, 2));
      if (PQgetisnull(r.get(), i, 0)) continue;
      ids.push_back(std::stoll(field(r.get(), i, 0)));
      const size_t n = static_cast<size_t>(PQgetlength(r.get(), i, 1)) / sizeof(float);
      const size_t at = data.size();
      data.resize(at + n);
      std::memcpy(data.data() + at, PQgetvalue(r.get(), i, 1), n * sizeof(float));
    }
  }

  std::optional<StoredChunk> chunk(int64_t id) override {
    std::lock_guard lk(mu_);
    Result r = query_locked(
        "SELECT c.id, d.doc_id, c.text, c.section, d.metadata, c.start_byte, c.end_byte, c.seq FROM "
        "hayate_rag_chunks c JOIN hayate_rag_documents d ON c.document = d.id WHERE c.id = $1",
        Params().text(std::to_string(id)));
    if (PQntuples(r.get()) == 0) return std::nullopt;
    const PGresult* p = r.get();
    return StoredChunk{integer(p, 0, 0), field(p, 0, 1),   field(p, 0, 2),   field(p, 0, 3),
                       field(p, 0, 4),   integer(p, 0, 5), integer(p, 0, 6), integer(p, 0, 7)};
  }

 private:
  static std::string message(const PGresult* r) {
    std::string e = r ? PQresultErrorMessage(r) : "no result";
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    return e;
  }
  static int64_t affected(const PGresult* r) {
    const char* n = PQcmdTuples(const_cast<PGresult*>(r));
    return n && *n ? std::stoll(n) : 0;
  }

  void reconnect_locked() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
    if (conn_) {
      PQreset(conn_);  // the server went away and may be back
    } else {
      conn_ = PQconnectdb(conninfo_.c_str());
      if (conn_)
        PQsetNoticeProcessor(
            conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
    }
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
    std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
    while (!why.empty() && why.back() == '\n') why.pop_back();
    fail(ErrorKind::Unavailable, "collections: PostgreSQL cannot be reached (" + why + ")");
  }

  // `binary_result`: every column comes back as its raw bytes (a bytea's, a text's characters).
  Result query_locked(const std::string& sql, const Params& params, bool binary_result = false) {
    reconnect_locked();
    std::vector<const char*> values;
    std::vector<int> lengths;
    for (const std::string& v : params.values) {
      values.push_back(v.data());
      lengths.push_back(static_cast<int>(v.size()));
    }
    Result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), lengths.data(),
                          params.binary.data(), binary_result ? 1 : 0));
    const ExecStatusType s = PQresultStatus(r.get());
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return r;
    if (PQstatus(conn_) != CONNECTION_OK)
      fail(ErrorKind::Unavailable, "collections: PostgreSQL connection lost (" + message(r.get()) + ")");
    fail(ErrorKind::Internal, "collections: PostgreSQL refused a statement: " + message(r.get()));
  }

  template <typename F>
  std::invoke_result_t<F&> transaction_locked(F&& body) {
    query_locked("BEGIN", {});
    try {
      auto result = body();
      query_locked("COMMIT", {});
      return result;
    } catch (...) {
      if (PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
      throw;
    }
  }

  // Inside a transaction: the collection's row locked, so the changes of several servers to one
  // collection take turns (and each gets a version of its own). Error(NotFound) when it is gone.
  void lock_collection_locked(const std::string& collection) {
    Result r =
        query_locked("SELECT 1 FROM hayate_rag_collections WHERE name = $1 FOR UPDATE", Params().text(collection));
    if (PQntuples(r.get()) == 0) fail(ErrorKind::NotFound, "collection '" + collection + "' does not exist");
  }

  void bump_version_locked(const std::string& collection) {
    query_locked("UPDATE hayate_rag_collections SET version = nextval('hayate_rag_versions') WHERE name = $1",
                 Params().text(collection));
  }

  const std::string conninfo_;
  std::mutex mu_;  // one statement or transaction at a time on the one connection
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string& conninfo) {
  return std::make_unique<PostgresStore>(conninfo);
}

}  // namespace hayate::rag
