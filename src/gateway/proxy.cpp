#include "gateway/proxy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "api/openai.h"

namespace hayate::gateway {

using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Headers that describe one hop, not the message, and those the gateway sets itself.
bool hop_header(std::string_view name) {
  for (const char* h :
       {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host",
        "content-length", "expect", "authorization", "accept-encoding", "server", "x-request-id", "content-encoding"})
    if (iequals(name, h)) return true;
  return false;
}

// What the request says about where it should go.
struct Routed {
  nlohmann::json json;
  bool is_json = false;
  std::string model;
  std::string prompt;  // the text whose prefix decides affinity
};

std::string text_of(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array())
    for (const auto& part : content)
      if (part.is_object() && part.contains("text") && part["text"].is_string()) out += part["text"].get<std::string>();
  return out;
}

Routed read_body(const std::string& body) {
  Routed r;
  if (body.empty()) return r;
  r.json = nlohmann::json::parse(body, nullptr, false);
  if (r.json.is_discarded() || !r.json.is_object()) return r;  // passed on as it is
  r.is_json = true;
  if (const auto it = r.json.find("model"); it != r.json.end() && it->is_string()) r.model = *it;
  if (const auto it = r.json.find("messages"); it != r.json.end() && it->is_array()) {
    for (const auto& m : *it) {
      if (!m.is_object()) continue;
      if (m.contains("role") && m["role"].is_string()) r.prompt += m["role"].get<std::string>() + "\n";
      if (m.contains("content")) r.prompt += text_of(m["content"]) + "\n";
    }
  }
  for (const char* field : {"prompt", "input"})
    if (const auto it = r.json.find(field); it != r.json.end()) {
      if (it->is_string()) r.prompt += it->get<std::string>();
      if (it->is_array() && !it->empty() && it->front().is_string()) r.prompt += it->front().get<std::string>();
    }
  return r;
}

// prompt + completion tokens of an answer's "usage" (the last one in a stream's tail).
int64_t usage_tokens(std::string_view text) {
  const size_t at = text.rfind("\"total_tokens\"");
  if (at == std::string_view::npos) return 0;
  size_t i = text.find(':', at);
  if (i == std::string_view::npos) return 0;
  ++i;
  while (i < text.size() && text[i] == ' ') ++i;
  int64_t n = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) n = n * 10 + (text[i] - '0');
  return n;
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Backoff before retry k (from 1): base * 2^(k-1), at most max, times a random 0.5..1 so that
// clients that failed together do not retry together.
Clock::duration backoff(const GatewayConfig& c, int k) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const double ms = std::min(c.retry_max_ms, c.retry_base_ms * std::pow(2.0, std::min(k - 1, 30)));
  return seconds(ms / 1000 * std::uniform_real_distribution<double>(0.5, 1.0)(rng));
}

enum class Outcome { Answered, Retry };
struct Attempt {
  Outcome outcome = Outcome::Retry;
  int status = 0;
  std::string error;
};

struct Context {
  std::shared_ptr<Client> c;
  const Incoming& in;
  Shared& sh;
  Pool& pool;
  const GatewayConfig& config;
  Clock::time_point deadline;
  cache::Cache* cache = nullptr;  // where a 200 answer is kept, under cache_key
  std::string cache_key;
};

Headers answer_from(const net::Response& r, const Incoming& in, const Upstream& u) {
  Headers out;
  for (const auto& [name, value] : r.headers)
    if (!hop_header(name)) out.emplace_back(name, value);
  for (auto& h : answer_headers(in)) out.push_back(std::move(h));
  out.emplace_back("x-hayate-upstream", u.name());
  return out;
}

void account(Context& x, int64_t tokens) {
  if (tokens <= 0) return;
  x.sh.metrics.tokens(x.in.who, tokens);
  x.sh.access.charge(x.in.who, tokens, Clock::now());
}

void upstream_failed(Context& x, Upstream& u, const char* kind) {
  x.sh.metrics.upstream_error(u, kind);
  if (u.failed(Clock::now(), x.config)) x.sh.metrics.ejected(u);
}

const char* failure_kind(net::Failure f) {
  switch (f) {
    case net::Failure::Connect:
      return "connect";
    case net::Failure::Timeout:
      return "timeout";
    case net::Failure::Closed:
      return "closed";
    default:
      return "protocol";
  }
}

