#include "gateway/gateway.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <csignal>
#include <cstdio>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "api/openai.h"
#include "core/error.h"
#include "gateway/proxy.h"

namespace hayate::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

struct Worker {
  asio::io_context ioc{1};
  Pool pool{ioc.get_executor()};
};

std::string new_request_id() {
  static std::atomic<uint64_t> n{0};
  static const uint64_t start = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  char buf[40];
  std::snprintf(buf, sizeof buf, "gw-%llx-%llx", static_cast<unsigned long long>(start & 0xffffffffffull),
                static_cast<unsigned long long>(n.fetch_add(1)));
  return buf;
}

std::string pick_request_id(const std::string& given) {
  if (!given.empty() && given.size() <= 64 && std::all_of(given.begin(), given.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      }))
    return given;
  return new_request_id();
}

// The route label of /metrics: known routes by path, anything else (ids in paths, scanners'
// guesses) as "other", so that the number of series stays bounded.
std::string route_label(const std::string& path) {
  static const std::set<std::string> known = {"/health",
                                              "/metrics",
                                              "/v1/chat/completions",
                                              "/v1/completions",
                                              "/v1/embeddings",
                                              "/v1/models",
                                              "/v1/responses",
                                              "/v1/rerank",
                                              "/v1/score",
                                              "/v1/tasks/summarize",
                                              "/v1/tasks/classify",
                                              "/v1/tasks/extract",
                                              "/v1/tasks/sentiment",
                                              "/v1/tasks/keywords",
                                              "/v1/tasks/translate",
                                              "/v1/data/process"};
  return known.count(path) ? path : "other";
}

class Gateway {
 public:
  Gateway(const GatewayConfig& config, std::string path)
      : shared_(std::move(path), config), workers_(static_cast<size_t>(config.http_threads)) {}

