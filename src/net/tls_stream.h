// A connection's byte stream: plain TCP, or TLS over it (issue 22). The HTTP code of the server
// and of the client is written once against this class, which Beast and Asio accept as a stream
// (async_read_some / async_write_some / get_executor); plain or TLS is chosen per connection.
// `Lower` is tcp::socket (the server) or beast::tcp_stream (the client, which connects through it).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <memory>
#include <optional>
#include <type_traits>

#include "net/asio.h"

namespace hayate::net {

template <typename Lower>
class MaybeTls {
 public:
  using executor_type = typename Lower::executor_type;
  using error_code = boost::system::error_code;

  // Plain TCP.
  explicit MaybeTls(Lower lower) : plain_(std::move(lower)) {}
  // TLS over `lower` with `context` (shared: the server swaps its context on a certificate reload
  // while open connections keep the one they began with). A handshake must come first.
  MaybeTls(Lower lower, std::shared_ptr<asio::ssl::context> context)
      : context_(std::move(context)), tls_(std::in_place, std::move(lower), *context_) {}

  executor_type get_executor() { return lower().get_executor(); }
  Lower& lower() { return tls_ ? tls_->next_layer() : *plain_; }
  tcp::socket& socket() {
    if constexpr (std::is_same_v<Lower, tcp::socket>)
      return lower();
    else
      return lower().socket();
  }
  bool is_tls() const { return tls_.has_value(); }
  asio::ssl::stream<Lower>& tls() { return *tls_; }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, size_t)>(
        [this](auto handler, const Buffers& b) {
          if (tls_)
            tls_->async_read_some(b, std::move(handler));
          else
            plain_->async_read_some(b, std::move(handler));
        },
        token, buffers);
  }

  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, size_t)>(
        [this](auto handler, const Buffers& b) {
          if (tls_)
            tls_->async_write_some(b, std::move(handler));
          else
            plain_->async_write_some(b, std::move(handler));
        },
        token, buffers);
  }

  // Bytes the TLS library has decrypted but nobody has read yet: they are not in the socket, so
  // a wait for the socket to be readable would not see them.
  bool has_buffered_input() { return tls_ && SSL_pending(tls_->native_handle()) > 0; }

  // Ends the connection. No TLS close_notify: HTTP responses are framed (Content-Length or
  // chunked), so a cut stream cannot pass for a whole one, and waiting for the peer's
  // close_notify would let it hold the connection.
  void close() {
    error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

 private:
  std::shared_ptr<asio::ssl::context> context_;
  std::optional<Lower> plain_;
  std::optional<asio::ssl::stream<Lower>> tls_;
};

}  // namespace hayate::net
