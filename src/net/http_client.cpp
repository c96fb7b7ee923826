#include "net/http_client.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <cerrno>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "core/error.h"

namespace hayate::net {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

// One timer for a whole request that runs `expire` (which cancels the connection's operations)
// when it fires. (The stream's own per-operation timeouts would arm a timer for every read of
// every streamed token.) Its state is shared with the timer's handler, which may run after the
// request has ended.
class Deadline {
 public:
  Deadline(const asio::any_io_executor& ex, Clock::time_point when, std::function<void()> expire) : timer_(ex) {
    if (when == Clock::time_point::max()) return;
    state_ = std::make_shared<State>(State{std::move(expire)});
    timer_.expires_at(when);
    timer_.async_wait([state = state_](error_code ec) {
      if (ec || !state->expire) return;
      state->expired = true;
      state->expire();
    });
  }
  ~Deadline() {
    if (!state_) return;
    state_->expire = nullptr;
    timer_.cancel();
  }
  bool expired() const { return state_ && state_->expired; }

 private:
  struct State {
    std::function<void()> expire;
    bool expired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

// The ways a server ends a connection under a client: a close, a reset, a write into a closed one.
bool closed_under_us(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == asio::error::not_connected;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

Connection::Connection(asio::any_io_executor ex, Endpoint endpoint, ConnectionOptions options)
    : executor_(std::move(ex)), endpoint_(std::move(endpoint)), options_(std::move(options)) {}

void Connection::cancel() {
  cancelled_ = true;
  if (stream_) stream_->lower().cancel();
}

void Connection::close() {
  if (stream_) stream_->close();
  buffer_.clear();
  open_ = false;
}

// Without waiting: a kept-alive connection is fit for the next request while the server has
// neither closed it nor sent anything unasked.
bool Connection::still_usable() {
  if (buffer_.size() > 0 || !stream_ || stream_->has_buffered_input()) return false;
  char byte;
  const ssize_t n = ::recv(stream_->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

namespace {

std::shared_ptr<asio::ssl::context> make_client_tls(const ConnectionOptions& options, const std::string& url) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  error_code ec;
  ctx->set_default_verify_paths(ec);
  if (!options.ca_file.empty()) ctx->load_verify_file(options.ca_file, ec);
  if (ec) fail(ErrorKind::BadInput, url + ": cannot read the CA file '" + options.ca_file + "': " + ec.message());
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

// One context per CA file for the whole process, while any connection holds it: loading the
// system's trust store costs milliseconds, and a gateway opens connections to its upstreams all
// the time. OpenSSL lets many threads make sessions from one context.
std::shared_ptr<asio::ssl::context> shared_client_tls(const ConnectionOptions& options, const std::string& url) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<asio::ssl::context>> contexts;
  const std::lock_guard lock(mutex);
  std::weak_ptr<asio::ssl::context>& slot = contexts[options.ca_file];
  if (auto ctx = slot.lock()) return ctx;
  auto ctx = make_client_tls(options, url);
  slot = ctx;
  return ctx;
}

}  // namespace

awaitable<error_code> Connection::connect() {
  error_code ec;
  if (endpoint_.url.tls) {
    if (!tls_) tls_ = shared_client_tls(options_, endpoint_.url.text);
    stream_.emplace(beast::tcp_stream(executor_), tls_);
  } else {
    stream_.emplace(beast::tcp_stream(executor_));
  }
  co_await stream_->lower().async_connect(endpoint_.addresses, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;
  ++connects_;
  stream_->socket().set_option(tcp::no_delay(true), ec);
  if (stream_->is_tls()) {
    // The name the certificate must carry (an IP address is checked as one), and SNI for a name.
    const std::string& host = endpoint_.url.host;
    auto& tls = stream_->tls();
    tls.set_verify_callback(asio::ssl::host_name_verification(host));
    asio::ip::make_address(host, ec);
    if (ec) SSL_set_tlsext_host_name(tls.native_handle(), host.c_str());
    ec = {};
    co_await tls.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      stream_->close();
      co_return ec;
    }
  }
  buffer_.clear();
  open_ = true;
  co_return error_code{};
}

awaitable<Response> Connection::request(Request req, Clock::time_point deadline, ResponseHandlers handlers) {
  const http::verb verb = http::string_to_verb(req.method);
  if (verb == http::verb::unknown) fail(ErrorKind::BadInput, "HTTP method '" + req.method + "' is not one Beast knows");
  http::request<http::string_body> q{verb, endpoint_.url.base + req.path, 11};
  q.set(http::field::host, endpoint_.url.authority());
  for (const auto& [name, value] : req.headers) q.set(name, value);
  q.body() = std::move(req.body);
  q.prepare_payload();

  Response res;
  const Deadline timer(executor_, deadline, [this] {
    if (stream_) stream_->lower().cancel();
  });
  // A failure at `stage`: the deadline's and cancel()'s aborts first. (A deadline that fires
  // between two operations cancels nothing, so each operation checks for it before it starts.)
  auto failed = [&](const char* stage, const error_code& ec, Failure otherwise) {
    Failure f = otherwise;
    std::string why = ec ? ec.message() : "stopped";
    if (cancelled_) {
      f = Failure::Cancelled;
      why = "cancelled";
    } else if (timer.expired()) {
      f = Failure::Timeout;
      why = "the deadline passed";
    } else if (ec && otherwise != Failure::Connect && closed_under_us(ec)) {
      f = Failure::Closed;
    }
    res.failure = f;
    res.error = std::string(stage) + ": " + why;
    close();
    return std::move(res);
  };
  auto interrupted = [&] { return cancelled_ || timer.expired(); };

  std::optional<http::response_parser<http::string_body>> parser;
  for (int attempt = 0;; ++attempt) {
    if (interrupted()) co_return failed("sending the request", {}, Failure::Cancelled);
    const bool recover = options_.reconnect && options_.reopen_stale;
    if (open_ && attempt == 0 && recover && !still_usable()) close();
    const bool reused = open_;
    const bool may_resend = reused && attempt == 0 && recover;
    error_code ec;
    if (!open_) {
      if (connects_ > 0 && !options_.reconnect) {
        res.failure = Failure::Closed;
        res.error = "sending the request: the connection was closed, and this client does not reconnect";
        co_return res;
      }
      ec = co_await connect();
      if (ec) co_return failed("connect", ec, Failure::Connect);
    }
    co_await http::async_write(*stream_, q, asio::redirect_error(asio::use_awaitable, ec));
    if (ec && may_resend && !interrupted()) {
      close();
      continue;
    }
    if (ec) co_return failed("sending the request", ec, Failure::Closed);
    parser.emplace();
    // A handler sees a body of any length. (Not boost::none: Boost 1.74 compares a Content-Length
    // with an empty limit as "exceeded".)
    parser->body_limit(handlers.on_body ? std::numeric_limits<std::uint64_t>::max() : options_.body_limit);
    if (verb == http::verb::head) parser->skip(true);
    if (interrupted()) co_return failed("reading the response header", {}, Failure::Cancelled);
    co_await http::async_read_header(*stream_, buffer_, *parser, asio::redirect_error(asio::use_awaitable, ec));
    const bool nothing_arrived = !parser->got_some() && buffer_.size() == 0;
    if (ec && may_resend && nothing_arrived && closed_under_us(ec) && !interrupted()) {
      close();
      continue;
    }
    if (ec) co_return failed("reading the response header", ec, Failure::Protocol);
    break;
  }

  const auto& head = parser->get();
  res.status = static_cast<int>(head.result_int());
  res.keep_alive = head.keep_alive();
  for (const auto& field : head)
    res.headers.emplace_back(lower(std::string(field.name_string())), std::string(field.value()));
  if (handlers.on_head) handlers.on_head(res);
  while (!parser->is_done()) {
    if (interrupted()) co_return failed("reading the body", {}, Failure::Cancelled);
    error_code ec;
    co_await http::async_read_some(*stream_, buffer_, *parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return failed("reading the body", ec, Failure::Protocol);
    std::string& piece = parser->get().body();
    if (!handlers.on_body || piece.empty()) continue;
    const bool go_on = handlers.on_body(piece);
    piece.clear();
    if (!go_on) {
      res.failure = Failure::Stopped;
      res.error = "reading the body: the body handler stopped";
      close();
      co_return res;
    }
  }
  if (!handlers.on_body) res.body = std::move(parser->get().body());
  if (!res.keep_alive) close();
  co_return res;
}

}  // namespace hayate::net
