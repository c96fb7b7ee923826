#include "rag/store.h"

#include <sqlite3.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>

#include "core/error.h"

namespace hayate::rag {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS collections(
  name TEXT PRIMARY KEY, metric TEXT NOT NULL, index_spec TEXT NOT NULL, dim INTEGER NOT NULL,
  model TEXT NOT NULL, created INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS documents(
  id INTEGER PRIMARY KEY, collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
  doc_id TEXT NOT NULL, content_hash TEXT NOT NULL, metadata TEXT NOT NULL, UNIQUE(collection, doc_id));
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY, document INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL,
  section TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql";

// One prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      fail(ErrorKind::Internal, std::string("sqlite: ") + sqlite3_errmsg(db) + " in " + sql);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind_blob(int i, const void* data, size_t n) {
    sqlite3_bind_blob(s_, i, data, static_cast<int>(n), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {  // true: a row
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(ErrorKind::ResourceExhausted, std::string("sqlite: ") + sqlite3_errmsg(db_));
  }
  std::string text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  int64_t int64(int c) const { return sqlite3_column_int64(s_, c); }
  const void* blob(int c) const { return sqlite3_column_blob(s_, c); }
  size_t bytes(int c) const { return static_cast<size_t>(sqlite3_column_bytes(s_, c)); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

CollectionInfo read_info(const Stmt& s) {
  CollectionInfo c;
  c.name = s.text(0);
  c.metric = parse_metric(s.text(1));
  c.index = s.text(2);
  c.dim = static_cast<int32_t>(s.int64(3));
  c.model = s.text(4);
  c.created = s.int64(5);
  c.version = s.int64(6);
  c.nprobe = static_cast<int32_t>(s.int64(7));
  c.ef_search = static_cast<int32_t>(s.int64(8));
  return c;
}

constexpr const char* kInfoColumns =
    "SELECT name, metric, index_spec, dim, model, created, version, nprobe, ef_search FROM collections";

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& path);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void create_collection(const CollectionInfo& info) override;
  std::vector<CollectionInfo> list_collections() override;
  std::optional<CollectionInfo> collection(const std::string& name) override;
  bool delete_collection(const std::string& name) override;
  CollectionStats stats(const std::string& name) override;
  AddResult add_document(const std::string& collection, const NewDocument& doc) override;
  bool delete_document(const std::string& collection, const std::string& document_id) override;
  void vectors(const std::string& collection, std::vector<int64_t>& ids, std::vector<float>& data,
               int64_t& version) override;
  std::optional<StoredChunk> chunk(int64_t id) override;

 private:
  void exec(const char* sql);
  void bump_version_locked(const std::string& collection);

  std::mutex mu_;
  sqlite3* db_ = nullptr;
};

}  // namespace

bool is_postgres_url(const std::string& spec) {
  return spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0;
}

void check_new_collection(const CollectionInfo& info) {
  bool valid = !info.name.empty() && info.name.size() <= 64;
  for (char c : info.name) valid &= std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  if (!valid) fail(ErrorKind::BadInput, "collection name '" + info.name + "' must be 1-64 letters, digits, '_' or '-'");
  if (info.dim <= 0) fail(ErrorKind::BadInput, "collection '" + info.name + "': the dimension must be positive");
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::unique_ptr<Store> open_sqlite_store(const std::string& path) { return std::make_unique<SqliteStore>(path); }

Metric parse_metric(const std::string& name) {
  if (name == "cosine") return Metric::Cosine;
  if (name == "ip" || name == "inner_product") return Metric::InnerProduct;
  if (name == "l2") return Metric::L2;
  fail(ErrorKind::BadInput, "metric '" + name + "' is not one of cosine, ip, l2");
}

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::Cosine:
      return "cosine";
    case Metric::InnerProduct:
      return "ip";
    case Metric::L2:
      return "l2";
  }
  return "cosine";
}

