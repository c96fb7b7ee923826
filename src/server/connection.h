// One client connection: a coroutine on the connection's strand reading HTTP/1.1 requests
// (keep-alive) and answering each through dispatch().
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include "net/asio.h"
#include "server/routes.h"

namespace hayate::server {

struct Connection;

// The open connections, so that shutdown can close the idle ones and wait for the others.
class ConnectionSet {
 public:
  void add(const std::shared_ptr<Connection>& c);
  void remove(Connection* c);
  size_t size() const;
  // Closes every connection that is between requests; the busy ones close after their response.
  void close_idle();

 private:
  mutable std::mutex mu_;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> open_;
};

// Serves requests on `socket` (whose executor is a strand) until the client closes, an error, or
// shutdown.
awaitable<> serve_connection(tcp::socket socket, ServerState& state, ConnectionSet& connections);

}  // namespace hayate::server
