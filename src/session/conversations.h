// Chat conversations kept on the server (issue 16), so that a reload, another browser or another
// server sharing the store continues them. One interface, three stores: SQLite (a file shared by the
// servers of one machine, or ":memory:" for one process), Redis and PostgreSQL (shared by the servers
// of a cluster). open_conversations picks one from the `conversations_db` config row.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hayate::session {

struct Message {
  std::string role;  // "user" | "assistant"
  std::string content;
  int64_t created = 0;    // unix seconds
  std::string citations;  // JSON array of a RAG answer's sources; empty when the answer had none
};

struct ConversationInfo {
  std::string id;
  std::string title;
  std::string system_prompt;
  std::string settings = "{}";  // JSON object: sampling settings the page keeps per conversation
  int64_t created = 0, updated = 0;
  int64_t messages = 0;
};

// What a rename or a settings change gives; an absent field stays as it is.
struct ConversationUpdate {
  std::optional<std::string> title, system_prompt, settings;
};

class ConversationStore {
 public:
  virtual ~ConversationStore() = default;

  virtual ConversationInfo create(const std::string& title, const std::string& system_prompt,
                                  const std::string& settings) = 0;
  virtual std::optional<ConversationInfo> get(const std::string& id) = 0;
  // Newest first; `query` (when not empty) keeps those whose title or a message contains it.
  virtual std::vector<ConversationInfo> list(const std::string& query, int64_t limit) = 0;
  virtual std::vector<Message> messages(const std::string& id) = 0;
  // Error(NotFound) for an unknown conversation.
  virtual void append(const std::string& id, const std::string& role, const std::string& content,
                      const std::string& citations = "") = 0;
  // Keeps the first `keep` messages (regenerate and edit-and-resend drop what follows).
  virtual void truncate(const std::string& id, int64_t keep) = 0;
  virtual bool update(const std::string& id, const ConversationUpdate& u) = 0;  // false: unknown id
  virtual bool remove(const std::string& id) = 0;                               // false: unknown id
};

// Error(BadInput) naming the file when it cannot be opened or is not a conversations database.
std::unique_ptr<ConversationStore> open_sqlite_conversations(const std::string& path);
// Error(Unavailable) when the server cannot be reached now; later calls connect again.
std::unique_ptr<ConversationStore> open_redis_conversations(const std::string& host, int port, int db);
// `conninfo`: a postgresql:// URL or libpq's key=value form. Error(Unavailable) when unreachable.
std::unique_ptr<ConversationStore> open_postgres_conversations(const std::string& conninfo);
// "redis://HOST[:PORT][/DB]", "postgresql://..." (or "postgres://..."), else a SQLite file; empty:
// SQLite in memory. Error(BadInput) for a malformed address.
std::unique_ptr<ConversationStore> open_conversations(const std::string& spec);

}  // namespace hayate::session
