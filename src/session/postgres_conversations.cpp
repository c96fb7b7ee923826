// Conversations in PostgreSQL (libpq), shared by every hayate server of a cluster. The same two
// tables as the SQLite store; every statement is parameterised. One connection per store, one
// statement at a time; a lost connection is reset on the next call.
#include <libpq-fe.h>

#include <memory>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "session/conversations.h"
#include "session/store_util.h"

namespace hayate::session {
namespace {

// Servers starting together would race on CREATE TABLE IF NOT EXISTS (it is not atomic in
// PostgreSQL): an advisory lock makes them take turns.
constexpr const char* kSchema = R"sql(
BEGIN;
SELECT pg_advisory_xact_lock(7316016);
CREATE TABLE IF NOT EXISTS hayate_conversations(
  id TEXT PRIMARY KEY, title TEXT NOT NULL, system_prompt TEXT NOT NULL, settings TEXT NOT NULL,
  created BIGINT NOT NULL, updated BIGINT NOT NULL, seq BIGSERIAL);
CREATE TABLE IF NOT EXISTS hayate_messages(
  id BIGSERIAL PRIMARY KEY,
  conversation TEXT NOT NULL REFERENCES hayate_conversations(id) ON DELETE CASCADE,
  role TEXT NOT NULL, content TEXT NOT NULL, created BIGINT NOT NULL, citations TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS hayate_messages_by_conversation ON hayate_messages(conversation, id);
COMMIT;
)sql";

constexpr const char* kInfo =
    "SELECT c.id, c.title, c.system_prompt, c.settings, c.created, c.updated, "
    "(SELECT COUNT(*) FROM hayate_messages m WHERE m.conversation = c.id) FROM hayate_conversations c ";

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;

class PostgresConversations final : public ConversationStore {
 public:
  explicit PostgresConversations(std::string conninfo) : conninfo_(std::move(conninfo)) {
    std::lock_guard lk(mu_);
    try {
      connect_locked();
      Result r(PQexec(conn_, kSchema));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        fail(ErrorKind::BadInput, "conversations: cannot make the tables in PostgreSQL: " + error_of(r.get()));
    } catch (...) {
      if (conn_) PQfinish(conn_);
      throw;
    }
  }
  ~PostgresConversations() override {
    if (conn_) PQfinish(conn_);
  }

  ConversationInfo create(const std::string& title, const std::string& system_prompt,
                          const std::string& settings) override {
    const ConversationInfo c = new_conversation(title, system_prompt, settings);
    const std::string created = std::to_string(c.created);
    run("INSERT INTO hayate_conversations(id, title, system_prompt, settings, created, updated) "
        "VALUES($1, $2, $3, $4, $5, $5)",
        {c.id, c.title, c.system_prompt, c.settings, created});
    return c;
  }

  std::optional<ConversationInfo> get(const std::string& id) override {
    Result r = run(std::string(kInfo) + "WHERE c.id = $1", {id});
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return info(r.get(), 0);
  }

  std::vector<ConversationInfo> list(const std::string& query, int64_t limit) override {
    const std::string order = "ORDER BY c.updated DESC, c.seq DESC LIMIT ";
    Result r = query.empty() ? run(std::string(kInfo) + order + "$1", {std::to_string(limit)})
                             : run(std::string(kInfo) +
                                       "WHERE c.title ILIKE $1 OR EXISTS (SELECT 1 FROM hayate_messages m WHERE "
                                       "m.conversation = c.id AND m.content ILIKE $1) " +
                                       order + "$2",
                                   {like_pattern(query), std::to_string(limit)});
    std::vector<ConversationInfo> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(info(r.get(), i));
    return out;
  }

  std::vector<Message> messages(const std::string& id) override {
    Result r =
        run("SELECT role, content, created, citations FROM hayate_messages WHERE conversation = $1 ORDER BY id", {id});
    std::vector<Message> out;
    for (int i = 0; i < PQntuples(r.get()); ++i)
      out.push_back({text(r.get(), i, 0), text(r.get(), i, 1), number(r.get(), i, 2), text(r.get(), i, 3)});
    return out;
  }

