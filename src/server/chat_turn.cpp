#include "server/chat_turn.h"

#include "server/routes.h"

namespace hayate::server {

using nlohmann::json;

namespace {

constexpr const char* kKept[] = {"model", "temperature", "top_p", "max_tokens", "seed", "response_format", "stop"};

}  // namespace

json start_settings(const json& m) {
  json settings = json::object();
  for (const char* name : kKept)
    if (m.contains(name) && !m[name].is_null()) settings[name] = m[name];
  return settings;
}

ChatTurn prepare_chat_turn(ServerState& st, const session::ConversationInfo& conv, const json& m) {
  session::ConversationStore& store = st.conversations();
  // keep: regenerate and edit-and-resend drop the messages from that index on first.
  if (m.contains("keep")) {
    if (!m["keep"].is_number_integer() || m["keep"].get<int64_t>() < 0)
      throw api::ApiError(400, "'keep' must be a non-negative integer (messages kept before this turn)");
    store.truncate(conv.id, m["keep"].get<int64_t>());
  }
  if (m.contains("content") && m["content"].is_string() && !m["content"].get<std::string>().empty())
    store.append(conv.id, "user", m["content"].get<std::string>());
  std::vector<session::Message> history = store.messages(conv.id);
  if (history.empty() || history.back().role != "user")
    throw api::ApiError(400, "Nothing to answer: the conversation does not end with a user message");

  ChatTurn turn;
  const auto limit = static_cast<size_t>(st.config().conversation_max_messages);
  turn.dropped = limit > 0 && history.size() > limit ? history.size() - limit : 0;
  json messages = json::array();
  if (!conv.system_prompt.empty()) messages.push_back({{"role", "system"}, {"content", conv.system_prompt}});
  for (size_t i = turn.dropped; i < history.size(); ++i)
    messages.push_back({{"role", history[i].role}, {"content", history[i].content}});

  json& body = turn.request;
  body = {{"messages", messages}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  json settings = json::parse(conv.settings, nullptr, false);
  if (!settings.is_object()) settings = json::object();
  // The model a turn names becomes the conversation's, stored before the answer starts: the page's
  // picker sends it with the turn, and a reload or another server continues with that model
  // (a PATCH from the picker could still be in flight when the answer ends).
  if (m.contains("model") && m["model"].is_string() && settings.value("model", json()) != m["model"]) {
    settings["model"] = m["model"];
    session::ConversationUpdate u;
    u.settings = settings.dump();
    store.update(conv.id, u);
  }
  const auto take = [&](const char* name) {
    if (m.contains(name))
      body[name] = m[name];
    else if (settings.contains(name))
      body[name] = settings[name];
  };
  for (const char* name : kKept) take(name);
  take("rag");
  if (!body.contains("temperature") && st.config().chat_default_temperature >= 0)
    body["temperature"] = st.config().chat_default_temperature;
  if (!body.contains("max_tokens") && st.config().chat_default_max_tokens > 0)
    body["max_tokens"] = st.config().chat_default_max_tokens;
  return turn;
}

}  // namespace hayate::server