awaitable<Attempt> attempt(Context& x, Upstream& u, std::string body) {
  Client& c = *x.c;
  Headers headers;
  for (const auto& [name, value] : x.in.headers)
    if (!hop_header(name)) headers.emplace_back(name, value);
  headers.emplace_back("x-request-id", x.in.request_id);
  if (!u.config().api_key.empty()) headers.emplace_back("authorization", "Bearer " + u.config().api_key);
  net::Request req(x.in.method, x.in.target, std::move(headers), std::move(body));

  enum class Mode { Waiting, Whole, Refused, Stream } mode = Mode::Waiting;
  std::shared_ptr<StreamOut> out;
  std::string kept, tail;
  bool too_big = false, too_slow = false;
  std::unique_ptr<net::Connection> conn = x.pool.take(u);
  net::Connection* raw = conn.get();
  c.on_gone = [raw] { raw->cancel(); };  // a client who leaves cancels the upstream request
  c.start_watch();
  const auto sent = Clock::now();
  net::ResponseHandlers handlers;
  handlers.on_head = [&](const net::Response& r) {
    x.sh.metrics.upstream_answered(u, std::chrono::duration<double>(Clock::now() - sent).count());
    if (r.status >= 500 || r.status == 429) {
      mode = Mode::Refused;
    } else if (r.status < 300 && r.header("content-type").rfind("text/event-stream", 0) == 0) {
      mode = Mode::Stream;
      out = std::make_shared<StreamOut>(x.c, r.status, answer_from(r, x.in, u), x.in.keep_alive && !x.sh.stopping,
                                        x.config.write_timeout);
      out->start();
    } else {
      mode = Mode::Whole;
    }
  };
  handlers.on_body = [&](std::string_view piece) {
    if (mode == Mode::Stream) {
      if (out->failed() || c.gone) return false;
      out->push(piece);
      tail.append(piece);
      if (tail.size() > 8192) tail.erase(0, tail.size() - 4096);
      if (out->pending() > static_cast<size_t>(x.config.max_buffered_bytes)) {
        too_slow = true;
        return false;
      }
      return true;
    }
    kept.append(piece);
    if (kept.size() > static_cast<size_t>(x.config.max_response_bytes)) {
      too_big = true;
      return false;
    }
    return true;
  };
  u.begin();
  net::Response r;
  if (!c.gone) r = co_await conn->request(std::move(req), x.deadline, handlers);
  u.end();
  c.on_gone = nullptr;

  Attempt a;
  if (mode == Mode::Stream) {
    a.outcome = Outcome::Answered;
    a.status = r.status;
    if (r.ok()) {
      u.succeeded();
      if (r.keep_alive) x.pool.give(u, std::move(conn));
    } else if (too_slow) {
      u.succeeded();
      a.status = 499;
      error_code ec;
      c.socket.close(ec);  // a client that reads nothing loses its stream, not the gateway its memory
      c.mark_gone();
    } else if (c.gone) {
      u.release();
      a.status = 499;
    } else {  // the upstream failed mid-stream: nothing can be retried, the client is told
      upstream_failed(x, u, r.failure == net::Failure::Timeout ? "timeout" : "closed");
      const api::ApiError e(502, "The upstream '" + u.name() + "' failed in the middle of the stream: " + r.error,
                            "upstream_error", "", "upstream_failed");
      out->push("\n\ndata: " + api::error_json(e) + "\n\n");
      a.status = 502;
    }
    out->finish();
    co_await out->join();
    account(x, usage_tokens(tail));
    co_return a;
  }
  if (c.gone) {
    u.release();
    co_return Attempt{Outcome::Answered, 499, "the client went away"};
  }
  if (r.ok() && mode == Mode::Whole) {
    u.succeeded();
    if (r.keep_alive) x.pool.give(u, std::move(conn));
    account(x, usage_tokens(kept));
    if (x.cache && r.status == 200) x.cache->put(x.cache_key, r.header("content-type") + "\n" + kept);
    co_await respond(c, r.status, std::move(kept), answer_from(r, x.in, u), x.in.keep_alive && !x.sh.stopping,
                     x.config.write_timeout);
    co_return Attempt{Outcome::Answered, r.status, ""};
  }
  if (r.ok() && mode == Mode::Refused) {
    if (r.status == 429) {
      u.release();  // busy, not broken
      x.sh.metrics.upstream_error(u, "status");
    } else {
      upstream_failed(x, u, "status");
    }
    if (r.keep_alive) x.pool.give(u, std::move(conn));
    a.error = "answered " + std::to_string(r.status) + ": " + kept.substr(0, 300);
    co_return a;
  }
  if (r.failure == net::Failure::Timeout && Clock::now() >= x.deadline) {
    upstream_failed(x, u, "timeout");
    co_return Attempt{Outcome::Retry, 504, "no answer before the request's deadline"};
  }
  upstream_failed(x, u, too_big ? "protocol" : failure_kind(r.failure));
  a.error =
      too_big ? "its answer is over max_response_bytes (" + std::to_string(x.config.max_response_bytes) + ")" : r.error;
  co_return a;
}

