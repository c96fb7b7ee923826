#include "bench/serve_client.h"

#include <boost/asio/connect.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <nlohmann/json.hpp>

#include "api/openai.h"
#include "core/error.h"

namespace hayate::bench {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
double s_since(Clock::time_point epoch, Clock::time_point t) {
  return std::chrono::duration<double>(t - epoch).count();
}

http::request<http::string_body> make_request(http::verb verb, const Endpoint& ep, const std::string& path,
                                              std::string body) {
  http::request<http::string_body> q{verb, ep.base + path, 11};
  q.set(http::field::host, ep.host + ":" + ep.port);
  q.set(http::field::user_agent, "hayate-bench");
  if (!ep.api_key.empty()) q.set(http::field::authorization, "Bearer " + ep.api_key);
  if (verb == http::verb::post) {
    q.set(http::field::content_type, "application/json");
    q.body() = std::move(body);
  }
  q.prepare_payload();
  return q;
}

Outcome classify_status(int status) {
  if (status == 429) return Outcome::Http429;
  if (status >= 500) return Outcome::Http5xx;
  return Outcome::Http4xx;
}

// One timer for a whole request that cancels the connection's operations when it expires. (The
// stream's own per-operation timeouts would arm a timer for every read of every token.)
class Deadline {
 public:
  Deadline(Connection& conn, Clock::duration timeout)
      : timer_(conn.stream().get_executor()), state_(std::make_shared<State>(State{&conn})) {
    timer_.expires_after(timeout);
    timer_.async_wait([state = state_](error_code ec) {
      if (ec || !state->conn) return;
      state->expired = true;
      state->conn->stream().cancel();
    });
  }
  ~Deadline() {
    state_->conn = nullptr;  // a handler that already fired must not touch the connection
    timer_.cancel();
  }
  bool expired() const { return state_->expired; }

