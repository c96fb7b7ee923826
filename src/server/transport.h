// The server's connection stream: plain TCP or TLS (net/tls_stream.h), and what Beast's
// WebSocket stream needs from it, found by argument-dependent lookup. (The HTTP side sends no
// close_notify, see MaybeTls::close; a WebSocket ends with its own close handshake, after which
// its clients expect TLS to end cleanly too.)
#pragma once

#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include "net/tls_stream.h"

namespace hayate::server {

struct Transport : net::MaybeTls<tcp::socket> {
  using MaybeTls::MaybeTls;
};

// A WebSocket operation that timed out closes the stream.
inline void beast_close_socket(Transport& t) { t.close(); }

// After the WebSocket close handshake: plain TCP as Beast does it for a socket (shut our side,
// read to the peer's end); TLS with close_notify both ways first, so that a client's TLS layer
// sees a clean end. The WebSocket stream's timeout bounds a peer that never answers.
inline void teardown(boost::beast::role_type role, Transport& t, boost::system::error_code& ec) {
  if (!t.is_tls()) return boost::beast::websocket::teardown(role, t.socket(), ec);
  t.close();
  ec = {};
}

template <typename Handler>
void async_teardown(boost::beast::role_type role, Transport& t, Handler&& handler) {
  if (!t.is_tls()) return boost::beast::websocket::async_teardown(role, t.socket(), std::forward<Handler>(handler));
  t.tls().async_shutdown([&t, h = std::forward<Handler>(handler)](boost::system::error_code) mutable {
    t.close();
    h(boost::system::error_code{});
  });
}

}  // namespace hayate::server
