// Conversations on a Redis server, shared by every hayate server of a cluster. Keys under
// "hayate:conv:": a hash per conversation, a list of its messages (JSON), and one sorted set of
// ids ordered by a counter bumped on each change (newest first, even within one second). Each
// change is one Lua script, so a server never sees half of another's write.
#include <hiredis/hiredis.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "session/conversations.h"
#include "session/store_util.h"

namespace hayate::session {
namespace {

using nlohmann::json;

const std::string kPrefix = "hayate:conv:";
const std::string kIndex = kPrefix + "index";
const std::string kSeq = kPrefix + "seq";

// KEYS: hash, index, seq. ARGV: id, then field/value pairs.
constexpr const char* kCreate = R"lua(
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
return 1)lua";
// KEYS: hash, list, index, seq. ARGV: id, now, message.
constexpr const char* kAppend = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'updated', ARGV[2])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[1])
return 1)lua";
// KEYS: hash. ARGV: field/value pairs (maybe none).
constexpr const char* kUpdate = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return 1)lua";
// KEYS: hash, list, index. ARGV: id.
constexpr const char* kRemove = R"lua(
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return n)lua";

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

std::string str(const redisReply* r) {
  return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : std::string();
}
int64_t num(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  const std::string s = str(r);
  return s.empty() ? 0 : std::stoll(s);
}

class RedisConversations final : public ConversationStore {
 public:
  RedisConversations(std::string host, int port, int db) : host_(std::move(host)), port_(port), db_(db) {
    std::lock_guard lk(mu_);
    connect_locked();
  }
  ~RedisConversations() override {
    if (ctx_) redisFree(ctx_);
  }

  ConversationInfo create(const std::string& title, const std::string& system_prompt,
                          const std::string& settings) override {
    const ConversationInfo c = new_conversation(title, system_prompt, settings);
    const std::string created = std::to_string(c.created);
    run({"EVAL", kCreate, "3", hash(c.id), kIndex, kSeq, c.id, "title", c.title, "system_prompt", c.system_prompt,
         "settings", c.settings, "created", created, "updated", created});
    return c;
  }

  std::optional<ConversationInfo> get(const std::string& id) override {
    std::lock_guard lk(mu_);
    return info_locked(id);
  }

  std::vector<ConversationInfo> list(const std::string& query, int64_t limit) override {
    std::lock_guard lk(mu_);
    std::vector<ConversationInfo> out;
    if (limit <= 0) return out;
    // With a query every conversation may have to be read: a chat's store is small, and Redis has
    // no text index without a module.
    const std::string last = query.empty() ? std::to_string(limit - 1) : "-1";
    Reply ids = run_locked({"ZREVRANGE", kIndex, "0", last});
    for (size_t i = 0; i < ids->elements && static_cast<int64_t>(out.size()) < limit; ++i) {
      const std::string id = str(ids->element[i]);
      auto c = info_locked(id);
      if (!c) continue;  // removed between the two reads
      if (!query.empty() && !contains_ignoring_case(c->title, query) && !any_message_contains_locked(id, query))
        continue;
      out.push_back(std::move(*c));
    }
    return out;
  }

  std::vector<Message> messages(const std::string& id) override {
    std::lock_guard lk(mu_);
    return messages_locked(id);
  }

  void append(const std::string& id, const std::string& role, const std::string& content,
              const std::string& citations) override {
    const int64_t now = unix_now();
    const std::string message =
        json{{"role", role}, {"content", content}, {"created", now}, {"citations", citations}}.dump(
            -1, ' ', false, json::error_handler_t::replace);
    Reply r = run({"EVAL", kAppend, "4", hash(id), list_key(id), kIndex, kSeq, id, std::to_string(now), message});
    if (num(r.get()) == 0) fail(ErrorKind::NotFound, "no conversation '" + id + "'");
  }

  void truncate(const std::string& id, int64_t keep) override {
    if (keep <= 0)
      run({"DEL", list_key(id)});
    else
      run({"LTRIM", list_key(id), "0", std::to_string(keep - 1)});
  }

