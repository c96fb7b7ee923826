// An HTTP/1.1 client on Asio coroutines, for `hayate bench serve`, the tests' load client and the
// coming gateway (net/blocking_client.h is the same client for callers without an io_context).
//
// A Connection is one kept-alive connection to one endpoint, reused by consecutive requests. A
// server may close a kept-alive connection whenever it likes (llama.cpp's server closes it after
// each streamed answer, though its headers say Keep-Alive). Before a request, a connection the
// server has closed (or sent something unasked on, such as a 408 before closing) is replaced by
// a fresh one. When the close comes while the request is on its way (its write fails, or the
// connection ends before any byte of the response), the request is sent once more on a fresh
// connection. It is never sent again once a byte of the response has arrived: the server may
// have acted on it.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/asio.h"  // Asio's coroutines only through here (<utility> first, no frame recycling)
#include "net/tls_stream.h"
#include "net/url.h"

namespace hayate::net {

using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

// Not an aggregate: g++ 12 frees the strings of a braced aggregate temporary twice when it is
// built inside a co_await expression. (In coroutines, build a Request as a named variable.)
struct Request {
  Request() = default;
  Request(std::string method, std::string path, Headers headers = {}, std::string body = {})
      : method(std::move(method)), path(std::move(path)), headers(std::move(headers)), body(std::move(body)) {}

  std::string method = "GET";  // any HTTP method Beast knows ("POST", "OPTIONS", ...)
  std::string path;            // after the URL's base: "/v1/models"
  Headers headers;             // Host and Content-Length are added
  std::string body;
};

// Why an exchange did not end with a whole response.
enum class Failure {
  None,
  Connect,    // no connection could be opened
  Timeout,    // the deadline passed
  Cancelled,  // Connection::cancel()
  Closed,     // the server closed or reset the connection before the response was complete
  Protocol,   // an answer that is not HTTP/1.1, or a body over the limit
  Stopped,    // the body handler asked to stop reading
};

struct Response {
  Failure failure = Failure::None;
  std::string error;  // with a failure, what happened where: "reading the response header: end of stream"
  int status = 0;     // 0 before the status line arrived
  Headers headers;    // names in lower case, in the order received
  bool keep_alive = false;
  std::string body;  // the whole body, unless a body handler took it piece by piece

  bool ok() const { return failure == Failure::None; }
  // The first value of a header (`name` in lower case); empty when absent.
  std::string header(std::string_view name) const;
};

// Optional hooks into a response as it arrives.
struct ResponseHandlers {
  // Once the status line and headers are in (the Response has them, and no body yet).
  std::function<void(const Response&)> on_head;
  // Each piece of the body as it arrives (chunked framing removed), in order; returning false
  // stops reading (Failure::Stopped, the connection is closed). Without it the body is kept whole.
  std::function<bool(std::string_view)> on_body;
};

// Not an aggregate (see Request): callers build it inside co_await expressions, as the
// Connection constructor's default argument.
struct ConnectionOptions {
  ConnectionOptions() {}  // NOLINT: user-provided on purpose
  // Open a new connection when the last one was closed (by either side). Off: the first
  // connection is the only one, and a request after it closed fails with Failure::Closed
  // (for tests that watch what a server does with its connections).
  bool reconnect = true;
  // Replace a stale kept-alive connection, and re-send a request it lost, as described above.
  // Off: a stale connection fails the request with Failure::Closed (for tests of servers).
  bool reopen_stale = true;
  uint64_t body_limit = 64u << 20;  // for bodies kept whole; a body handler sees any length
  // https: a PEM file of CAs trusted besides the system's (OpenSSL's default paths, which honour
  // SSL_CERT_FILE and SSL_CERT_DIR); for a private CA or a self-signed server.
  std::string ca_file;
};

class Connection {
 public:
  Connection(asio::any_io_executor ex, Endpoint endpoint, ConnectionOptions options = {});
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const Endpoint& endpoint() const { return endpoint_; }
  bool is_open() const { return open_; }
  int64_t connects() const { return connects_; }  // connections opened so far (reuse shows as 1)

  // Connects when needed, sends `req` and reads the response to its end or `deadline`, whichever
  // comes first. Never throws for network or protocol failures: they are the Response's failure.
  // One request at a time per Connection.
  awaitable<Response> request(Request req, Clock::time_point deadline, ResponseHandlers handlers);
  // The body kept whole. (Not a default argument: that temporary would live in the caller's
  // co_await expression, which g++ 12 handles badly; see Request.)
  awaitable<Response> request(Request req, Clock::time_point deadline) {
    return request(std::move(req), deadline, ResponseHandlers{});
  }

  // Ends the request in flight, and every later one, with Failure::Cancelled.
  void cancel();
  void close();

 private:
  awaitable<boost::system::error_code> connect();
  bool still_usable();

  using Stream = MaybeTls<boost::beast::tcp_stream>;
  asio::any_io_executor executor_;
  std::shared_ptr<asio::ssl::context> tls_;  // https: made at the first connect
  std::optional<Stream> stream_;             // a fresh one for each connection
  boost::beast::flat_buffer buffer_;
  Endpoint endpoint_;
  ConnectionOptions options_;
  bool open_ = false;
  bool cancelled_ = false;
  int64_t connects_ = 0;
};

}  // namespace hayate::net
