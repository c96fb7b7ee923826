// /v1/conversations: the web chat's conversations (session/conversations.h), for the page's list,
// search, rename, settings and delete; the turns are added over /v1/ws, or over .../messages when
// the page streams with SSE because the WebSocket cannot connect; and the dashboard's request log.
#include <nlohmann/json.hpp>

#include "net/url.h"
#include "server/chat_turn.h"
#include "server/routes.h"

namespace hayate::server {
namespace {

using nlohmann::json;

json info_json(const session::ConversationInfo& c) {
  json settings = json::parse(c.settings, nullptr, false);
  return {{"id", c.id},
          {"object", "conversation"},
          {"title", c.title},
          {"system_prompt", c.system_prompt},
          {"settings", settings.is_discarded() ? json::object() : settings},
          {"created", c.created},
          {"updated", c.updated},
          {"message_count", c.messages}};
}

std::string query_value(const std::string& query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    const size_t amp = std::min(query.find('&', pos), query.size());
    const std::string_view pair(query.data() + pos, amp - pos);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name)
      return net::percent_decoded(pair.substr(eq + 1), true);
    pos = amp + 1;
  }
  return "";
}

json parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw api::ApiError(400, "The body must be a JSON object");
  return j;
}

// A string field, or nullopt when absent; ApiError 400 naming it when it is not a string.
std::optional<std::string> string_field(const json& j, const char* name) {
  if (!j.contains(name)) return std::nullopt;
  if (!j[name].is_string())
    throw api::ApiError(400, std::string("'") + name + "' must be a string", "invalid_request_error", name);
  return j[name].get<std::string>();
}

std::optional<std::string> settings_field(const json& j) {
  if (!j.contains("settings")) return std::nullopt;
  if (!j["settings"].is_object())
    throw api::ApiError(400, "'settings' must be a JSON object", "invalid_request_error", "settings");
  return j["settings"].dump();
}

std::string conversation_id(const Exchange& ex) {
  return ex.request().path.substr(std::string_view("/v1/conversations/").size());
}

}  // namespace

awaitable<> handle_conversations(Exchange& ex, ServerState& st) {
  session::ConversationStore& store = st.conversations();
  if (ex.request().method == "POST") {
    const json j = parse_object(ex.request().body);
    const auto c = store.create(string_field(j, "title").value_or("New chat"),
                                string_field(j, "system_prompt").value_or(""), settings_field(j).value_or("{}"));
    co_await ex.respond(200, info_json(c).dump());
    co_return;
  }
  const std::string limit_text = query_value(ex.request().query, "limit");
  int64_t limit = 100;
  if (!limit_text.empty()) {
    char* end = nullptr;
    limit = std::strtoll(limit_text.c_str(), &end, 10);
    if (*end != '\0' || limit < 1 || limit > 10000)
      throw api::ApiError(400, "'limit' must be an integer from 1 to 10000", "invalid_request_error", "limit");
  }
  json data = json::array();
  for (const auto& c : store.list(query_value(ex.request().query, "q"), limit)) data.push_back(info_json(c));
  std::string body = json({{"object", "list"}, {"data", data}}).dump();
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_conversation(Exchange& ex, ServerState& st) {
  session::ConversationStore& store = st.conversations();
  const std::string id = conversation_id(ex);
  const auto not_found = [&] {
    return api::ApiError(404, "No conversation '" + id + "'", "invalid_request_error", "", "not_found");
  };
  const std::string& method = ex.request().method;
  if (method == "DELETE") {
    if (!store.remove(id)) throw not_found();
    std::string body = json({{"id", id}, {"object", "conversation.deleted"}, {"deleted", true}}).dump();
    co_await ex.respond(200, std::move(body));
    co_return;
  }
  if (method == "PATCH") {
    const json j = parse_object(ex.request().body);
    session::ConversationUpdate u{string_field(j, "title"), string_field(j, "system_prompt"), settings_field(j)};
    if (!store.update(id, u)) throw not_found();
  }
  const auto c = store.get(id);
  if (!c) throw not_found();
  json out = info_json(*c);
  out["messages"] = json::array();
  for (const auto& m : store.messages(id)) {
    json message = {{"role", m.role}, {"content", m.content}, {"created", m.created}};
    if (json c = json::parse(m.citations, nullptr, false); !m.citations.empty() && !c.is_discarded())
      message["citations"] = std::move(c);
    out["messages"].push_back(std::move(message));
  }
  co_await ex.respond(200, out.dump());
}

awaitable<> handle_conversation_messages(Exchange& ex, ServerState& st) {
  session::ConversationStore& store = st.conversations();
  std::string id = conversation_id(ex);
  id.resize(id.size() - std::string_view("/messages").size());
  const json j = parse_object(ex.request().body);
  const auto conv = store.get(id);
  if (!conv) throw api::ApiError(404, "No conversation '" + id + "'", "invalid_request_error", "", "not_found");
  const std::string role = string_field(j, "role").value_or("");
  if (role == "user") {
    // The page sends the returned request to /v1/chat/completions and streams the answer itself.
    const ChatTurn turn = prepare_chat_turn(st, *conv, j);
    std::string body = json({{"conversation_id", id}, {"dropped", turn.dropped}, {"request", turn.request}}).dump();
    co_await ex.respond(200, std::move(body));
    co_return;
  }
  if (role != "assistant")
    throw api::ApiError(400, "'role' must be \"user\" (a turn to answer) or \"assistant\" (its answer)",
                        "invalid_request_error", "role");
  const std::string content = string_field(j, "content").value_or("");
  if (content.empty())
    throw api::ApiError(400, "'content' must be a non-empty string", "invalid_request_error", "content");
  std::string citations;
  if (j.contains("citations")) {
    if (!j["citations"].is_array())
      throw api::ApiError(400, "'citations' must be an array", "invalid_request_error", "citations");
    citations = j["citations"].dump();
  }
  store.append(id, "assistant", content, citations);
  const auto after = store.get(id);
  if (!after) throw api::ApiError(404, "No conversation '" + id + "'", "invalid_request_error", "", "not_found");
  co_await ex.respond(200, info_json(*after).dump());
}

awaitable<> handle_recent_requests(Exchange& ex, ServerState& st) {
  json data = json::array();
  for (const RecentRequest& r : st.recent().newest_first())
    data.push_back({{"time", r.time},
                    {"id", r.id},
                    {"method", r.method},
                    {"path", r.path},
                    {"status", r.status},
                    {"duration_ms", r.duration_ms},
                    {"prompt_tokens", r.prompt_tokens},
                    {"completion_tokens", r.completion_tokens}});
  std::string body = json({{"object", "list"}, {"data", data}}).dump();
  co_await ex.respond(200, std::move(body));
}

}  // namespace hayate::server