 private:
  struct State {
    Connection* conn;
    bool expired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

// A failed network operation: what the results call it.
Outcome classify_error(const Connection& conn, const Deadline& deadline, const error_code& ec, bool connecting) {
  if (conn.cancelled) return Outcome::Cancelled;
  if (deadline.expired() || ec == beast::error::timeout) return Outcome::Timeout;
  return connecting ? Outcome::Connect : Outcome::Protocol;
}

awaitable<error_code> connect(Connection& conn, const Endpoint& ep) {
  error_code ec;
  co_await conn.stream().async_connect(ep.resolved, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) {
    conn.stream().socket().set_option(tcp::no_delay(true), ec);
    conn.buffer().clear();
    conn.open = true;
  }
  co_return ec;
}

// Connects when needed and writes the request. A kept-alive connection the server has closed in
// the meantime fails on first use; that case gets one retry on a fresh connection.
awaitable<error_code> send(Connection& conn, const Endpoint& ep, http::request<http::string_body>& q, bool& connecting,
                           const Deadline& deadline) {
  error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = conn.open;
    connecting = !conn.open;
    if (!conn.open) {
      ec = co_await connect(conn, ep);
      if (ec) co_return ec;
    }
    connecting = false;
    co_await http::async_write(conn.stream(), q, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec || !reused || conn.cancelled || deadline.expired()) co_return ec;
    conn.close();
  }
  co_return ec;
}

// The fields of one streamed chunk that the benchmark needs, read without building a JSON tree
// (a DOM per token costs more than everything else the client does).
struct ChunkFields {
  bool has_error = false;
  std::optional<std::string> text;                          // choices[0].delta.content (chat) or choices[0].text
  std::optional<int64_t> prompt_tokens, completion_tokens;  // usage.*
};

class ChunkReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  ChunkReader(bool chat, ChunkFields& out) : chat_(chat), out_(out) {}

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t v) override { return count(v); }
  bool number_unsigned(number_unsigned_t v) override { return count(static_cast<int64_t>(v)); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool string(string_t& v) override {
    if (!value_starts()) return false;
    const size_t d = stack_.size();
    if (d >= 3 && is_first_choice()) {
      if ((chat_ && d == 4 && stack_[2].key == "delta" && stack_[3].key == "content") ||
          (!chat_ && d == 3 && stack_[2].key == "text"))
        out_.text = std::move(v);
    }
    return true;
  }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override {
    if (!value_starts(true)) return false;
    stack_.push_back({false, {}, -1});
    return true;
  }
  bool key(string_t& k) override {
    stack_.back().key = std::move(k);
    if (stack_.size() == 1 && stack_[0].key == "error") out_.has_error = true;
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (!value_starts()) return false;
    stack_.push_back({true, {}, -1});
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  struct Frame {
    bool array;
    std::string key;
    int64_t index;
  };
  // A value begins: the top-level one must be an object; in an array it takes the next index.
  bool value_starts(bool object = false) {
    if (stack_.empty()) {
      if (seen_root_ || !object) return false;
      seen_root_ = true;
      return true;
    }
    if (stack_.back().array) ++stack_.back().index;
    return true;
  }
  bool scalar() { return value_starts(); }
  bool count(int64_t v) {
    if (!value_starts()) return false;
    if (stack_.size() == 2 && stack_[0].key == "usage" && !stack_[1].array) {
      if (stack_[1].key == "prompt_tokens") out_.prompt_tokens = v;
      if (stack_[1].key == "completion_tokens") out_.completion_tokens = v;
    }
    return true;
  }
  bool is_first_choice() const {
    return stack_[0].key == "choices" && stack_[1].array && stack_[1].index == 0 && !stack_[2].array;
  }

  bool chat_;
  ChunkFields& out_;
  std::vector<Frame> stack_;
  bool seen_root_ = false;
};

// False when the event is not a JSON object.
bool read_chunk(const std::string& event, bool chat, ChunkFields& out) {
  ChunkReader reader(chat, out);
  return nlohmann::json::sax_parse(event, &reader);
}

}  // namespace

Endpoint parse_endpoint(const std::string& url) {
  Endpoint ep;
  ep.url = url;
  std::string rest = url;
  if (rest.starts_with("https://"))
    fail(ErrorKind::Unsupported, "--url " + url + ": https is not supported (the client speaks plain HTTP)");
  if (rest.starts_with("http://")) rest = rest.substr(7);
  if (rest.find("://") != std::string::npos) fail(ErrorKind::BadInput, "--url " + url + ": expected http://HOST:PORT");
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) ep.base = rest.substr(slash);
  while (!ep.base.empty() && ep.base.back() == '/') ep.base.pop_back();
  if (ep.base.ends_with("/v1")) ep.base.resize(ep.base.size() - 3);  // the routes add /v1 themselves
  const size_t colon = authority.rfind(':');
  if (colon == std::string::npos || authority.find(']', colon) != std::string::npos) {
    ep.host = authority;
    ep.port = "80";
  } else {
    ep.host = authority.substr(0, colon);
    ep.port = authority.substr(colon + 1);
  }
  if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']')
    ep.host = ep.host.substr(1, ep.host.size() - 2);
  if (ep.host.empty()) fail(ErrorKind::BadInput, "--url " + url + ": no host");
  if (ep.port.empty() || ep.port.find_first_not_of("0123456789") != std::string::npos)
    fail(ErrorKind::BadInput, "--url " + url + ": the port must be a number");
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  error_code ec;
  for (const auto& e : resolver.resolve(ep.host, ep.port, ec)) ep.resolved.push_back(e.endpoint());
  if (ec || ep.resolved.empty())
    fail(ErrorKind::BadInput, "--url " + url + ": cannot resolve host " + ep.host + (ec ? ": " + ec.message() : ""));
  return ep;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Ok:
      return "ok";
    case Outcome::Http4xx:
      return "http_4xx";
    case Outcome::Http429:
      return "http_429";
    case Outcome::Http5xx:
      return "http_5xx";
    case Outcome::Timeout:
      return "timeout";
    case Outcome::Connect:
      return "connect";
    case Outcome::Protocol:
      return "protocol";
    case Outcome::Cancelled:
      return "cancelled";
  }
  return "?";
}

void Connection::cancel() {
  cancelled = true;
  stream_.cancel();
}

void Connection::close() {
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
  buffer_.clear();
  open = false;
}

