#include "server/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <cstdio>
#include <iterator>

#include "core/clock.h"
#include "server/gzip.h"
#include "server/http_head.h"
#include "server/transport.h"
#include "server/websocket.h"

namespace hayate::server {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

struct Connection {
  explicit Connection(Transport s)
      : stream(std::move(s)),
        wake(stream.get_executor()),
        write_deadline(stream.get_executor()),
        read_deadline(stream.get_executor()) {}

  tcp::socket& socket() { return stream.socket(); }
  Transport stream;  // its executor is the connection's strand: everything below runs there
  beast::flat_buffer buffer;
  asio::steady_timer wake;  // a waiting handler sleeps on it; cancel() wakes it
  std::string peer;
  bool busy = false;                  // between reading a request and finishing its response
  bool watching = false;              // a peer-watch read is outstanding
  bool want_watch = false;            // keep the peer watch going
  bool peer_gone = false;             // the client closed or reset the connection
  asio::steady_timer write_deadline;  // closes the socket when a write takes over write_timeout
  uint64_t write_serial = 0;          // which write the armed deadline belongs to
  bool write_timed_out = false;
  asio::steady_timer read_deadline;  // cancels the reads of a request that takes too long to arrive
  uint64_t read_serial = 0;
  bool read_timed_out = false;
};

namespace {

constexpr size_t kWatchBufferLimit = 64 * 1024;  // pipelined bytes held while a response runs
constexpr size_t kGzipMinBytes = 1024;

// Reads the socket while a handler waits, so that a client who hangs up is noticed: a read that
// ends in EOF or an error marks the peer gone and wakes the handler. Bytes that arrive (a
// pipelined request) are kept in the buffer for the next parse.
void start_peer_watch(const std::shared_ptr<Connection>& c) {
  c->want_watch = true;
  if (c->watching || c->peer_gone || c->buffer.size() >= kWatchBufferLimit) return;
  c->watching = true;
  c->stream.async_read_some(c->buffer.prepare(4096), [c](error_code ec, size_t n) {
    c->watching = false;
    c->buffer.commit(n);
    if (ec && ec != asio::error::operation_aborted) c->peer_gone = true;
    if (!ec && c->want_watch)
      start_peer_watch(c);
    else
      c->wake.cancel();
  });
}

awaitable<> stop_peer_watch(const std::shared_ptr<Connection>& c) {
  c->want_watch = false;
  if (!c->watching) co_return;
  error_code ec;
  c->socket().cancel(ec);
  while (c->watching) {
    c->wake.expires_at(Clock::time_point::max());
    co_await c->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// A client that stops reading fills the socket buffers and then blocks every write; without a
// limit its request would hold its sequence and KV blocks, and its connection, forever. Each write
// therefore runs under a deadline that closes the socket, which fails the write (the handler sees
// the peer gone and cancels the request). Every write of a connection arms it; `serial` tells a
// deadline that fired late (after its write ended) from the current one.
void arm_write_deadline(const std::shared_ptr<Connection>& c, double seconds) {
  const uint64_t serial = ++c->write_serial;
  if (seconds <= 0) return;
  c->write_deadline.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
  c->write_deadline.async_wait([c, serial](error_code e) {
    if (e || c->write_serial != serial) return;
    c->write_timed_out = true;
    c->peer_gone = true;
    error_code ignored;
    c->socket().close(ignored);
  });
}

void disarm_write_deadline(const std::shared_ptr<Connection>& c) {
  ++c->write_serial;
  c->write_deadline.cancel();
}

// The reads of one phase of a request (waiting for it, its head, its body) run under a deadline
// that cancels them, so that a client trickling bytes (slow-loris) cannot hold a connection; the
// caller tells a timeout from a hang-up by `read_timed_out`. `seconds` <= 0: no deadline.
void arm_read_deadline(const std::shared_ptr<Connection>& c, double seconds) {
  const uint64_t serial = ++c->read_serial;
  c->read_timed_out = false;
  c->read_deadline.cancel();
  if (seconds <= 0) return;
  c->read_deadline.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
  c->read_deadline.async_wait([c, serial](error_code e) {
    if (e || c->read_serial != serial) return;
    c->read_timed_out = true;
    error_code ignored;
    c->socket().cancel(ignored);
  });
}

void disarm_read_deadline(const std::shared_ptr<Connection>& c) {
  ++c->read_serial;
  c->read_deadline.cancel();
}

std::string fmt_seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
}

// The client may name the request (x-request-id); only a short, plain id is echoed into logs.
std::string pick_request_id(const std::string& given) {
  if (!given.empty() && given.size() <= 64 && std::all_of(given.begin(), given.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      }))
    return given;
  return api::new_request_id("req-");
}

class ConnectionExchange final : public Exchange {
 public:
  ConnectionExchange(std::shared_ptr<Connection> c, ServerState& st, HttpRequest rq, bool keep_alive)
      : c_(std::move(c)), st_(st), rq_(std::move(rq)), keep_alive_(keep_alive), started_(Clock::now()) {
    id_ = pick_request_id(rq_.header("x-request-id"));
    const double timeout = st_.config().request_timeout;
    deadline_ = timeout > 0
                    ? started_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout))
                    : Clock::time_point::max();
  }

