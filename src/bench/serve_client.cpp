#include "bench/serve_client.h"

#include <nlohmann/json.hpp>

#include "api/openai.h"
#include "core/error.h"

namespace hayate::bench {

using Clock = std::chrono::steady_clock;

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
double s_since(Clock::time_point epoch, Clock::time_point t) {
  return std::chrono::duration<double>(t - epoch).count();
}

net::Request make_request(const Endpoint& ep, const std::string& path, std::string body) {
  net::Request q{body.empty() ? "GET" : "POST", path, {{"User-Agent", "hayate-bench"}}, std::move(body)};
  if (!ep.api_key.empty()) q.headers.emplace_back("Authorization", "Bearer " + ep.api_key);
  if (!q.body.empty()) q.headers.emplace_back("Content-Type", "application/json");
  return q;
}

Outcome classify_status(int status) {
  if (status == 429) return Outcome::Http429;
  if (status >= 500) return Outcome::Http5xx;
  return Outcome::Http4xx;
}

// A request the client could not finish: what the results call it.
Outcome classify_failure(net::Failure f) {
  switch (f) {
    case net::Failure::Connect:
      return Outcome::Connect;
    case net::Failure::Timeout:
      return Outcome::Timeout;
    case net::Failure::Cancelled:
      return Outcome::Cancelled;
    default:
      return Outcome::Protocol;
  }
}

// The fields of one streamed chunk that the benchmark needs, read without building a JSON tree
// (a DOM per token costs more than everything else the client does).
struct ChunkFields {
  bool has_error = false;
  std::optional<std::string> text;                          // choices[0].delta.content (chat) or choices[0].text
  std::optional<int64_t> prompt_tokens, completion_tokens;  // usage.*
  std::vector<std::pair<std::string, double>> timings;      // timings.* (RAG's stages, ms)
};

class ChunkReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  ChunkReader(bool chat, ChunkFields& out) : chat_(chat), out_(out) {}

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t v) override { return count(v); }
  bool number_unsigned(number_unsigned_t v) override { return count(static_cast<int64_t>(v)); }
  bool number_float(number_float_t v, const string_t&) override {
    if (!value_starts()) return false;
    timing(static_cast<double>(v));
    return true;
  }
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
  void timing(double v) {
    if (stack_.size() == 2 && stack_[0].key == "timings" && !stack_[1].array)
      out_.timings.emplace_back(stack_[1].key, v);
  }
  bool count(int64_t v) {
    if (!value_starts()) return false;
    timing(static_cast<double>(v));
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

Endpoint parse_endpoint(const std::string& url) { return Endpoint{net::resolve(net::parse_api_url(url)), {}}; }

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

awaitable<RequestResult> stream_once(Connection& conn, const Endpoint& ep, const StreamRequest& req,
                                     Clock::time_point epoch, Clock::duration timeout) {
  RequestResult r;
  const Clock::time_point start = Clock::now();
  r.start_s = s_since(epoch, start);
  int status = 0;
  std::string problem;  // why a stream was refused, when it was
  api::SseParser sse;
  std::optional<Clock::time_point> last_token;
  bool hung_up = false;  // a planned cancellation (req.cancel_after)
  // The events of each piece as it arrives: the time of a token is when its bytes came in.
  auto take = [&](std::string_view piece) {
    const Clock::time_point now = Clock::now();
    try {
      sse.feed(piece);
    } catch (const Error& e) {
      problem = e.what();
      return false;
    }
    for (const std::string& event : sse.take_events()) {
      ChunkFields f;
      if (!read_chunk(event, req.chat, f)) {
        problem = "an SSE event that is not a JSON object: " + event.substr(0, 100);
        return false;
      }
      if (f.has_error) {
        problem = "the server sent an error event: " + event.substr(0, 300);
        return false;
      }
      for (auto& [stage, ms] : f.timings) r.stage_ms[stage] = ms;
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
      if (req.cancel_after > 0 && r.content_events >= req.cancel_after) {
        hung_up = true;  // the reader stops here, as a client that closes its tab
        return false;
      }
    }
    return true;
  };
  std::string error_body;  // the start of an error answer, for the message
  std::string whole;       // the answer of a request that is not streamed
  net::ResponseHandlers h;
  h.on_head = [&](const net::Response& head) { status = head.status; };
  h.on_body = [&](std::string_view piece) {
    if (status == 200 && !req.stream) {
      whole += piece;
      return true;
    }
    if (status == 200) return take(piece);
    error_body.append(piece.substr(0, 300 - std::min<size_t>(300, error_body.size())));
    return true;
  };
  net::Request q = make_request(ep, req.path, req.body);
  const net::Response res = co_await conn.request(std::move(q), start + timeout, std::move(h));

  Outcome outcome = Outcome::Ok;
  if (res.failure == net::Failure::Stopped && hung_up) {
    outcome = Outcome::Cancelled;
  } else if (res.failure == net::Failure::Stopped) {
    outcome = Outcome::Protocol;
  } else if (!res.ok()) {
    outcome = classify_failure(res.failure);
    problem = res.error;
  } else if (status != 200) {
    outcome = classify_status(status);
    problem = "HTTP " + std::to_string(status) + ": " + error_body;
  } else if (!req.stream) {
    const nlohmann::json j = nlohmann::json::parse(whole, nullptr, false);
    if (!j.is_object() || !j.contains("usage") || !j["usage"].is_object()) {
      outcome = Outcome::Protocol;
      problem = "an answer without usage: " + whole.substr(0, 200);
    } else {
      r.prompt_tokens = j["usage"].value("prompt_tokens", int64_t{0});
      r.usage_seen = true;
    }
  } else {
    try {
      sse.finish();
      if (!sse.done()) problem = "the stream ended without data: [DONE]";
    } catch (const Error& e) {
      problem = e.what();
    }
    if (!problem.empty()) outcome = Outcome::Protocol;
  }
  const Clock::time_point end = Clock::now();
  r.outcome = outcome;
  r.error = std::move(problem);
  r.end_s = s_since(epoch, end);
  r.e2e_ms = ms_between(start, end);
  if (!r.usage_seen) r.completion_tokens = r.content_events;
  if (outcome != Outcome::Ok) conn.close();
  co_return r;
}

awaitable<std::pair<int, std::string>> http_post(Connection& conn, const Endpoint& ep, const std::string& path,
                                                 const std::string& body, Clock::duration timeout) {
  net::Request q = make_request(ep, path, body);
  net::Response res = co_await conn.request(std::move(q), Clock::now() + timeout);
  if (!res.ok()) co_return std::pair<int, std::string>{0, res.error};
  co_return std::pair<int, std::string>{res.status, std::move(res.body)};
}

awaitable<std::optional<std::string>> http_get(Connection& conn, const Endpoint& ep, const std::string& path,
                                               Clock::duration timeout) {
  const std::string no_body;
  std::pair<int, std::string> answer = co_await http_post(conn, ep, path, no_body, timeout);
  if (answer.first != 200) co_return std::nullopt;
  co_return std::move(answer.second);
}

}  // namespace hayate::bench
