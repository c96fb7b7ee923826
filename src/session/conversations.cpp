#include "session/conversations.h"

#include <sqlite3.h>

#include <mutex>

#include "core/error.h"
#include "session/store_util.h"

namespace hayate::session {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS conversations(
  id TEXT PRIMARY KEY, title TEXT NOT NULL, system_prompt TEXT NOT NULL, settings TEXT NOT NULL,
  created INTEGER NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages(
  id INTEGER PRIMARY KEY, conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  role TEXT NOT NULL, content TEXT NOT NULL, created INTEGER NOT NULL, citations TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation, id);
)sql";

// A statement with its parameters bound in order; finalized when it goes out of scope.
class Query {
 public:
  template <typename... Args>
  Query(sqlite3* db, const char* sql, const Args&... args) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      fail(ErrorKind::Internal, std::string("conversations: ") + sqlite3_errmsg(db));
    int i = 0;
    (bind(++i, args), ...);
  }
  ~Query() { sqlite3_finalize(s_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  bool row() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail(ErrorKind::ResourceExhausted, std::string("conversations: ") + sqlite3_errmsg(db_));
    return false;
  }
  std::string str(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  int64_t num(int c) const { return sqlite3_column_int64(s_, c); }
  int64_t changes() const { return sqlite3_changes64(db_); }

 private:
  void bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

constexpr const char* kInfo =
    "SELECT c.id, c.title, c.system_prompt, c.settings, c.created, c.updated, "
    "(SELECT COUNT(*) FROM messages m WHERE m.conversation = c.id) FROM conversations c ";

ConversationInfo read_info(const Query& q) {
  return {q.str(0), q.str(1), q.str(2), q.str(3), q.num(4), q.num(5), q.num(6)};
}

class SqliteConversations final : public ConversationStore {
 public:
  explicit SqliteConversations(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      fail(ErrorKind::BadInput, path + ": cannot open the conversations database: " + why);
    }
    sqlite3_busy_timeout(db_, 5000);  // servers sharing the file wait for each other's writes
    char* err = nullptr;
    const std::string sql = std::string("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;") + kSchema;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string why = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      sqlite3_close(db_);
      fail(ErrorKind::BadInput, path + ": not a conversations database (" + why + ")");
    }
    try {
      add_citations_column(path);
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
  }
  ~SqliteConversations() override { sqlite3_close(db_); }

  ConversationInfo create(const std::string& title, const std::string& system_prompt,
                          const std::string& settings) override {
    std::lock_guard lk(db_mu_);  // one statement at a time: changes() must be this call's
    const ConversationInfo c = new_conversation(title, system_prompt, settings);
    Query q(db_, "INSERT INTO conversations VALUES(?, ?, ?, ?, ?, ?)", c.id, c.title, c.system_prompt, c.settings,
            c.created, c.updated);
    q.row();
    return c;
  }

  std::optional<ConversationInfo> get(const std::string& id) override {
    std::lock_guard lk(db_mu_);
    Query q(db_, (std::string(kInfo) + "WHERE c.id = ?").c_str(), id);
    if (!q.row()) return std::nullopt;
    return read_info(q);
  }

  std::vector<ConversationInfo> list(const std::string& query, int64_t limit) override {
    std::lock_guard lk(db_mu_);
    std::vector<ConversationInfo> out;
    const std::string order = "ORDER BY c.updated DESC, c.rowid DESC LIMIT ?";
    if (query.empty()) {
      Query q(db_, (std::string(kInfo) + order).c_str(), limit);
      while (q.row()) out.push_back(read_info(q));
      return out;
    }
    const std::string where =
        "WHERE c.title LIKE ?1 ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation = c.id AND "
        "m.content LIKE ?1 ESCAPE '\\') ";
    Query q(db_, (std::string(kInfo) + where + "ORDER BY c.updated DESC, c.rowid DESC LIMIT ?2").c_str(),
            like_pattern(query), limit);
    while (q.row()) out.push_back(read_info(q));
    return out;
  }

  std::vector<Message> messages(const std::string& id) override {
    std::lock_guard lk(db_mu_);
    std::vector<Message> out;
    Query q(db_, "SELECT role, content, created, citations FROM messages WHERE conversation = ? ORDER BY id", id);
    while (q.row()) out.push_back({q.str(0), q.str(1), q.num(2), q.str(3)});
    return out;
  }

  void append(const std::string& id, const std::string& role, const std::string& content,
              const std::string& citations) override {
    std::lock_guard lk(db_mu_);
    const int64_t now = unix_now();
    Query touch(db_, "UPDATE conversations SET updated = ? WHERE id = ?", now, id);
    touch.row();
    if (touch.changes() == 0) fail(ErrorKind::NotFound, "no conversation '" + id + "'");
    Query q(db_, "INSERT INTO messages(conversation, role, content, created, citations) VALUES(?, ?, ?, ?, ?)", id,
            role, content, now, citations);
    q.row();
  }

  void truncate(const std::string& id, int64_t keep) override {
    std::lock_guard lk(db_mu_);
    Query q(db_,
            "DELETE FROM messages WHERE conversation = ?1 AND id NOT IN (SELECT id FROM messages WHERE conversation = "
            "?1 ORDER BY id LIMIT ?2)",
            id, keep);
    q.row();
  }

  bool update(const std::string& id, const ConversationUpdate& u) override {
    std::lock_guard lk(db_mu_);
    Query exists(db_, "SELECT 1 FROM conversations WHERE id = ?", id);
    if (!exists.row()) return false;
    if (u.title) Query(db_, "UPDATE conversations SET title = ? WHERE id = ?", *u.title, id).row();
    if (u.system_prompt)
      Query(db_, "UPDATE conversations SET system_prompt = ? WHERE id = ?", *u.system_prompt, id).row();
    if (u.settings) Query(db_, "UPDATE conversations SET settings = ? WHERE id = ?", *u.settings, id).row();
    return true;
  }

  bool remove(const std::string& id) override {
    std::lock_guard lk(db_mu_);
    Query q(db_, "DELETE FROM conversations WHERE id = ?", id);
    q.row();
    return q.changes() > 0;
  }

 private:
  // A file written before citations were kept has no such column; it gains one (empty for old rows).
  void add_citations_column(const std::string& path) {
    Query has(db_, "SELECT 1 FROM pragma_table_info('messages') WHERE name = 'citations'");
    if (has.row()) return;
    char* err = nullptr;
    if (sqlite3_exec(db_, "ALTER TABLE messages ADD COLUMN citations TEXT NOT NULL DEFAULT ''", nullptr, nullptr,
                     &err) != SQLITE_OK) {
      const std::string why = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      fail(ErrorKind::BadInput, path + ": cannot add the citations column (" + why + ")");
    }
  }

  sqlite3* db_ = nullptr;
  std::mutex db_mu_;  // one call at a time, so that changes() is the call's own statement's
};

}  // namespace

std::unique_ptr<ConversationStore> open_sqlite_conversations(const std::string& path) {
  return std::make_unique<SqliteConversations>(path);
}

}  // namespace hayate::session