  const HttpRequest& request() const override { return rq_; }
  const std::string& request_id() const override { return id_; }
  std::string peer_address() const override { return c_->peer; }
  Clock::time_point started() const override { return started_; }
  bool peer_gone() const override { return c_->peer_gone; }
  bool response_started() const override { return status_ != 0; }
  int status() const { return c_->peer_gone && !finished_ ? 499 : status_; }
  bool keep_alive() const { return keep_alive_ && finished_ && !c_->peer_gone && !st_.stopping(); }

  awaitable<> respond(int status, std::string body, std::string_view content_type, Headers extra) override {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    common_headers(res);
    if (!content_type.empty()) res.set(http::field::content_type, std::string(content_type));
    for (auto& [name, value] : extra) res.set(name, value);
    if (st_.config().gzip && body.size() > kGzipMinBytes && accepts_gzip(rq_.header("accept-encoding"))) {
      body = gzip_compress(body);
      res.set(http::field::content_encoding, "gzip");
      res.set(http::field::vary, "Accept-Encoding");
    }
    res.body() = std::move(body);
    res.keep_alive(keep_alive_ && !st_.stopping());
    res.prepare_payload();
    status_ = status;
    error_code ec;
    arm_write_deadline(c_, st_.config().write_timeout);
    co_await http::async_write(c_->stream, res, asio::redirect_error(asio::use_awaitable, ec));
    after_write(ec);
    finished_ = true;
  }

  awaitable<bool> stream_begin(std::string content_type) override {
    http::response<http::empty_body> res{http::status::ok, 11};
    common_headers(res);
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-cache");
    res.set("X-Accel-Buffering", "no");  // proxies: pass events on at once
    res.keep_alive(keep_alive_ && !st_.stopping());
    res.chunked(true);
    status_ = 200;
    http::response_serializer<http::empty_body> sr{res};
    error_code ec;
    arm_write_deadline(c_, st_.config().write_timeout);
    co_await http::async_write_header(c_->stream, sr, asio::redirect_error(asio::use_awaitable, ec));
    after_write(ec);
    co_return !c_->peer_gone;
  }

  awaitable<bool> stream_write(std::string event) override {
    if (c_->peer_gone) co_return false;
    error_code ec;
    const auto chunk = http::make_chunk(asio::buffer(event));
    arm_write_deadline(c_, st_.config().write_timeout);
    co_await asio::async_write(c_->stream, chunk, asio::redirect_error(asio::use_awaitable, ec));
    after_write(ec);
    co_return !c_->peer_gone;
  }

  awaitable<> stream_end() override {
    error_code ec;
    const auto last = http::make_chunk_last();
    arm_write_deadline(c_, st_.config().write_timeout);
    co_await asio::async_write(c_->stream, last, asio::redirect_error(asio::use_awaitable, ec));
    after_write(ec);
    finished_ = true;
  }

  // The engine's thread calls the notify callback: it posts the wake-up to this strand.
  void watch(RequestHandle& handle) override {
    start_peer_watch(c_);
    handle.set_notify([weak = std::weak_ptr<Connection>(c_), strand = c_->stream.get_executor()] {
      asio::post(strand, [weak] {
        if (auto c = weak.lock()) c->wake.cancel();
      });
    });
  }

  // A wake-up posted from the engine's thread runs on this strand, and this coroutine holds the
  // strand from its last handle.next(0ms) until it suspends here, so a wake-up for an event the
  // handler has not read can only run after the wait below has begun: none is lost.
  awaitable<Wake> wait() override {
    if (c_->peer_gone) co_return Wake::PeerGone;
    start_peer_watch(c_);
    c_->wake.expires_at(deadline_);
    error_code ec;
    co_await c_->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (c_->peer_gone) co_return Wake::PeerGone;
    if (!ec && Clock::now() >= deadline_) co_return Wake::Timeout;
    co_return Wake::Event;
  }

