#include "server/websocket.h"

#include <spdlog/spdlog.h>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/error.h"
#include "server/chat_turn.h"
#include "session/conversations.h"

namespace hayate::server {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// A client that reads nothing while tokens stream would make the queue grow without end.
constexpr size_t kMaxQueuedBytes = 4u << 20;

std::string query_param(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name && eq != std::string_view::npos) return std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return "";
}

// "http://HOST[:PORT]" -> "HOST[:PORT]".
std::string_view origin_host(std::string_view origin) {
  const size_t scheme = origin.find("://");
  return scheme == std::string_view::npos ? origin : origin.substr(scheme + 3);
}

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

json error_message(const std::string& message, const std::string& code) {
  return {{"type", "error"}, {"message", message}, {"code", code}};
}

class WsSession;

// One start message's chat request, as the chat completions handler sees an HTTP request: its
// SSE chunks become token messages, an error response an error message, and a stop (or the
// socket closing) looks like the peer going away, which cancels the engine's sequence.
class WsExchange final : public Exchange {
 public:
  WsExchange(std::shared_ptr<WsSession> s, HttpRequest rq);
  const HttpRequest& request() const override { return rq_; }
  const std::string& request_id() const override { return id_; }
  std::string peer_address() const override;
  Clock::time_point started() const override { return started_; }
  awaitable<> respond(int status, std::string body, std::string_view, Headers) override;
  awaitable<bool> stream_begin(std::string content_type) override;
  awaitable<bool> stream_write(std::string event) override;
  awaitable<> stream_end() override { co_return; }
  void watch(RequestHandle& handle) override;
  awaitable<Wake> wait() override;
  bool peer_gone() const override;
  bool response_started() const override { return status_ != 0; }

  int status_ = 0;
  std::string text, finish_reason, error, error_kind;
  json usage, citations;  // citations: a RAG answer's sources (the stream's last chunk)