// The cache for this request, or null: embeddings, and answers that do not vary (temperature 0,
// not streamed). The key is the path and the body re-serialised (key order is not meaning).
cache::Cache* cache_for(Shared& sh, const Incoming& in, const Routed& routed, std::string& key) {
  if (!sh.completions_cache || in.method != "POST" || !routed.is_json) return nullptr;
  const std::string path = in.target.substr(0, in.target.find('?'));
  const nlohmann::json& j = routed.json;
  cache::Cache* cache = nullptr;
  if (path == "/v1/embeddings") {
    cache = sh.embeddings_cache.get();
  } else if (path == "/v1/chat/completions" || path == "/v1/completions") {
    const auto t = j.find("temperature");
    const bool greedy = t != j.end() && t->is_number() && t->get<double>() == 0;
    if (greedy && !j.value("stream", false)) cache = sh.completions_cache.get();
  }
  if (cache) key = path + "\n" + j.dump();
  return cache;
}

std::string body_for(const Routed& routed, const std::string& original, const ModelRoute& route, const Upstream& u) {
  if (!routed.is_json) return original;
  const std::string& wanted = u.config().upstream_model.empty() ? route.name : u.config().upstream_model;
  if (routed.model == wanted) return original;
  nlohmann::json j = routed.json;
  j["model"] = wanted;
  return j.dump();
}

}  // namespace

Shared::Shared(std::string path, const GatewayConfig& config)
    : config_path(std::move(path)), access(config), affinity(static_cast<size_t>(config.affinity_entries)) {
  this->configure(config);
  if (config.cache_entries > 0) {
    cache::MemoryLimits limits;
    limits.max_entries = config.cache_entries;
    const std::shared_ptr<cache::Store> store = cache::make_store(config.cache_store, limits);
    completions_cache = std::make_unique<cache::Cache>("gateway-completions", store, config.cache_ttl_completions);
    embeddings_cache = std::make_unique<cache::Cache>("gateway-embeddings", store, config.cache_ttl_embeddings);
  }
}

std::shared_ptr<const Routing> Shared::routing() const {
  std::lock_guard lk(mu_);
  return routing_;
}

void Shared::configure(const GatewayConfig& config) {
  auto routing =
      std::make_shared<const Routing>(std::make_shared<const GatewayConfig>(config), upstreams.get(config.upstreams));
  access.configure(config);
  std::lock_guard lk(mu_);
  routing_ = std::move(routing);
}

std::unique_ptr<net::Connection> Pool::take(Upstream& u) {
  auto& idle = idle_[&u];
  while (!idle.empty()) {
    std::unique_ptr<net::Connection> c = std::move(idle.back());
    idle.pop_back();
    if (c->is_open()) return c;
  }
  net::ConnectionOptions options;
  options.body_limit = std::numeric_limits<uint64_t>::max();  // the gateway's handler keeps its own limit
  return std::make_unique<net::Connection>(ex_, u.endpoint(), options);
}

void Pool::give(Upstream& u, std::unique_ptr<net::Connection> c) {
  auto& idle = idle_[&u];
  if (c->is_open() && idle.size() < 256) idle.push_back(std::move(c));
}

std::string Incoming::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return "";
}

Headers answer_headers(const Incoming& in) {
  Headers h = {{"x-request-id", in.request_id}};
  if (!in.cors.empty()) {
    h.emplace_back("access-control-allow-origin", in.cors);
    h.emplace_back("access-control-expose-headers", "x-request-id, x-hayate-upstream, retry-after");
    h.emplace_back("vary", "Origin");
  }
  return h;
}