SqliteStore::SqliteStore(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    fail(ErrorKind::BadInput, path + ": cannot open the collections database: " + why);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    // WAL: readers do not block the writer; synchronous=FULL: a committed add is on disk.
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    exec(kSchema);
    // The search parameters came after the first databases: add their columns to one without.
    if (!Stmt(db_, "SELECT 1 FROM pragma_table_info('collections') WHERE name = 'nprobe'").step())
      exec(
          "ALTER TABLE collections ADD COLUMN nprobe INTEGER NOT NULL DEFAULT 0;"
          "ALTER TABLE collections ADD COLUMN ef_search INTEGER NOT NULL DEFAULT 0;");
    std::random_device rd;
    char fresh[33];
    std::snprintf(fresh, sizeof fresh, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
    Stmt(db_, "INSERT OR IGNORE INTO meta(key, value) VALUES ('id', ?)").bind(1, std::string(fresh)).step();
    Stmt id(db_, "SELECT value FROM meta WHERE key = 'id'");
    if (id.step()) id_ = id.text(0);
  } catch (const Error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    fail(ErrorKind::BadInput, path + ": not a collections database (" + e.what() + ")");
  }
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

void SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    fail(ErrorKind::ResourceExhausted, "sqlite: " + why);
  }
}

void SqliteStore::create_collection(const CollectionInfo& info) {
  check_new_collection(info);
  std::lock_guard lk(mu_);
  if (Stmt(db_, "SELECT 1 FROM collections WHERE name = ?").bind(1, info.name).step())
    fail(ErrorKind::BadInput, "collection '" + info.name + "' exists already");
  const int64_t now = unix_seconds();
  Stmt(db_,
       "INSERT INTO collections(name, metric, index_spec, dim, model, created, nprobe, ef_search) "
       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, info.name)
      .bind(2, std::string(metric_name(info.metric)))
      .bind(3, info.index)
      .bind(4, static_cast<int64_t>(info.dim))
      .bind(5, info.model)
      .bind(6, now)
      .bind(7, static_cast<int64_t>(info.nprobe))
      .bind(8, static_cast<int64_t>(info.ef_search))
      .step();
}

std::vector<CollectionInfo> SqliteStore::list_collections() {
  std::lock_guard lk(mu_);
  std::vector<CollectionInfo> out;
  Stmt s(db_, (std::string(kInfoColumns) + " ORDER BY name").c_str());
  while (s.step()) out.push_back(read_info(s));
  return out;
}

std::optional<CollectionInfo> SqliteStore::collection(const std::string& name) {
  std::lock_guard lk(mu_);
  Stmt s(db_, (std::string(kInfoColumns) + " WHERE name = ?").c_str());
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  return read_info(s);
}

bool SqliteStore::delete_collection(const std::string& name) {
  std::lock_guard lk(mu_);
  Stmt(db_, "DELETE FROM collections WHERE name = ?").bind(1, name).step();
  return sqlite3_changes(db_) > 0;
}

CollectionStats SqliteStore::stats(const std::string& name) {
  std::lock_guard lk(mu_);
  CollectionStats st;
  Stmt d(db_, "SELECT COUNT(*) FROM documents WHERE collection = ?");
  d.bind(1, name).step();
  st.documents = d.int64(0);
  Stmt c(db_, "SELECT COUNT(*) FROM chunks JOIN documents ON chunks.document = documents.id WHERE collection = ?");
  c.bind(1, name).step();
  st.chunks = c.int64(0);
  return st;
}

void SqliteStore::bump_version_locked(const std::string& collection) {
  Stmt(db_, "UPDATE collections SET version = version + 1 WHERE name = ?").bind(1, collection).step();
}