  uint16_t listen(const std::string& host, uint16_t port) {
    asio::io_context& ioc = workers_.front().ioc;
    acceptor_.emplace(ioc);
    signals_.emplace(ioc, SIGINT, SIGTERM);
    hup_.emplace(ioc, SIGHUP);
    error_code ec;
    tcp::resolver resolver(ioc);
    const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty())
      fail(ErrorKind::BadInput, "cannot listen on '" + host + "': " + (ec ? ec.message() : "no address"));
    const tcp::endpoint ep = results.begin()->endpoint();
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      fail(ErrorKind::ResourceExhausted, "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message() +
                                             "; pick another port (0: any free one)");
    return acceptor_->local_endpoint().port();
  }

  void run() {
    asio::io_context& first = workers_.front().ioc;
    asio::co_spawn(first, accept_loop(), asio::detached);
    asio::co_spawn(first, watch_signals(), asio::detached);
    asio::co_spawn(first, watch_hup(), asio::detached);
    asio::co_spawn(first, health_loop(), asio::detached);
    // The other workers wait for clients; a guard keeps their io_context running meanwhile.
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> threads;
    for (size_t i = 1; i < workers_.size(); ++i) {
      guards.emplace_back(workers_[i].ioc.get_executor());
      threads.emplace_back([this, i] { workers_[i].ioc.run(); });
    }
    first.run();
    for (auto& g : guards) g.reset();
    for (size_t i = 1; i < workers_.size(); ++i) workers_[i].ioc.stop();
    for (std::thread& t : threads) t.join();
  }

 private:
  awaitable<> accept_loop() {
    size_t next = 0;
    for (;;) {
      Worker& w = workers_[next++ % workers_.size()];
      error_code ec;
      tcp::socket socket = co_await acceptor_->async_accept(w.ioc, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
      if (ec) {  // out of file descriptors, say: wait a little rather than spin
        spdlog::warn("accept failed: {}", ec.message());
        asio::steady_timer pause(workers_.front().ioc, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      ++open_clients_;
      asio::co_spawn(w.ioc, serve_client(std::move(socket), w), [this](std::exception_ptr e) {
        --open_clients_;
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("a client connection ended with an internal error: {}", ex.what());
        }
      });
    }
  }

  awaitable<> serve_client(tcp::socket socket, Worker& w) {
    auto c = std::make_shared<Client>(std::move(socket));
    error_code ec;
    c->socket.set_option(tcp::no_delay(true), ec);
    const auto remote = c->socket.remote_endpoint(ec);
    c->peer = ec ? "unknown" : remote.address().to_string();
    asio::steady_timer read_deadline(c->socket.get_executor());
    while (!shared_.stopping) {
      const std::shared_ptr<const Routing> routing = shared_.routing();
      const GatewayConfig& config = routing->config();
      http::request_parser<http::string_body> parser;
      parser.body_limit(static_cast<uint64_t>(config.max_body_bytes));
      parser.header_limit(64 * 1024);
      // A client that sends nothing, or its request slowly (slow loris), loses its connection.
      read_deadline.expires_after(seconds(config.read_timeout));
      read_deadline.async_wait([c](error_code e) {
        if (!e) c->socket.close(e);
      });
      co_await http::async_read(c->socket, c->buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      read_deadline.cancel();
      if (ec == http::error::body_limit) {
        Incoming in;
        in.keep_alive = false;
        in.request_id = new_request_id();
        co_await respond_error(*c, in, config, 413,
                               "The request body is over this gateway's limit of " +
                                   std::to_string(config.max_body_bytes) + " bytes (max_body_bytes)",
                               "invalid_request_error", "request_too_large");
        break;
      }
      if (ec) break;  // closed, reset, timed out or not HTTP: nothing to answer
      Incoming in;
      auto& m = parser.get();
      in.method = std::string(m.method_string());
      in.target = std::string(m.target());
      for (const auto& f : m) in.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      in.body = std::move(m.body());
      in.keep_alive = m.keep_alive();
      in.started = Clock::now();
      in.request_id = pick_request_id(in.header("x-request-id"));
      in.cors = shared_.access.cors_origin(in.header("origin"));
      const int status = co_await handle(c, in, w, config);
      co_await c->stop_watch();
      const double elapsed = std::chrono::duration<double>(Clock::now() - in.started).count();
      const std::string path = in.target.substr(0, in.target.find('?'));
      shared_.metrics.request_done(route_label(path), status, elapsed);
      spdlog::info("request_id={} method={} path={} status={} duration_ms={} who={}", in.request_id, in.method, path,
                   status, static_cast<int64_t>(elapsed * 1000), in.who);
      if (c->gone || !in.keep_alive || shared_.stopping) break;
    }
    c->socket.shutdown(tcp::socket::shutdown_both, ec);
    c->socket.close(ec);
  }

  // The answers the gateway gives itself (preflight, health, metrics, refusals, the model list);
  // nullopt for a request to pass on. (Not in the coroutine: g++ 12 mishandles string literals
  // in braced initializers inside coroutines.)
  struct Answer {
    int status;
    std::string body;
    Headers headers;
  };
  std::optional<Answer> local_answer(const Client& c, Incoming& in) {
    const std::string path = in.target.substr(0, in.target.find('?'));
    Headers json = answer_headers(in);
    json.emplace_back("content-type", "application/json");
    if (in.method == "OPTIONS") {  // CORS preflight
      Headers h = answer_headers(in);
      if (!in.cors.empty()) {
        h.emplace_back("access-control-allow-methods", "GET, POST, DELETE, OPTIONS");
        h.emplace_back("access-control-allow-headers", "authorization, content-type, x-request-id, x-request-timeout");
        h.emplace_back("access-control-max-age", "600");
      }
      return Answer{204, "", h};
    }
    if (in.method == "GET" && path == "/health") {
      const auto routing = shared_.routing();
      nlohmann::json up = nlohmann::json::object();
      int usable = 0;
      const auto now = Clock::now();
      for (const Upstream* u : routing->upstreams()) {
        const auto state = u->state(now);
        up[u->name()] = to_string(state);
        usable += state == Upstream::State::Up || state == Upstream::State::HalfOpen;
      }
      const nlohmann::json body = {{"status", usable > 0 ? "ok" : "no upstream is up"}, {"upstreams", up}};
      return Answer{usable > 0 ? 200 : 503, body.dump(), json};
    }
    if (in.method == "GET" && path == "/metrics") {
      Headers h = answer_headers(in);
      h.emplace_back("content-type", "text/plain; version=0.0.4");
      return Answer{200, shared_.metrics.scrape(shared_.routing()->upstreams()), h};
    }
    const Admission a = shared_.access.admit(in.header("authorization"), c.peer, Clock::now());
    in.who = a.who;
    if (a.status != 0) {
      shared_.metrics.refused(a.status == 401                  ? "unauthorized"
                              : a.code == "insufficient_quota" ? "quota_exceeded"
                                                               : "rate_limited");
      if (a.retry_after > 0) json.emplace_back("retry-after", std::to_string(static_cast<int64_t>(a.retry_after)));
      const char* type = a.status == 401 ? "invalid_request_error" : "rate_limit_error";
      return Answer{a.status, api::error_json(api::ApiError(a.status, a.message, type, "", a.code)), json};
    }
    if (in.method == "GET" && path == "/v1/models") {
      nlohmann::json data = nlohmann::json::array();
      for (const std::string& name : shared_.routing()->model_names())
        data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "hayate-gateway"}});
      return Answer{200, nlohmann::json{{"object", "list"}, {"data", data}}.dump(), json};
    }
    return std::nullopt;
  }

  awaitable<int> handle(const std::shared_ptr<Client>& c, Incoming& in, Worker& w, const GatewayConfig& config) {
    if (std::optional<Answer> a = local_answer(*c, in)) {
      co_await respond(*c, a->status, std::move(a->body), a->headers, in.keep_alive, config.write_timeout);
      co_return a->status;
    }
    co_return co_await proxy(c, in, shared_, w.pool);
  }

  // Each upstream's /health, every health_interval, each on a connection of its own.
  awaitable<> health_loop() {
    asio::io_context& ioc = workers_.front().ioc;
    asio::steady_timer tick(ioc);
    std::map<Upstream*, std::unique_ptr<net::Connection>> conns;
    std::set<Upstream*> checking;
    while (!shared_.stopping) {
      const auto routing = shared_.routing();
      const double interval = routing->config().health_interval;
      if (interval <= 0) {
        tick.expires_after(std::chrono::seconds(1));
      } else {
        for (Upstream* u : routing->upstreams()) {
          if (checking.count(u)) continue;
          auto& conn = conns[u];
          if (!conn) conn = std::make_unique<net::Connection>(ioc.get_executor(), u->endpoint());
          checking.insert(u);
          asio::co_spawn(ioc, check(*u, *conn, routing->config().health_timeout),
                         [&checking, u](std::exception_ptr) { checking.erase(u); });
        }
        tick.expires_after(seconds(interval));
      }
      error_code ec;
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  awaitable<> check(Upstream& u, net::Connection& conn, double timeout) {
    net::Request req("GET", "/health");
    const net::Response r = co_await conn.request(std::move(req), Clock::now() + seconds(timeout));
    const bool ok = r.ok() && r.status == 200;
    if (u.health_checked(ok, Clock::now())) {
      if (ok)
        spdlog::info("upstream {} passes its health check: in use", u.name());
      else
        spdlog::warn("upstream {} failed its health check ({}): no requests until it passes one", u.name(),
                     r.ok() ? "status " + std::to_string(r.status) : r.error);
    }
  }

  awaitable<> watch_hup() {
    for (;;) {
      error_code ec;
      co_await hup_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      try {
        const GatewayConfig next = load_gateway_config(shared_.config_path);
        const GatewayConfig& now = shared_.routing()->config();
        if (next.host != now.host || next.port != now.port || next.http_threads != now.http_threads)
          spdlog::warn("reload: host, port and http_threads change only on a restart; the old ones stay");
        shared_.configure(next);
        spdlog::info("reloaded {}: {} upstream(s), {} model(s)", shared_.config_path, next.upstreams.size(),
                     shared_.routing()->model_names().size());
      } catch (const std::exception& e) {
        spdlog::error("reload of {} failed, the running configuration stays: {}", shared_.config_path, e.what());
      }
    }
  }

  awaitable<> watch_signals() {
    error_code ec;
    const int signal = co_await signals_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    const double drain = shared_.routing()->config().drain_timeout;
    spdlog::info("signal {}: no new connections; draining {} connection(s) for up to {} s", signal,
                 open_clients_.load(), drain);
    shared_.stopping = true;
    acceptor_->close(ec);
    hup_->cancel(ec);
    signals_->async_wait([this](error_code e, int) {
      if (!e) stop_all();
    });
    asio::steady_timer tick(workers_.front().ioc);
    const auto deadline = Clock::now() + seconds(drain);
    // Idle kept-alive clients end at their read deadline; those in a request finish it first.
    while (open_clients_ > 0 && Clock::now() < deadline) {
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    spdlog::info("stopped");
    signals_->cancel(ec);
    stop_all();
  }

  void stop_all() {
    for (Worker& w : workers_) w.ioc.stop();
  }

  Shared shared_;
  std::vector<Worker> workers_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::signal_set> signals_, hup_;
  std::atomic<int> open_clients_{0};
};

}  // namespace

int run_gateway(const GatewayConfig& config, const std::string& config_path) {
  if (!spdlog::get("hayate")) {
    auto logger = spdlog::stderr_color_mt("hayate");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    logger->set_level(spdlog::level::from_str(config.log_level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  if (config.keys.empty()) spdlog::warn("no [[keys]]: anyone who can reach the gateway may use it");
  Gateway gateway(config, config_path);
  const uint16_t port = gateway.listen(config.host, static_cast<uint16_t>(config.port));
  std::printf("listening on %s:%u\n", config.host.c_str(), static_cast<unsigned>(port));
  std::fflush(stdout);
  gateway.run();
  return 0;
}

}  // namespace hayate::gateway
