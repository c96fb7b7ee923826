// The HTTP side of `hayate bench serve`: one streamed OpenAI-style request on an Asio coroutine,
// timed as the client sees it (time to the first content token, the gap before each later one,
// the whole request), with the token counts the server reports in its usage chunk. Everything
// runs on one io_context thread; no thread per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/http_client.h"

namespace hayate::bench {

// A server under test: where it is (its URL's base with a trailing /v1 dropped, its addresses
// looked up once) and the API key its requests carry.
struct Endpoint {
  net::Endpoint at;
  std::string api_key;
  const std::string& url() const { return at.url.text; }  // as given
};
// Throws Error: Unsupported for https, BadInput for a malformed URL or a host that does not resolve.
Endpoint parse_endpoint(const std::string& url);

// A kept-alive connection to one endpoint, reused by consecutive requests and reopened (the
// request sent again) when the server has closed it in between.
using Connection = net::Connection;

enum class Outcome { Ok, Http4xx, Http429, Http5xx, Timeout, Connect, Protocol, Cancelled };
const char* outcome_name(Outcome o);  // "ok", "http_4xx", ... as the results JSON names them

struct RequestResult {
  Outcome outcome = Outcome::Ok;
  double start_s = 0;  // since the run started
  double end_s = 0;
  std::optional<double> ttft_ms;  // to the first non-empty content delta
  double e2e_ms = 0;
  std::vector<double> itl_ms;     // gaps between successive content deltas
  int64_t prompt_tokens = 0;      // from usage
  int64_t completion_tokens = 0;  // from usage; else the number of content deltas
  bool usage_seen = false;
  int64_t content_events = 0;
  std::map<std::string, double> stage_ms;  // the answer's "timings" object (RAG: embed_ms, search_ms, ...)
  std::string text;                        // the generated text (chat history needs it)
  std::string error;                       // what went wrong, for the first errors shown to the user
};

struct StreamRequest {
  std::string path;  // "/v1/chat/completions", "/v1/completions" or "/v1/embeddings"
  std::string body;  // the JSON body, stream fields included
  bool chat = true;  // where the text is: choices[0].delta.content or choices[0].text
  // The client hangs up after this many content events (a user who stops reading); the request
  // counts as cancelled, not failed. 0: read to the end.
  int64_t cancel_after = 0;
  bool stream = true;  // false: a plain JSON answer (embeddings), ok on 200 with usage read from it
};

// Sends the request on `conn` (an open connection of `ep`, or one it opens) and reads the
// streamed answer to its end. Never throws for network or protocol failures: they become the outcome.
// `deadline` bounds the whole request (Timeout); `epoch` is the run's start (for start_s/end_s).
awaitable<RequestResult> stream_once(Connection& conn, const Endpoint& ep, const StreamRequest& req,
                                     std::chrono::steady_clock::time_point epoch,
                                     std::chrono::steady_clock::duration timeout);

// A plain GET (for /metrics and /v1/models): the body on status 200, else nullopt.
awaitable<std::optional<std::string>> http_get(Connection& conn, const Endpoint& ep, const std::string& path,
                                               std::chrono::steady_clock::duration timeout);
// A plain JSON POST without streaming: status and body (status 0 when there was no answer).
awaitable<std::pair<int, std::string>> http_post(Connection& conn, const Endpoint& ep, const std::string& path,
                                                 const std::string& body, std::chrono::steady_clock::duration timeout);

}  // namespace hayate::bench
