#include "server/http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl/context.hpp>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "server/bench_runs.h"
#include "server/connection.h"

namespace hayate::server {
namespace {

using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// A TLS server context from PEM files; BadInput naming the file and OpenSSL's reason when one is
// missing, malformed, or the key is not the certificate's.
std::shared_ptr<asio::ssl::context> make_tls_context(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                   asio::ssl::context::single_dh_use);
  error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) fail(ErrorKind::BadInput, cert + ": cannot use it as the TLS certificate (tls_cert): " + ec.message());
  ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) != X509_R_KEY_VALUES_MISMATCH)
    fail(ErrorKind::BadInput, key + ": cannot use it as the TLS private key (tls_key): " + ec.message());
  if (ec || SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    fail(ErrorKind::BadInput, key + " is not the private key of the certificate " + cert + " (tls_key, tls_cert)");
  return ctx;
}

class HttpServer {
 public:
  explicit HttpServer(ServerState& state)
      : state_(state),
        ioc_(static_cast<int>(state.config().http_threads)),
        acceptor_(ioc_),
        signals_(ioc_, SIGINT, SIGTERM),
        hangup_(ioc_, SIGHUP) {
    if (!state.config().tls_cert.empty()) tls_ = make_tls_context(state.config().tls_cert, state.config().tls_key);
  }