  void append(const std::string& id, const std::string& role, const std::string& content,
              const std::string& citations) override {
    // One statement: the touch and the insert happen together or not at all.
    Result r =
        run("WITH touched AS (UPDATE hayate_conversations SET updated = $2 WHERE id = $1 RETURNING id) "
            "INSERT INTO hayate_messages(conversation, role, content, created, citations) "
            "SELECT id, $3, $4, $2, $5 FROM touched",
            {id, std::to_string(unix_now()), role, content, citations});
    if (affected(r.get()) == 0) fail(ErrorKind::NotFound, "no conversation '" + id + "'");
  }

  void truncate(const std::string& id, int64_t keep) override {
    run("DELETE FROM hayate_messages WHERE conversation = $1 AND id NOT IN (SELECT id FROM hayate_messages WHERE "
        "conversation = $1 ORDER BY id LIMIT $2)",
        {id, std::to_string(keep)});
  }

  bool update(const std::string& id, const ConversationUpdate& u) override {
    // COALESCE keeps a field the update does not name (a NULL parameter).
    std::lock_guard lk(mu_);
    const char* values[4] = {id.c_str(), u.title ? u.title->c_str() : nullptr,
                             u.system_prompt ? u.system_prompt->c_str() : nullptr,
                             u.settings ? u.settings->c_str() : nullptr};
    Result r = exec_locked(
        "UPDATE hayate_conversations SET title = COALESCE($2, title), system_prompt = COALESCE($3, system_prompt), "
        "settings = COALESCE($4, settings) WHERE id = $1",
        4, values);
    return affected(r.get()) > 0;
  }

  bool remove(const std::string& id) override {
    return affected(run("DELETE FROM hayate_conversations WHERE id = $1", {id}).get()) > 0;
  }

 private:
  static std::string error_of(const PGresult* r) {
    std::string e = r ? PQresultErrorMessage(r) : "no result";
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    return e;
  }
  static std::string text(const PGresult* r, int row, int col) {
    return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
  }
  static int64_t number(const PGresult* r, int row, int col) { return std::stoll(PQgetvalue(r, row, col)); }
  static int64_t affected(const PGresult* r) {
    const char* n = PQcmdTuples(const_cast<PGresult*>(r));
    return n && *n ? std::stoll(n) : 0;
  }
  static ConversationInfo info(const PGresult* r, int row) {
    return {text(r, row, 0),   text(r, row, 1),   text(r, row, 2),  text(r, row, 3),
            number(r, row, 4), number(r, row, 5), number(r, row, 6)};
  }

  void connect_locked() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
    if (conn_) {
      PQreset(conn_);  // the server went away and may be back
      if (PQstatus(conn_) == CONNECTION_OK) return;
    } else {
      conn_ = PQconnectdb(conninfo_.c_str());
      // "already exists, skipping" and the like are for a person at psql, not for the server's log.
      if (conn_)
        PQsetNoticeProcessor(
            conn_, [](void*, const char*) {}, nullptr);
      if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
    }
    std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
    while (!why.empty() && why.back() == '\n') why.pop_back();
    fail(ErrorKind::Unavailable, "conversations: PostgreSQL cannot be reached (" + why + ")");
  }

  Result run(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    std::lock_guard lk(mu_);
    return exec_locked(sql, static_cast<int>(values.size()), values.data());
  }

  Result exec_locked(const std::string& sql, int n, const char* const* values) {
    connect_locked();
    Result r(PQexecParams(conn_, sql.c_str(), n, nullptr, values, nullptr, nullptr, 0));
    const ExecStatusType s = PQresultStatus(r.get());
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return r;
    if (PQstatus(conn_) != CONNECTION_OK)
      fail(ErrorKind::Unavailable, "conversations: PostgreSQL connection lost (" + error_of(r.get()) + ")");
    fail(ErrorKind::Internal, "conversations: PostgreSQL refused a statement: " + error_of(r.get()));
  }

  const std::string conninfo_;
  std::mutex mu_;  // one statement at a time on the one connection
  PGconn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<ConversationStore> open_postgres_conversations(const std::string& conninfo) {
  return std::make_unique<PostgresConversations>(conninfo);
}

}  // namespace hayate::session