awaitable<bool> respond_error(Client& c, const Incoming& in, const GatewayConfig& config, int status,
                              const std::string& message, const std::string& type, const std::string& code) {
  Headers h = answer_headers(in);
  h.emplace_back("content-type", "application/json");
  co_return co_await respond(c, status, api::error_json(api::ApiError(status, message, type, "", code)), h,
                             in.keep_alive, config.write_timeout);
}

awaitable<int> proxy(std::shared_ptr<Client> c, const Incoming& in, Shared& sh, Pool& pool) {
  const std::shared_ptr<const Routing> routing = sh.routing();  // kept to the end, across reloads
  const GatewayConfig& config = routing->config();
  const Routed routed = read_body(in.body);
  const ModelRoute* first = routed.model.empty() ? &routing->default_route() : routing->find(routed.model);
  if (!first) {
    std::string known;
    for (const std::string& n : routing->model_names()) known += (known.empty() ? "" : ", ") + n;
    co_await respond_error(*c, in, config, 404,
                           "The model '" + routed.model + "' is not served by this gateway (models: " + known + ")",
                           "invalid_request_error", "model_not_found");
    co_return 404;
  }
  double timeout = config.request_timeout;
  if (const std::string t = in.header("x-request-timeout"); !t.empty()) {
    char* end = nullptr;
    const double asked = std::strtod(t.c_str(), &end);
    if (end && *end == '\0' && asked > 0) timeout = std::min(timeout, asked);
  }
  Context x{c, in, sh, pool, config, in.started + seconds(timeout), nullptr, ""};
  x.cache = cache_for(sh, in, routed, x.cache_key);
  if (x.cache) {
    const std::optional<std::string> hit = x.cache->get(x.cache_key);
    sh.metrics.cache(hit.has_value());
    if (hit) {
      const size_t nl = hit->find('\n');
      Headers h = answer_headers(in);
      h.emplace_back("content-type", hit->substr(0, nl));
      h.emplace_back("x-hayate-cache", "hit");
      co_await respond(*c, 200, hit->substr(nl + 1), h, in.keep_alive && !sh.stopping, config.write_timeout);
      co_return 200;
    }
  }

  std::vector<const ModelRoute*> chain = {first};
  for (const std::string& f : first->fallback)
    if (const ModelRoute* r = routing->find(f)) chain.push_back(r);
  std::string last_error = "no replica is up";
  int attempts = 0;
  asio::steady_timer pause(c->socket.get_executor());
  for (size_t m = 0; m < chain.size(); ++m) {
    const ModelRoute& route = *chain[m];
    if (m > 0) sh.metrics.fallback(chain[m - 1]->name, route.name);
    const auto hashes = prefix_hashes(route.name, routed.prompt, static_cast<size_t>(config.affinity_block_bytes));
    std::vector<Upstream*> tried;
    for (int64_t k = 0; k <= config.retries; ++k) {
      const Pick p = pick_replica(route, hashes, tried, sh.affinity, config.affinity_slack, Clock::now());
      if (!p.upstream) {
        if (tried.empty()) last_error = "no replica of model '" + route.name + "' is up";
        break;
      }
      if (!hashes.empty()) sh.metrics.affinity(p.affinity);
      if (attempts > 0) sh.metrics.retry(*p.upstream);
      if (k > 0) {
        error_code ec;
        pause.expires_at(std::min(x.deadline, Clock::now() + backoff(config, static_cast<int>(k))));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (Clock::now() >= x.deadline) break;
      ++attempts;
      tried.push_back(p.upstream);
      const Attempt a = co_await attempt(x, *p.upstream, body_for(routed, in.body, route, *p.upstream));
      if (a.outcome == Outcome::Answered) co_return a.status;
      last_error = "'" + p.upstream->name() + "' " + a.error;
      if (a.status == 504) break;
    }
    if (Clock::now() >= x.deadline) {
      co_await respond_error(*c, in, config, 504,
                             "No upstream answered within the request's deadline of " + std::to_string(timeout) +
                                 " s (request_timeout or X-Request-Timeout); last: " + last_error,
                             "timeout", "timeout");
      co_return 504;
    }
  }
  co_await respond_error(*c, in, config, 502,
                         "No upstream could answer for model '" + first->name + "' after " + std::to_string(attempts) +
                             " attempt(s) over its replicas and fallbacks; last: " + last_error,
                         "upstream_error", "upstream_unavailable");
  co_return 502;
}

}  // namespace hayate::gateway
