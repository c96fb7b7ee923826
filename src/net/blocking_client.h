// The HTTP client of net/http_client.h for callers without an io_context (`hayate eval --url`,
// the tests): each call runs the coroutine client on a private io_context until it has what the
// call returns. Same kept-alive connection, same re-send of a request the server closed under.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "net/http_client.h"

namespace hayate::net {

struct ClientOptions {
  ConnectionOptions connection;
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};  // for each request, all of it
};

class Client {
 public:
  explicit Client(Endpoint endpoint, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Endpoint& endpoint() const { return conn_.endpoint(); }
  int64_t connects() const { return conn_.connects(); }

  // One request and its whole response. A failure (no connection, a timeout, a server that
  // closed or spoke no HTTP) throws Error naming the URL: BadInput for an answer that is not
  // HTTP, NotFound for the others. An HTTP error status is a response like any other.
  Response request(Request req);

  // A streamed response: start() sends the request and returns the response's head; next()
  // waits for more of the body and returns it, "" once the body is complete. Failures throw as
  // in request(). A request or start() before the stream is done abandons it (and its connection).
  Response start(Request req);
  std::string next();
  bool done() const;

  void close();

 private:
  struct Exchange;
  Exchange& begin(Request req, bool streamed);
  template <typename Ready>
  void run_until(const Ready& ready);
  void throw_if_failed() const;
  void abandon();

  asio::io_context ioc_;
  Connection conn_;
  ClientOptions options_;
  std::unique_ptr<Exchange> exchange_;
};

}  // namespace hayate::net