 private:
  void after_write(const error_code& ec) {
    disarm_write_deadline(c_);
    if (!ec) return;
    c_->peer_gone = true;
    if (c_->write_timed_out && !reported_timeout_) {
      reported_timeout_ = true;
      st_.metrics().write_timeout();
      spdlog::warn(
          "request_id={} write timeout: the client read nothing for {} s (write_timeout); closing its "
          "connection and cancelling the request",
          id_, st_.config().write_timeout);
    }
  }

  template <typename Message>
  void common_headers(Message& res) {
    res.set(http::field::server, "hayate");
    res.set("x-request-id", id_);
    const std::string origin = rq_.header("origin");
    if (origin.empty()) return;
    for (const std::string& allowed : st_.config().cors_origins) {
      if (allowed == "*" || allowed == origin) {
        res.set(http::field::access_control_allow_origin, allowed == "*" ? "*" : origin);
        res.set(http::field::access_control_expose_headers, "x-request-id, Retry-After");
        res.set(http::field::vary, "Origin");
        return;
      }
    }
  }

  std::shared_ptr<Connection> c_;
  ServerState& st_;
  HttpRequest rq_;
  bool keep_alive_;
  Clock::time_point started_, deadline_;
  std::string id_;
  int status_ = 0;
  bool finished_ = false;
  bool reported_timeout_ = false;
};

HttpRequest to_request(http::request<http::string_body>&& m) {
  HttpRequest rq;
  rq.method = std::string(m.method_string());
  const std::string target(m.target().data(), m.target().size());
  const size_t q = target.find('?');
  rq.path = target.substr(0, q);
  if (q != std::string::npos) rq.query = target.substr(q + 1);
  for (const auto& field : m) rq.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  rq.body = std::move(m.body());
  return rq;
}

// An error answered before the request was read whole (413, a malformed request), after which
// the connection closes. The unread rest of the request is read and dropped for a moment first:
// closing with unread bytes makes the kernel send a reset that can destroy the response.
awaitable<> respond_and_close(const std::shared_ptr<Connection>& c, int status, const std::string& body,
                              double write_timeout) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "hayate");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(false);
  res.body() = body;
  res.prepare_payload();
  error_code ec;
  arm_write_deadline(c, write_timeout);
  co_await http::async_write(c->stream, res, asio::redirect_error(asio::use_awaitable, ec));
  disarm_write_deadline(c);
  c->socket().shutdown(tcp::socket::shutdown_send, ec);
  asio::steady_timer linger(c->stream.get_executor());
  linger.expires_after(std::chrono::seconds(2));
  linger.async_wait([c](error_code e) {
    if (!e) c->socket().close(e);
  });
  std::array<char, 16384> scratch;
  size_t dropped = 0;
  while (!ec && dropped < (64u << 20)) {
    dropped += co_await c->socket().async_read_some(asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
  }
  linger.cancel();
}

void log_request(const ConnectionExchange& ex, ServerState& st, const std::string& route) {
  const double seconds = seconds_since(ex.started());
  const int status = ex.status();
  st.metrics().request_done(route, status, seconds);
  const auto ms = static_cast<int64_t>(seconds * 1000);
  const HttpRequest& rq = ex.request();
  // The timing split: to the first token (queue and prompt), then generating; -1 without tokens.
  const bool generated = ex.first_token != Clock::time_point{};
  const int64_t first_ms =
      generated ? std::chrono::duration_cast<std::chrono::milliseconds>(ex.first_token - ex.started()).count() : -1;
  const int64_t generation_ms = generated ? ms - first_ms : -1;
  spdlog::info(
      "request_id={} method={} path={} status={} duration_ms={} first_token_ms={} generation_ms={} prompt_tokens={} "
      "completion_tokens={} peer={}{}",
      ex.request_id(), rq.method, rq.path, status, ms, first_ms, generation_ms, ex.prompt_tokens, ex.completion_tokens,
      ex.peer_address(), ex.log_fields);
  if (rq.path != "/metrics" && rq.path != "/v1/requests/recent")  // the dashboard's own polling
    st.recent().add({0, ex.request_id(), rq.method, rq.path, status, ms, ex.prompt_tokens, ex.completion_tokens});
  if (seconds * 1000 > st.config().slow_request_ms)  // unrounded: a sub-millisecond request is over 0
    spdlog::warn("slow request: request_id={} path={} duration_ms={} over slow_request_ms={}", ex.request_id(), rq.path,
                 ms, st.config().slow_request_ms);
}

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  return "";
}

