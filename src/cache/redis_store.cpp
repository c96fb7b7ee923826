#include "cache/redis_store.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <vector>

#include "cache/memory_store.h"
#include "core/error.h"

namespace hayate::cache {
namespace {

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

timeval to_timeval(double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  return tv;
}

// A glob that matches the prefix literally, then anything.
std::string glob_of(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out + "*";
}

}  // namespace

RedisStore::RedisStore(std::string host, int port, int db, double timeout_seconds)
    : host_(std::move(host)), port_(port), db_(db), timeout_(timeout_seconds) {
  if (host_.empty() || port_ <= 0 || port_ > 65535 || db_ < 0)
    fail(ErrorKind::BadInput, "redis: '" + host_ + ":" + std::to_string(port_) + "' is not a host and port");
}

RedisStore::~RedisStore() {
  if (ctx_) redisFree(ctx_);
}

std::string RedisStore::name() const { return "redis://" + host_ + ":" + std::to_string(port_); }

void RedisStore::lost_locked(const std::string& why) {
  if (ctx_) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  available_ = false;
  next_try_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  if (!warned_)
    spdlog::warn("cache: {} is unreachable ({}); caching through it is off until it answers again", name(), why);
  warned_ = true;
}

bool RedisStore::connect_locked() {
  if (ctx_) return true;
  if (std::chrono::steady_clock::now() < next_try_) return false;
  ctx_ = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(timeout_));
  if (!ctx_ || ctx_->err) {
    lost_locked(ctx_ ? ctx_->errstr : "out of memory");
    return false;
  }
  redisSetTimeout(ctx_, to_timeval(timeout_));
  if (db_ != 0) {
    Reply r(static_cast<redisReply*>(redisCommand(ctx_, "SELECT %d", db_)));
    if (!r || r->type == REDIS_REPLY_ERROR) {
      lost_locked("SELECT failed");
      return false;
    }
  }
  if (warned_) spdlog::info("cache: {} answers again", name());
  warned_ = false;
  available_ = true;
  return true;
}

redisReply* RedisStore::command_locked(std::initializer_list<std::string_view> args) {
  if (!connect_locked()) return nullptr;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (!r) {
    lost_locked(ctx_->errstr[0] ? ctx_->errstr : "no reply");
    return nullptr;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    spdlog::warn("cache: {} answered an error: {}", name(), std::string(r->str, r->len));
    freeReplyObject(r);
    return nullptr;
  }
  return r;
}

std::optional<std::string> RedisStore::get(std::string_view key) {
  std::lock_guard lk(mu_);
  Reply r(command_locked({"GET", key}));
  if (!r || r->type != REDIS_REPLY_STRING) return std::nullopt;
  return std::string(r->str, r->len);
}

void RedisStore::put(std::string_view key, std::string_view value, double ttl_seconds) {
  std::lock_guard lk(mu_);
  if (ttl_seconds > 0) {
    const std::string ms = std::to_string(std::max<int64_t>(1, std::llround(ttl_seconds * 1000)));
    Reply r(command_locked({"SET", key, value, "PX", ms}));
  } else {
    Reply r(command_locked({"SET", key, value}));
  }
}

void RedisStore::erase(std::string_view key) {
  std::lock_guard lk(mu_);
  Reply r(command_locked({"DEL", key}));
}

template <typename F>
void RedisStore::scan_locked(std::string_view prefix, F&& on_key) {
  const std::string glob = glob_of(prefix);
  std::string cursor = "0";
  do {
    Reply r(command_locked({"SCAN", cursor, "MATCH", glob, "COUNT", "1000"}));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return;
    cursor.assign(r->element[0]->str, r->element[0]->len);
    const redisReply* keys = r->element[1];
    for (size_t i = 0; i < keys->elements; ++i) on_key(std::string(keys->element[i]->str, keys->element[i]->len));
  } while (cursor != "0");
}

int64_t RedisStore::clear(std::string_view prefix) {
  std::lock_guard lk(mu_);
  std::vector<std::string> keys;
  scan_locked(prefix, [&](std::string k) { keys.push_back(std::move(k)); });
  int64_t n = 0;
  for (const std::string& k : keys) {
    Reply r(command_locked({"DEL", k}));
    if (r && r->type == REDIS_REPLY_INTEGER) n += r->integer;
  }
  return n;
}

StoreStats RedisStore::stats(std::string_view prefix) {
  std::lock_guard lk(mu_);
  StoreStats s;
  scan_locked(prefix, [&](const std::string&) { ++s.entries; });
  s.available = available_ && ctx_ != nullptr;
  return s;
}

std::unique_ptr<Store> make_store(const std::string& spec, const MemoryLimits& limits) {
  if (spec.empty() || spec == "memory") return std::make_unique<MemoryStore>(limits);
  const std::string scheme = "redis://";
  if (spec.rfind(scheme, 0) != 0)
    fail(ErrorKind::BadInput, "cache store '" + spec + "': use 'memory' or 'redis://HOST:PORT[/DB]'");
  std::string rest = spec.substr(scheme.size());
  int db = 0;
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    const std::string d = rest.substr(slash + 1);
    rest.resize(slash);
    if (!d.empty()) {
      if (d.find_first_not_of("0123456789") != std::string::npos || d.size() > 4)
        fail(ErrorKind::BadInput, "cache store '" + spec + "': the database after '/' must be a number");
      db = std::stoi(d);
    }
  }
  const size_t colon = rest.rfind(':');
  const std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  const std::string port = colon == std::string::npos ? "6379" : rest.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    fail(ErrorKind::BadInput, "cache store '" + spec + "': the port must be a number");
  return std::make_unique<RedisStore>(host, std::stoi(port), db);
}

}  // namespace hayate::cache
