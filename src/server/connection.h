// One client connection: a coroutine on the connection's strand reading HTTP/1.1 requests
// (keep-alive) and answering each through dispatch().
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/ssl/context.hpp>

#include "net/asio.h"
#include "server/routes.h"

namespace hayate::server {

struct Connection;

// The open connections, so that shutdown can close the idle ones and wait for the others.
class ConnectionSet {
 public:
  // Counts the connection, and its address's; the limit it is over ("connections" or
  // "connections_per_ip", then it is not counted) or nullptr.
  const char* add(const std::shared_ptr<Connection>& c, const std::string& ip, int64_t max_total, int64_t max_per_ip);
  void remove(Connection* c);
  size_t size() const;
  // Closes every connection that is between requests; the busy ones close after their response.
  void close_idle();

 private:
  mutable std::mutex mu_;
  struct Open {
    std::weak_ptr<Connection> connection;
    std::string ip;
  };
  std::unordered_map<Connection*, Open> open_;
  std::unordered_map<std::string, int64_t> per_ip_;
};

// Serves requests on `socket` (whose executor is a strand) until the client closes, an error, or
// shutdown; over TLS with `tls` when it is set.
awaitable<> serve_connection(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, ServerState& state,
                             ConnectionSet& connections);

}  // namespace hayate::server