const char* ConnectionSet::add(const std::shared_ptr<Connection>& c, const std::string& ip, int64_t max_total,
                               int64_t max_per_ip) {
  std::lock_guard lk(mu_);
  if (static_cast<int64_t>(open_.size()) >= max_total) return "connections";
  int64_t& from_ip = per_ip_[ip];
  if (from_ip >= max_per_ip) {
    if (from_ip == 0) per_ip_.erase(ip);
    return "connections_per_ip";
  }
  ++from_ip;
  open_[c.get()] = {c, ip};
  return nullptr;
}

void ConnectionSet::remove(Connection* c) {
  std::lock_guard lk(mu_);
  const auto it = open_.find(c);
  if (it == open_.end()) return;
  if (const auto ip = per_ip_.find(it->second.ip); ip != per_ip_.end() && --ip->second <= 0) per_ip_.erase(ip);
  open_.erase(it);
}

size_t ConnectionSet::size() const {
  std::lock_guard lk(mu_);
  return open_.size();
}

void ConnectionSet::close_idle() {
  std::lock_guard lk(mu_);
  for (const auto& [raw, entry] : open_) {
    if (auto c = entry.connection.lock())
      asio::post(c->stream.get_executor(), [c] {
        error_code ec;
        if (!c->busy) c->socket().close(ec);
      });
  }
}

namespace {

// Refuses a request (or a connection) that hit a limit: the metric, a warning naming the client,
// the error JSON, then the connection closes.
awaitable<> refuse(const std::shared_ptr<Connection>& c, ServerState& st, const char* limit, int status,
                   const std::string& message, const std::string& code) {
  st.metrics().limit_hit(limit);
  spdlog::warn("peer={} refused ({}): {}", c->peer, limit, message);
  const api::ApiError e(status, message, status >= 500 ? "server_error" : "invalid_request_error", "", code);
  co_await respond_and_close(c, status, api::error_json(e), st.config().write_timeout);
}

}  // namespace