 private:
  std::shared_ptr<WsSession> s_;
  HttpRequest rq_;
  std::string id_ = api::new_request_id("ws-");
  Clock::time_point started_ = Clock::now(), deadline_;
};

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(Transport& socket, ServerState& st, bool& busy, bool authed, std::string key)
      : ws(socket), st(st), wake(socket.get_executor()), busy_(busy), authed_(authed), key_(std::move(key)) {
    error_code ec;
    const auto remote = socket.socket().remote_endpoint(ec);
    peer = ec ? "unknown" : remote.address().to_string() + ":" + std::to_string(remote.port());
  }

  awaitable<> run(UpgradeRequest req) {
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.read_message_max(static_cast<uint64_t>(st.config().ws_max_message_bytes));
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "hayate"); }));
    error_code ec;
    co_await ws.async_accept(req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    if (authed_) send_ready();
    beast::flat_buffer buffer;
    while (!closed) {
      co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == websocket::error::message_too_big)
          spdlog::warn("websocket peer={}: a message over ws_max_message_bytes ({}); closing", peer,
                       st.config().ws_max_message_bytes);
        break;
      }
      std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      on_message(text);
    }
    const bool reader_failed = !closed;
    closed = true;
    wake.cancel();  // a running generation sees the peer gone and cancels its sequence
    asio::steady_timer poll(ws.get_executor());
    while (generating_ || writing_) {  // the writer holds a pointer into the queue
      poll.expires_after(std::chrono::milliseconds(5));
      co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!reader_failed && ws.is_open()) {  // a refused auth: the error went out, now the close
      for (std::string& text : outbox_) {
        ws.text(true);
        co_await ws.async_write(asio::buffer(text), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
      co_await ws.async_close(websocket::close_code::policy_error, asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // Queues a message; one writer coroutine sends the queue in order.
  void send(const json& message) {
    if (closed) return;
    std::string text = message.dump(-1, ' ', false, json::error_handler_t::replace);
    queued_bytes_ += text.size();
    if (queued_bytes_ > kMaxQueuedBytes) {
      spdlog::warn("websocket peer={}: the client reads nothing ({} bytes queued); closing", peer, queued_bytes_);
      close_now();
      return;
    }
    outbox_.push_back(std::move(text));
    if (writing_) return;
    writing_ = true;  // now, not when flush starts: run() must wait for a flush that is only posted
    asio::co_spawn(ws.get_executor(), flush(shared_from_this()), asio::detached);
  }

  bool stopping() const { return closed || stop_; }
  void close_now() {
    closed = true;
    ws.next_layer().close();
    wake.cancel();
  }

  websocket::stream<Transport&> ws;
  ServerState& st;
  asio::steady_timer wake;  // a generation waits on it; engine events, stop and close cancel it
  std::string peer;
  bool closed = false;

 private:
  static awaitable<> flush(std::shared_ptr<WsSession> self) {
    error_code ec;
    while (!self->outbox_.empty() && !self->closed) {
      self->ws.text(true);
      co_await self->ws.async_write(asio::buffer(self->outbox_.front()), asio::redirect_error(asio::use_awaitable, ec));
      self->queued_bytes_ -= self->outbox_.front().size();
      self->outbox_.pop_front();
      if (ec) self->close_now();
    }
    self->writing_ = false;
  }

  void send_ready() {
    const auto svc = st.service();
    send({{"type", "ready"},
          {"model", svc ? svc->model_id() : ""},
          {"max_messages", st.config().conversation_max_messages},
          {"rag", st.collections() != nullptr}});
  }

  void on_message(const std::string& text) {
    json m = json::parse(text, nullptr, false);
    if (m.is_discarded() || !m.is_object() || !m.contains("type") || !m["type"].is_string()) {
      send(error_message("A message must be a JSON object with a string field 'type' (auth, start or stop)",
                         "invalid_message"));
      return;
    }
    const std::string type = m["type"];
    if (!authed_) {
      const std::string key = m.value("key", json("")).is_string() ? m.value("key", std::string()) : "";
      if (type != "auth" || !st.keys().check("Bearer " + key)) {
        send(error_message(type == "auth" ? "Incorrect API key" : "Authenticate first: {\"type\":\"auth\",\"key\":KEY}",
                           "invalid_api_key"));
        closed = true;  // the reader stops; the close frame follows the error
        return;
      }
      authed_ = true;
      key_ = key;
      send_ready();
      return;
    }
    if (type == "stop") {
      stop_ = true;
      wake.cancel();
    } else if (type == "start") {
      if (generating_) {
        send(error_message("A generation is running on this socket; send stop first", "busy"));
        return;
      }
      generating_ = true;
      stop_ = false;
      busy_ = true;
      asio::co_spawn(ws.get_executor(), generate(shared_from_this(), std::move(m)), asio::detached);
    } else if (type == "auth") {
      send(error_message("Already authenticated", "invalid_message"));
    } else {
      send(error_message("Unknown message type '" + type + "'; the types are auth, start and stop", "unknown_type"));
    }
  }

  static awaitable<> generate(std::shared_ptr<WsSession> self, json m) {
    try {
      co_await self->turn(m);
    } catch (const api::ApiError& e) {
      self->send(error_message(e.what(), e.code.empty() ? e.type : e.code));
    } catch (const std::exception& e) {
      self->send(error_message(e.what(), "server_error"));
    }
    self->generating_ = false;
    self->busy_ = false;
  }

  // One turn: the conversation's history (up to conversation_max_messages) with the new message,
  // through the chat handler; the answer (or what was streamed before a stop) is kept.
  awaitable<> turn(const json& m);

  bool& busy_;
  bool authed_, stop_ = false, generating_ = false, writing_ = false;
  std::string key_;
  std::deque<std::string> outbox_;
  size_t queued_bytes_ = 0;

  friend class WsExchange;
};

WsExchange::WsExchange(std::shared_ptr<WsSession> s, HttpRequest rq) : s_(std::move(s)), rq_(std::move(rq)) {
  const double timeout = s_->st.config().request_timeout;
  deadline_ = timeout > 0
                  ? started_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout))
                  : Clock::time_point::max();
}

std::string WsExchange::peer_address() const { return s_->peer; }
bool WsExchange::peer_gone() const { return s_->stopping(); }

awaitable<> WsExchange::respond(int status, std::string body, std::string_view, Headers) {
  status_ = status;
  if (status < 400) co_return;
  const json j = json::parse(body, nullptr, false);
  error = j.is_object() && j.contains("error") ? j["error"].value("message", body) : body;
  error_kind = j.is_object() && j.contains("error") && j["error"]["code"].is_string() ? j["error"]["code"] : "error";
}

awaitable<bool> WsExchange::stream_begin(std::string) {  // the socket has its own framing
  status_ = 200;
  co_return !s_->stopping();
}

awaitable<bool> WsExchange::stream_write(std::string event) {
  if (event.rfind("data: {", 0) == 0) {
    const json chunk = json::parse(std::string_view(event).substr(6), nullptr, false);
    if (chunk.is_object()) {
      if (chunk.contains("usage") && chunk["usage"].is_object()) usage = chunk["usage"];
      if (chunk.contains("citations")) citations = chunk["citations"];
      if (chunk.contains("choices") && chunk["choices"].is_array())
        for (const json& c : chunk["choices"]) {
          const json delta = c.value("delta", json::object());
          if (delta.contains("content") && delta["content"].is_string()) {
            const std::string piece = delta["content"];
            if (!piece.empty()) {
              text += piece;
              s_->send({{"type", "token"}, {"text", piece}});
            }
          }
          if (c.contains("finish_reason") && c["finish_reason"].is_string()) finish_reason = c["finish_reason"];
        }
    }
  }
  co_return !s_->stopping();
}

void WsExchange::watch(RequestHandle& handle) {
  handle.set_notify([weak = std::weak_ptr<WsSession>(s_), strand = s_->ws.get_executor()] {
    asio::post(strand, [weak] {
      if (auto s = weak.lock()) s->wake.cancel();
    });
  });
}

// As the HTTP exchange's: the strand is held from the handler's last handle.next(0ms) until the
// wait begins, so no wake-up is lost.
awaitable<Wake> WsExchange::wait() {
  if (s_->stopping()) co_return Wake::PeerGone;
  s_->wake.expires_at(deadline_);
  error_code ec;
  co_await s_->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (s_->stopping()) co_return Wake::PeerGone;
  if (!ec && Clock::now() >= deadline_) co_return Wake::Timeout;
  co_return Wake::Event;
}

awaitable<> WsSession::turn(const json& m) {
  session::ConversationStore& store = st.conversations();
  const auto text_field = [&](const char* name) {
    return m.contains(name) && m[name].is_string() ? m[name].get<std::string>() : std::string();
  };
  const std::string content = text_field("content");
  std::string id = text_field("conversation_id");
  std::optional<session::ConversationInfo> conv;
  if (id.empty()) {
    if (content.empty()) throw api::ApiError(400, "A start without conversation_id needs a non-empty 'content'");
    std::string title = content.substr(0, 60);
    conv = store.create(title, text_field("system"), start_settings(m).dump());
    id = conv->id;
    send({{"type", "conversation"}, {"id", id}, {"title", title}});
  } else {
    conv = store.get(id);
    if (!conv) throw api::ApiError(404, "No conversation '" + id + "'", "invalid_request_error", "conversation_id");
  }
  ChatTurn turn = prepare_chat_turn(st, *conv, m);
  const size_t dropped = turn.dropped;

  HttpRequest rq;
  rq.method = "POST";
  rq.path = "/v1/chat/completions";
  if (!key_.empty()) rq.headers.emplace_back("authorization", "Bearer " + key_);
  rq.body = turn.request.dump();
  auto self = shared_from_this();
  WsExchange ex(self, std::move(rq));
  send({{"type", "start"}, {"id", ex.request_id()}, {"conversation_id", id}, {"dropped", dropped}});
  co_await dispatch(ex, st);
  const bool stopped = stop_ || closed;
  const int status = stopped && ex.finish_reason.empty() ? 499 : ex.status_;
  st.metrics().request_done("/v1/ws", status, seconds_since(ex.started()));
  st.recent().add({0, ex.request_id(), "WS", "/v1/ws", status, static_cast<int64_t>(seconds_since(ex.started()) * 1000),
                   ex.prompt_tokens, ex.completion_tokens});
  spdlog::info("request_id={} path=/v1/ws status={} duration_ms={} completion_chars={} peer={}", ex.request_id(),
               status, static_cast<int64_t>(seconds_since(ex.started()) * 1000), ex.text.size(), peer);
  if (!ex.error.empty()) {
    send(error_message(ex.error, ex.error_kind));
    co_return;
  }
  // A RAG answer's sources are kept with it, so a reload (or another server) shows them again.
  if (!ex.text.empty()) store.append(id, "assistant", ex.text, ex.citations.is_null() ? "" : ex.citations.dump());
  json done = {{"type", "done"},
               {"conversation_id", id},
               {"finish_reason", ex.finish_reason.empty() ? "stopped" : ex.finish_reason},
               {"usage", ex.usage}};
  if (!ex.citations.is_null()) done["citations"] = ex.citations;
  send(done);
}

}  // namespace