  tcp::endpoint listen(const std::string& host, uint16_t port) {
    error_code ec;
    tcp::resolver resolver(ioc_);
    const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty())
      fail(ErrorKind::BadInput, "cannot listen on '" + host + "': " + (ec ? ec.message() : "no address"));
    const tcp::endpoint ep = results.begin()->endpoint();
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      fail(ErrorKind::ResourceExhausted, "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message() +
                                             "; pick another --port (0: any free one)");
    return acceptor_.local_endpoint();
  }

  void run() {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    asio::co_spawn(ioc_, watch_signals(), asio::detached);
    asio::co_spawn(ioc_, watch_hangup(), asio::detached);
    std::vector<std::thread> threads;
    for (int64_t i = 1; i < state_.config().http_threads; ++i) threads.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (std::thread& t : threads) t.join();
  }

  // From any thread: stop now (the model failed to load).
  void stop() { ioc_.stop(); }
  asio::io_context& context() { return ioc_; }

 private:
  awaitable<> accept_loop() {
    for (;;) {
      error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::make_strand(ioc_), asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) {  // e.g. out of file descriptors: wait a little rather than spin
        spdlog::warn("accept failed: {}", ec.message());
        asio::steady_timer pause(ioc_, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      const auto executor = socket.get_executor();
      asio::co_spawn(executor, serve_connection(std::move(socket), tls(), state_, connections_), asio::detached);
    }
  }

  std::shared_ptr<asio::ssl::context> tls() {
    std::lock_guard lk(tls_mu_);
    return tls_;
  }

  // SIGHUP: read the certificate and key again (renewed certificates without a restart). New
  // connections get the new context; open ones keep theirs. A bad file keeps the old context.
  awaitable<> watch_hangup() {
    for (;;) {
      error_code ec;
      co_await hangup_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      const ServerConfig& cfg = state_.config();
      if (cfg.tls_cert.empty()) {
        spdlog::info("SIGHUP: no TLS certificate to reload");
        continue;
      }
      try {
        auto fresh = make_tls_context(cfg.tls_cert, cfg.tls_key);
        std::lock_guard lk(tls_mu_);
        tls_ = std::move(fresh);
        spdlog::info("SIGHUP: reloaded the TLS certificate {} and key {}", cfg.tls_cert, cfg.tls_key);
      } catch (const Error& e) {
        spdlog::error("SIGHUP: {}; still serving the previous certificate", e.what());
      }
    }
  }

  awaitable<> watch_signals() {
    error_code ec;
    const int signal = co_await signals_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    const double drain = state_.config().drain_timeout;
    spdlog::info("signal {}: no new connections; draining {} connection(s) for up to {} s", signal, connections_.size(),
                 drain);
    state_.set_stopping();
    acceptor_.close(ec);
    signals_.async_wait([this](error_code e, int) {
      if (e) return;
      spdlog::warn("second signal: stopping at once");
      ioc_.stop();
    });

    asio::steady_timer tick(ioc_);
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(drain));
    while (connections_.size() > 0 && Clock::now() < deadline) {
      connections_.close_idle();
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (connections_.size() > 0) {
      spdlog::warn("drain timeout: cancelling the requests of {} connection(s)", connections_.size());
      for (const ModelStatus& m : state_.models().status())  // their handlers answer and close
        if (m.service) m.service->shutdown(false);
      const auto last = Clock::now() + std::chrono::seconds(2);
      while (connections_.size() > 0 && Clock::now() < last) {
        connections_.close_idle();
        tick.expires_after(std::chrono::milliseconds(20));
        co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    spdlog::info("stopped");
    signals_.cancel(ec);
    hangup_.cancel(ec);
    ioc_.stop();
  }

  ServerState& state_;
  ConnectionSet connections_;  // before the io_context: its pending coroutines unregister on destruction
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::signal_set hangup_;
  std::mutex tls_mu_;
  std::shared_ptr<asio::ssl::context> tls_;  // null: plain HTTP
};

// A server left running for days (issue 22) must not fill its disk with its log: a --log-file
// rotates by size, keeping --log-files old ones.
void setup_logging(const ServerConfig& config) {
  spdlog::sink_ptr sink;
  if (config.log_file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          config.log_file, static_cast<size_t>(config.log_max_bytes), static_cast<size_t>(config.log_files));
    } catch (const spdlog::spdlog_ex& e) {
      fail(ErrorKind::BadInput, config.log_file + ": cannot open the log file (--log-file): " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("hayate", sink);
  spdlog::register_logger(logger);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(config.log_level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace

int run_server(const ServerConfig& config, const std::function<LoadedModel(const ServerConfig&)>& load) {
  validate(config);
  if (!spdlog::get("hayate")) setup_logging(config);
  if (config.api_keys.empty())
    spdlog::warn("no API keys: {}", config.no_auth ? "--no-auth given, anyone who can reach the server may use it"
                                                   : "serving without authentication on a loopback address");

  // Each row of the models table loads as `-m FILE` would, with the row's device and context.
  ServerState* st = nullptr;
  auto make_service = [&config, &load, &st](const ModelSpec& spec) {
    ServerConfig c = config;
    c.model = spec.file;
    if (!spec.name.empty()) c.model_alias = spec.name;
    if (!spec.device.empty()) c.device = spec.device;
    if (spec.ctx_size >= 0) c.ctx_size = spec.ctx_size;
    LoadedModel lm = load(c);
    lm.aliases = spec.aliases;
    if (lm.random_weights)
      spdlog::warn("the model {} has RANDOM WEIGHTS: it prints noise (give a real one with --model FILE)", lm.path);
    const std::string path = lm.path;
    const double seconds = lm.load_seconds;
    auto service = std::make_shared<Service>(std::move(lm), c);
    service->compression().service().set_observer(
        [st](const compress::Observation& o) { st->compression_metrics().observe(o); });
    st->metrics().model_loaded(seconds);
    spdlog::info("model {} ({}) ready in {:.2f} s; context {} tokens, {} KV blocks", service->model_id(), path, seconds,
                 service->n_ctx(), service->engine().stats().kv_blocks_total);
    return service;
  };
  ServerState state(config, make_service);
  st = &state;
  HttpServer server(state);
  const tcp::endpoint ep = server.listen(config.host, static_cast<uint16_t>(config.port));
  // On stdout whatever the log level, for scripts and tests that asked for --port 0.
  std::printf("listening on %s:%u\n", config.host.c_str(), static_cast<unsigned>(ep.port()));
  std::fflush(stdout);
  // The page's benchmark measures this server from this machine (loopback when bound to every address).
  const bool any = config.host.empty() || config.host == "0.0.0.0" || config.host == "::";
  const std::string host = any ? "127.0.0.1" : config.host;
  set_bench_target("http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                   std::to_string(ep.port()));

  int exit_code = 0;
  // A keep_loaded model (the one of `-m`) that cannot load stops the server: it was asked to serve it.
  state.models().start([&exit_code, &server](const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      spdlog::error("cannot serve the model: {}", e.what());
      exit_code = hayate::exit_code(e.kind());
    } catch (const std::exception& e) {
      spdlog::error("cannot serve the model: {}", e.what());
      exit_code = hayate::exit_code(ErrorKind::Internal);
    }
    server.stop();
  });
  server.run();
  state.models().stop();
  return exit_code;
}

}  // namespace hayate::server