awaitable<RequestResult> stream_once(Connection& conn, const Endpoint& ep, const StreamRequest& req,
                                     Clock::time_point epoch, Clock::duration timeout) {
  RequestResult r;
  const Clock::time_point start = Clock::now();
  r.start_s = s_since(epoch, start);
  auto finish = [&](Outcome o, std::string why) {
    const Clock::time_point end = Clock::now();
    r.outcome = o;
    r.error = std::move(why);
    r.end_s = s_since(epoch, end);
    r.e2e_ms = ms_between(start, end);
    if (!r.usage_seen) r.completion_tokens = r.content_events;
    if (o != Outcome::Ok) conn.close();
  };
  const Deadline deadline(conn, timeout);
  auto q = make_request(http::verb::post, ep, req.path, req.body);
  bool connecting = false;
  error_code ec = co_await send(conn, ep, q, connecting, deadline);
  if (ec) {
    finish(classify_error(conn, deadline, ec, connecting), (connecting ? "connect: " : "send: ") + ec.message());
    co_return r;
  }
  http::response_parser<http::string_body> parser;
  // Not boost::none: Boost 1.74 compares a Content-Length with an empty limit as "exceeded".
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  co_await http::async_read_header(conn.stream(), conn.buffer(), parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    finish(classify_error(conn, deadline, ec, false), "reading the response header: " + ec.message());
    co_return r;
  }
  const int status = parser.get().result_int();
  if (status != 200) {
    co_await http::async_read(conn.stream(), conn.buffer(), parser, asio::redirect_error(asio::use_awaitable, ec));
    finish(classify_status(status), "HTTP " + std::to_string(status) + ": " + parser.get().body().substr(0, 300));
    co_return r;
  }
  api::SseParser sse;
  std::optional<Clock::time_point> last_token;
  std::string problem;
  while (!parser.is_done()) {
    co_await http::async_read_some(conn.stream(), conn.buffer(), parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      finish(classify_error(conn, deadline, ec, false), "reading the stream: " + ec.message());
      co_return r;
    }
    std::string& body = parser.get().body();
    if (body.empty()) continue;
    const Clock::time_point now = Clock::now();
    try {
      sse.feed(body);
    } catch (const Error& e) {
      finish(Outcome::Protocol, e.what());
      co_return r;
    }
    body.clear();
    for (const std::string& event : sse.take_events()) {
      ChunkFields f;
      if (!read_chunk(event, req.chat, f)) {
        finish(Outcome::Protocol, "an SSE event that is not a JSON object: " + event.substr(0, 100));
        co_return r;
      }
      if (f.has_error) {
        finish(Outcome::Protocol, "the server sent an error event: " + event.substr(0, 300));
        co_return r;
      }
      if (f.prompt_tokens || f.completion_tokens) {
        r.prompt_tokens = f.prompt_tokens.value_or(0);
        r.completion_tokens = f.completion_tokens.value_or(0);
        r.usage_seen = true;
      }
      if (!f.text || f.text->empty()) continue;
      if (!last_token)
        r.ttft_ms = ms_between(start, now);
      else
        r.itl_ms.push_back(ms_between(*last_token, now));
      last_token = now;
      ++r.content_events;
      r.text += *f.text;
    }
  }
  try {
    sse.finish();
  } catch (const Error& e) {
    finish(Outcome::Protocol, e.what());
    co_return r;
  }
  if (!sse.done()) {
    finish(Outcome::Protocol, "the stream ended without data: [DONE]");
    co_return r;
  }
  const bool keep = parser.get().keep_alive();
  finish(Outcome::Ok, "");
  if (!keep) conn.close();
  co_return r;
}

awaitable<std::pair<int, std::string>> http_post(Connection& conn, const Endpoint& ep, const std::string& path,
                                                 const std::string& body, Clock::duration timeout) {
  const Deadline deadline(conn, timeout);
  auto q = make_request(body.empty() ? http::verb::get : http::verb::post, ep, path, body);
  bool connecting = false;
  error_code ec = co_await send(conn, ep, q, connecting, deadline);
  if (ec) co_return std::pair<int, std::string>{0, ec.message()};
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  co_await http::async_read(conn.stream(), conn.buffer(), parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    conn.close();
    co_return std::pair<int, std::string>{0, ec.message()};
  }
  if (!parser.get().keep_alive()) conn.close();
  co_return std::pair<int, std::string>{parser.get().result_int(), std::move(parser.get().body())};
}

awaitable<std::optional<std::string>> http_get(Connection& conn, const Endpoint& ep, const std::string& path,
                                               Clock::duration timeout) {
  const std::string no_body;
  std::pair<int, std::string> answer = co_await http_post(conn, ep, path, no_body, timeout);
  if (answer.first != 200) co_return std::nullopt;
  co_return std::move(answer.second);
}

}  // namespace hayate::bench