Store::AddResult SqliteStore::add_document(const std::string& collection, const NewDocument& doc) {
  std::lock_guard lk(mu_);
  exec("BEGIN IMMEDIATE");
  try {
    if (!Stmt(db_, "SELECT 1 FROM collections WHERE name = ?").bind(1, collection).step())
      fail(ErrorKind::NotFound, "collection '" + collection + "' does not exist");
    AddResult result = AddResult::Added;
    std::optional<std::pair<int64_t, std::string>> existing;
    {
      Stmt old(db_, "SELECT id, content_hash FROM documents WHERE collection = ? AND doc_id = ?");
      old.bind(1, collection).bind(2, doc.id);
      if (old.step()) existing.emplace(old.int64(0), old.text(1));
    }
    if (existing && existing->second == doc.content_hash) {
      exec("COMMIT");
      return AddResult::Unchanged;
    }
    if (existing) {
      Stmt(db_, "DELETE FROM documents WHERE id = ?").bind(1, existing->first).step();
      result = AddResult::Replaced;
    }
    Stmt ins(db_, "INSERT INTO documents(collection, doc_id, content_hash, metadata) VALUES (?, ?, ?, ?)");
    ins.bind(1, collection).bind(2, doc.id).bind(3, doc.content_hash).bind(4, doc.metadata_json).step();
    const int64_t row = sqlite3_last_insert_rowid(db_);
    for (size_t i = 0; i < doc.chunks.size(); ++i) {
      const NewChunk& c = doc.chunks[i];
      Stmt s(db_,
             "INSERT INTO chunks(document, seq, start, \"end\", text, section, vector) VALUES (?, ?, ?, ?, ?, ?, ?)");
      s.bind(1, row)
          .bind(2, static_cast<int64_t>(i))
          .bind(3, c.start)
          .bind(4, c.end)
          .bind(5, c.text)
          .bind(6, c.section);
      s.bind_blob(7, c.vector.data(), c.vector.size() * sizeof(float)).step();
    }
    bump_version_locked(collection);
    exec("COMMIT");
    return result;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

bool SqliteStore::delete_document(const std::string& collection, const std::string& document_id) {
  std::lock_guard lk(mu_);
  exec("BEGIN IMMEDIATE");
  try {
    Stmt(db_, "DELETE FROM documents WHERE collection = ? AND doc_id = ?")
        .bind(1, collection)
        .bind(2, document_id)
        .step();
    const bool deleted = sqlite3_changes(db_) > 0;
    if (deleted) bump_version_locked(collection);
    exec("COMMIT");
    return deleted;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SqliteStore::vectors(const std::string& collection, std::vector<int64_t>& ids, std::vector<float>& data,
                          int64_t& version) {
  std::lock_guard lk(mu_);
  exec("BEGIN");  // one snapshot: the vectors and the version they are of
  try {
    {
      Stmt v(db_, "SELECT version FROM collections WHERE name = ?");
      version = v.bind(1, collection).step() ? v.int64(0) : 0;
    }
    Stmt s(db_,
           "SELECT chunks.id, chunks.vector FROM chunks JOIN documents ON chunks.document = documents.id "
           "WHERE documents.collection = ? ORDER BY chunks.id");
    s.bind(1, collection);
    ids.clear();
    data.clear();
    while (s.step()) {
      ids.push_back(s.int64(0));
      const size_t n = s.bytes(1) / sizeof(float);
      const size_t at = data.size();
      data.resize(at + n);
      std::memcpy(data.data() + at, s.blob(1), n * sizeof(float));
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::optional<StoredChunk> SqliteStore::chunk(int64_t id) {
  std::lock_guard lk(mu_);
  Stmt s(db_,
         "SELECT chunks.id, documents.doc_id, chunks.text, chunks.section, documents.metadata, chunks.start, "
         "chunks.\"end\", chunks.seq FROM chunks JOIN documents ON chunks.document = documents.id WHERE chunks.id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return StoredChunk{s.int64(0), s.text(1), s.text(2), s.text(3), s.text(4), s.int64(5), s.int64(6), s.int64(7)};
}

}  // namespace hayate::rag
