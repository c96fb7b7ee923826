// One HTTP request and its response, as the route handlers see it: no Beast types, so that the
// handlers compile without the HTTP machinery. The connection (connection.cpp) implements it.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/request.h"
#include "net/asio.h"

namespace hayate::server {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without its query string
  std::string query;   // what follows '?' in the target (undecoded); empty when none
  Headers headers;
  std::string body;

  // The first value of a header (name compared case-insensitively); empty when absent.
  std::string header(std::string_view name) const;
};

// Why wait() returned.
enum class Wake { Event, PeerGone, Timeout };

class Exchange {
 public:
  virtual ~Exchange() = default;

  virtual const HttpRequest& request() const = 0;
  virtual const std::string& request_id() const = 0;
  virtual std::string peer_address() const = 0;
  // When the request arrived; its deadline is this plus the request timeout.
  virtual std::chrono::steady_clock::time_point started() const = 0;

  // A whole response. CORS, x-request-id and (for bodies over 1 KiB, when the client accepts it
  // and the server allows it) gzip are added here.
  virtual awaitable<> respond(int status, std::string body, std::string_view content_type = "application/json",
                              Headers extra = {}) = 0;

  // A server-sent event stream over chunked transfer encoding: the header, then each event as
  // soon as it is written. Both return false once the peer has gone. Ollama's API streams
  // NDJSON ("application/x-ndjson") the same way.
  virtual awaitable<bool> stream_begin(std::string content_type = "text/event-stream") = 0;
  virtual awaitable<bool> stream_write(std::string event) = 0;
  virtual awaitable<> stream_end() = 0;

  // Engine events without blocking an I/O thread: watch() makes each new event of the handle
  // (a generation's or an embedding's) wake this exchange; wait() suspends until one may be
  // waiting (read them with handle.next(0ms)), the client disconnects, or the request's deadline
  // passes. Watching also reads the socket, so that a client who closes the connection is
  // noticed while it waits.
  virtual void watch(RequestHandle& handle) = 0;
  virtual awaitable<Wake> wait() = 0;
  virtual bool peer_gone() const = 0;
  virtual bool response_started() const = 0;

  // What the handler learned, for the log line and the metrics.
  int32_t prompt_tokens = 0, completion_tokens = 0;
  std::string log_fields;  // more " key=value" pairs for the log line (a RAG request's stage times)
  std::string model;
  // A non-streamed task's inner exchange (tasks.cpp): its engine requests go through the
  // micro-batcher.
  bool micro_batch = false;
  // When the first generated token reached the handler (epoch: none): splits the request's time
  // into waiting plus prompt, and generation.
  std::chrono::steady_clock::time_point first_token{};
};

}  // namespace hayate::server