  bool update(const std::string& id, const ConversationUpdate& u) override {
    std::vector<std::string> args = {"EVAL", kUpdate, "1", hash(id)};
    const auto field = [&](const char* name, const std::optional<std::string>& v) {
      if (!v) return;
      args.emplace_back(name);
      args.push_back(*v);
    };
    field("title", u.title);
    field("system_prompt", u.system_prompt);
    field("settings", u.settings);
    std::lock_guard lk(mu_);
    return num(run_locked(args).get()) == 1;
  }

  bool remove(const std::string& id) override {
    return num(run({"EVAL", kRemove, "3", hash(id), list_key(id), kIndex, id}).get()) > 0;
  }

 private:
  static std::string hash(const std::string& id) { return kPrefix + id; }
  static std::string list_key(const std::string& id) { return kPrefix + id + ":m"; }
  std::string name() const { return "redis://" + host_ + ":" + std::to_string(port_); }

  void connect_locked() {
    if (ctx_) return;
    const timeval tv{2, 0};
    ctx_ = redisConnectWithTimeout(host_.c_str(), port_, tv);
    if (!ctx_ || ctx_->err) lost_locked(ctx_ ? ctx_->errstr : "out of memory");
    redisSetTimeout(ctx_, tv);
    if (db_ == 0) return;
    Reply r(static_cast<redisReply*>(redisCommand(ctx_, "SELECT %d", db_)));
    if (!r || r->type == REDIS_REPLY_ERROR)
      lost_locked("SELECT " + std::to_string(db_) + " failed: " + (r ? std::string(r->str, r->len) : "no reply"));
  }

  [[noreturn]] void lost_locked(const std::string& why) {
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    fail(ErrorKind::Unavailable, "conversations: " + name() + " cannot be reached (" + why + ")");
  }

  Reply run(const std::vector<std::string>& args) {
    std::lock_guard lk(mu_);
    return run_locked(args);
  }

  // The reply, never an error reply; a lost connection is dropped so that the next call reconnects.
  Reply run_locked(const std::vector<std::string>& args) {
    connect_locked();
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    Reply r(static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r) lost_locked(ctx_->errstr[0] ? ctx_->errstr : "no reply");
    if (r->type == REDIS_REPLY_ERROR)
      fail(ErrorKind::Internal, "conversations: " + name() + " answered " + std::string(r->str, r->len));
    return r;
  }

  std::optional<ConversationInfo> info_locked(const std::string& id) {
    Reply h = run_locked({"HMGET", hash(id), "title", "system_prompt", "settings", "created", "updated"});
    if (h->elements != 5 || h->element[0]->type != REDIS_REPLY_STRING) return std::nullopt;
    Reply n = run_locked({"LLEN", list_key(id)});
    return ConversationInfo{
        id,          str(h->element[0]), str(h->element[1]), str(h->element[2]), num(h->element[3]), num(h->element[4]),
        num(n.get())};
  }

  std::vector<Message> messages_locked(const std::string& id) {
    std::vector<Message> out;
    Reply r = run_locked({"LRANGE", list_key(id), "0", "-1"});
    for (size_t i = 0; i < r->elements; ++i) {
      const json m = json::parse(str(r->element[i]), nullptr, false);
      if (!m.is_object()) continue;  // not written by this store
      out.push_back(
          {m.value("role", ""), m.value("content", ""), m.value("created", int64_t{0}), m.value("citations", "")});
    }
    return out;
  }

  bool any_message_contains_locked(const std::string& id, const std::string& query) {
    for (const Message& m : messages_locked(id))
      if (contains_ignoring_case(m.content, query)) return true;
    return false;
  }

  const std::string host_;
  const int port_, db_;
  std::mutex mu_;  // one command at a time on the one connection
  redisContext* ctx_ = nullptr;
};

}  // namespace

std::unique_ptr<ConversationStore> open_redis_conversations(const std::string& host, int port, int db) {
  return std::make_unique<RedisConversations>(host, port, db);
}

}  // namespace hayate::session