awaitable<> serve_connection(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, ServerState& st,
                             ConnectionSet& connections) {
  auto c = std::make_shared<Connection>(tls ? Transport(std::move(socket), std::move(tls))
                                            : Transport(std::move(socket)));
  error_code ec;
  c->socket().set_option(tcp::no_delay(true), ec);  // events leave as soon as they are written
  if (const int64_t bytes = st.config().send_buffer_bytes; bytes > 0)
    c->socket().set_option(asio::socket_base::send_buffer_size(static_cast<int>(bytes)), ec);
  const auto remote = c->socket().remote_endpoint(ec);
  const std::string ip = ec ? "unknown" : remote.address().to_string();
  c->peer = ec ? "unknown" : ip + ":" + std::to_string(remote.port());
  const ServerConfig& cfg = st.config();
  if (c->stream.is_tls()) {
    // Before anything can be said to the client, refusals included. A client that never finishes
    // the handshake is a slow-loris like one that trickles headers: the same deadline.
    arm_read_deadline(c, cfg.header_timeout);
    co_await c->stream.tls().async_handshake(asio::ssl::stream_base::server,
                                             asio::redirect_error(asio::use_awaitable, ec));
    disarm_read_deadline(c);
    if (ec) {
      if (c->read_timed_out) st.metrics().limit_hit("tls_handshake_timeout");
      spdlog::info("peer={}: TLS handshake failed: {}", c->peer,
                   c->read_timed_out ? "not finished within header_timeout" : ec.message());
      c->stream.close();
      co_return;
    }
  }
  if (const char* over = connections.add(c, ip, cfg.max_connections, cfg.max_connections_per_ip)) {
    // Named locals, not temporaries inside the co_await: GCC's coroutines destroyed the strings
    // of a conditional expression there twice (a double free seen under this very refusal).
    const bool total = std::string_view(over) == "connections";
    std::string message, code;
    if (total) {
      message = "The server has " + std::to_string(cfg.max_connections) +
                " connections open, its limit (max_connections); retry later";
      code = "too_many_connections";
    } else {
      message = "Your address has " + std::to_string(cfg.max_connections_per_ip) +
                " connections open, the limit per client (max_connections_per_ip); reuse them (keep-alive) or "
                "close some";
      code = "too_many_connections_per_ip";
    }
    co_await refuse(c, st, over, total ? 503 : 429, message, code);
    co_return;
  }
  struct Unregister {
    ConnectionSet& set;
    Connection* c;
    ~Unregister() { set.remove(c); }
  } unregister{connections, c.get()};

  while (!st.stopping()) {
    // Waiting for a request: idle_timeout, then the connection closes without a word.
    if (c->buffer.size() == 0) {
      arm_read_deadline(c, cfg.idle_timeout);
      if (c->stream.is_tls()) {
        // Bytes may already sit in the TLS layer's buffers (a request sent right behind the
        // handshake), where a wait on the socket would not see them: read instead.
        const size_t n = co_await c->stream.async_read_some(c->buffer.prepare(4096),
                                                             asio::redirect_error(asio::use_awaitable, ec));
        c->buffer.commit(n);
      } else {  // no buffer held by an idle plain connection
        co_await c->socket().async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      }
      disarm_read_deadline(c);
      if (ec || st.stopping()) break;
    }
    http::request_parser<http::string_body> parser;
    parser.body_limit(static_cast<uint64_t>(cfg.max_body_bytes));
    parser.header_limit(static_cast<uint32_t>(cfg.max_header_bytes));
    arm_read_deadline(c, cfg.header_timeout);
    co_await http::async_read_header(c->stream, c->buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    disarm_read_deadline(c);
    c->busy = !ec;  // from here on, shutdown lets the request finish
    if (!ec) {
      const auto& head = parser.get();
      const auto fields = static_cast<int64_t>(std::distance(head.begin(), head.end()));
      if (fields > cfg.max_header_count) {
        co_await refuse(c, st, "header_count", 431,
                        "The request has " + std::to_string(fields) + " header fields, over this server's limit of " +
                            std::to_string(cfg.max_header_count) + " (max_header_count)",
                        "request_header_fields_too_large");
        break;
      }
      if (const std::string why = framing_error(head); !why.empty()) {
        co_await refuse(c, st, "bad_framing", 400, why, "bad_framing");
        break;
      }
    }
    if (!ec && !parser.is_done()) {
      arm_read_deadline(c, cfg.body_timeout);
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(c->stream, asio::buffer(kContinue), asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!ec) co_await http::async_read(c->stream, c->buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      disarm_read_deadline(c);
      if (ec && c->read_timed_out) {
        co_await refuse(c, st, "body_timeout", 408,
                        "The request body did not arrive within " + fmt_seconds(cfg.body_timeout) + " s (body_timeout)",
                        "request_timeout");
        break;
      }
    } else if (ec && c->read_timed_out) {
      co_await refuse(
          c, st, "header_timeout", 408,
          "The request headers did not arrive within " + fmt_seconds(cfg.header_timeout) + " s (header_timeout)",
          "request_timeout");
      break;
    }
    if (ec == http::error::body_limit) {
      const api::ApiError e(413,
                            "The request body is over this server's limit of " + std::to_string(cfg.max_body_bytes) +
                                " bytes (max_body_bytes)",
                            "invalid_request_error", "", "request_too_large");
      const std::string body = api::error_json(e);
      co_await respond_and_close(c, 413, body, cfg.write_timeout);
      break;
    }
    if (ec == http::error::header_limit) {
      co_await refuse(c, st, "header_bytes", 431,
                      "The request headers are over this server's limit of " + std::to_string(cfg.max_header_bytes) +
                          " bytes (max_header_bytes)",
                      "request_header_fields_too_large");
      break;
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::bad_descriptor)
      break;
    if (ec == http::error::bad_content_length || ec == http::error::bad_transfer_encoding ||
        ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) {
      co_await refuse(c, st, "bad_framing", 400, "Malformed HTTP request framing: " + ec.message(), "bad_framing");
      break;
    }
    if (ec) {
      const api::ApiError e(400, "Malformed HTTP request: " + ec.message(), "invalid_request_error");
      const std::string body = api::error_json(e);
      co_await respond_and_close(c, 400, body, cfg.write_timeout);
      break;
    }
    if (beast::websocket::is_upgrade(parser.get()) && parser.get().target().substr(0, 6) == "/v1/ws" &&
        (parser.get().target().size() == 6 || parser.get().target()[6] == '?')) {
      bool authed = false;
      std::string key;
      if (auto refused = check_upgrade(parser.get(), st, authed, key)) {
        ConnectionExchange ex(c, st, to_request(parser.release()), false);
        co_await respond_error(ex, *refused);
        log_request(ex, st, "/v1/ws");
        break;
      }
      c->busy = false;  // between generations shutdown may close it
      co_await serve_websocket(c->stream, parser.release(), st, c->busy, authed, std::move(key));
      break;
    }
    const bool keep_alive = parser.get().keep_alive();
    ConnectionExchange ex(c, st, to_request(parser.release()), keep_alive);
    co_await dispatch(ex, st);
    co_await stop_peer_watch(c);
    c->busy = false;
    log_request(ex, st, route_name(ex.request().path));
    if (!ex.keep_alive()) break;
  }
  c->stream.close();
}

}  // namespace hayate::server