std::optional<api::ApiError> check_upgrade(const UpgradeRequest& req, ServerState& st, bool& authed, std::string& key) {
  const std::string origin(req[beast::http::field::origin]);
  if (!origin.empty() && origin_host(origin) != sv(req[beast::http::field::host])) {
    bool allowed = false;
    for (const std::string& o : st.config().cors_origins) allowed |= o == "*" || o == origin;
    if (!allowed)
      return api::ApiError(
          403,
          "WebSocket from origin '" + origin + "' refused: only the server's own page and cors_origins may connect",
          "invalid_request_error", "", "origin_not_allowed");
  }
  authed = !st.keys().enabled();
  const std::string token = query_param(sv(req.target()), "token");
  if (!authed && !token.empty()) {
    if (!st.keys().check("Bearer " + token))
      return api::ApiError(401, "Incorrect API key in the 'token' query parameter", "invalid_request_error", "",
                           "invalid_api_key");
    authed = true;
    key = token;
  }
  return std::nullopt;
}

awaitable<> serve_websocket(Transport& socket, UpgradeRequest req, ServerState& st, bool& busy, bool authed,
                            std::string key) {
  auto session = std::make_shared<WsSession>(socket, st, busy, authed, std::move(key));
  co_await session->run(std::move(req));
}

awaitable<> handle_ws_plain(Exchange& ex, ServerState&) {
  const api::ApiError e(426, "/v1/ws is a WebSocket: connect with 'Upgrade: websocket' (see docs/websocket.md)",
                        "invalid_request_error", "", "upgrade_required");
  Headers extra;
  extra.emplace_back("Upgrade", "websocket");
  co_await respond_error(ex, e, std::move(extra));
}

}  // namespace hayate::server
