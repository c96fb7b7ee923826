// Chat over WebSocket (issue 16; protocol in docs/websocket.md): GET /v1/ws upgrades, the client
// sends start/stop, the server answers start, token, done or error. A start runs through the same
// /v1/chat/completions handler as HTTP (keys, rate limits, sampling, metrics), its SSE chunks
// turned into token messages, and the turn is kept in the conversation store.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>

#include "net/asio.h"
#include "server/routes.h"
#include "server/transport.h"

namespace hayate::server {

using UpgradeRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Why an upgrade is refused before the handshake (403 for a foreign origin, 401 for a wrong
// query token), or nullopt. `authed` says whether the query token already authenticated the
// socket (or no key is needed).
std::optional<api::ApiError> check_upgrade(const UpgradeRequest& req, ServerState& st, bool& authed, std::string& key);

// Serves one WebSocket on `socket` (after check_upgrade let it through) until either side closes
// it. `busy` is the connection's flag that keeps shutdown from closing it while a generation runs.
awaitable<> serve_websocket(Transport& socket, UpgradeRequest req, ServerState& st, bool& busy, bool authed,
                            std::string key);

// GET /v1/ws without an Upgrade header: 426 saying how to connect.
awaitable<> handle_ws_plain(Exchange& ex, ServerState& st);

}  // namespace hayate::server
