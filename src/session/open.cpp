#include <string>

#include "core/error.h"
#include "session/conversations.h"

namespace hayate::session {
namespace {

bool digits(const std::string& s, size_t most) {
  return !s.empty() && s.size() <= most && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::unique_ptr<ConversationStore> open_conversations(const std::string& spec) {
  if (spec.empty()) return open_sqlite_conversations(":memory:");
  if (spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0)
    return open_postgres_conversations(spec);
  const std::string scheme = "redis://";
  if (spec.rfind(scheme, 0) != 0) return open_sqlite_conversations(spec);
  const auto bad = [&](const std::string& why) {
    fail(ErrorKind::BadInput, "conversations_db '" + spec + "': " + why + " (redis://HOST[:PORT][/DB])");
  };
  std::string rest = spec.substr(scheme.size()), db = "0", port = "6379";
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    db = rest.substr(slash + 1);
    rest.resize(slash);
    if (!digits(db, 4)) bad("the database after '/' must be a number");
  }
  if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    port = rest.substr(colon + 1);
    rest.resize(colon);
    if (!digits(port, 5) || std::stoi(port) < 1 || std::stoi(port) > 65535) bad("the port must be 1 to 65535");
  }
  if (rest.empty()) bad("no host");
  return open_redis_conversations(rest, std::stoi(port), std::stoi(db));
}

}  // namespace hayate::session
