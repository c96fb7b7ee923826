// One turn of a web chat, prepared the same way whether the page streams it over /v1/ws or, when
// the WebSocket cannot connect, over /v1/chat/completions with SSE: the stored conversation (cut to
// `keep`, the user's message added), limited to the configured number of messages, with the
// conversation's settings, the start message's overrides and the server's chat defaults.
#pragma once

#include <nlohmann/json.hpp>

#include "net/asio.h"
#include "session/conversations.h"

namespace hayate::server {

class Exchange;
class ServerState;

struct ChatTurn {
  nlohmann::json request;  // a /v1/chat/completions body, streaming
  size_t dropped = 0;      // older messages left out by the limit
};

// `start`: the page's start message (content, keep, model, temperature, ..., rag). ApiError 400 for
// a bad `keep` or a conversation that does not end with a user message.
ChatTurn prepare_chat_turn(ServerState& state, const session::ConversationInfo& conv, const nlohmann::json& start);

// The settings of a start message that its conversation keeps: what a conversation begun by it is
// created with, so that a model picked before the first message stays that conversation's (issue
// 16). Not rag, which the page sends per turn.
nlohmann::json start_settings(const nlohmann::json& start);

// POST /v1/conversations/{id}/messages (conversation_routes.cpp): a user turn, answered with the
// chat request the page then streams, or that turn's answer (with its citations) to keep.
awaitable<> handle_conversation_messages(Exchange& ex, ServerState& state);

}  // namespace hayate::server
