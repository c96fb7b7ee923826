// A small blocking HTTP/1.1 client for tests, on Boost.Beast: whole requests, streamed response
// bodies (read as they arrive), raw bytes for malformed requests, and a receive timeout so that a
// server that never answers fails the test instead of hanging it.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

// clang-format off
#include <utility>  // before Asio (see STACK.md)
// clang-format on

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace hayate::test {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // as sent (still gzip-encoded when it was)

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  HttpClient(const std::string& host, int port, std::chrono::seconds timeout = std::chrono::seconds(60))
      : socket_(ioc_) {
    boost::asio::ip::tcp::resolver resolver(ioc_);
    boost::asio::connect(socket_, resolver.resolve(host, std::to_string(port)));
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    host_ = host + ":" + std::to_string(port);
  }

  // One request and its whole response (on this connection, which stays open when the server
  // keeps it alive).
  HttpResponse request(const std::string& method, const std::string& target, const std::string& body = "",
                       const HeaderList& headers = {}) {
    send(method, target, body, headers);
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 30);
    http::read(socket_, buffer_, parser);
    return convert(parser.get());
  }

  HttpResponse get(const std::string& target, const HeaderList& headers = {}) {
    return request("GET", target, "", headers);
  }
  HttpResponse post(const std::string& target, const std::string& body, const HeaderList& headers = {}) {
    HeaderList h = headers;
    h.emplace_back("Content-Type", "application/json");
    return request("POST", target, body, h);
  }

  // A streamed response: start_stream sends the request and reads the header; read_more returns
  // the body bytes that have arrived since the last call (empty once the response is complete).
  HttpResponse start_stream(const std::string& target, const std::string& body, const HeaderList& headers = {}) {
    HeaderList h = headers;
    h.emplace_back("Content-Type", "application/json");
    send("POST", target, body, h);
    stream_ = std::make_unique<Parser>();
    stream_->body_limit(1ull << 30);
    consumed_ = 0;
    boost::beast::http::read_header(socket_, buffer_, *stream_);
    return convert(stream_->get());
  }
  std::string read_more() {
    while (!stream_->is_done() && stream_->get().body().size() == consumed_)
      boost::beast::http::read_some(socket_, buffer_, *stream_);
    std::string out = stream_->get().body().substr(consumed_);
    consumed_ = stream_->get().body().size();
    return out;
  }
  bool stream_done() const { return stream_->is_done() && stream_->get().body().size() == consumed_; }

  // Bytes as they are, then the response (for requests Beast would refuse to write).
  HttpResponse raw(const std::string& bytes) {
    boost::asio::write(socket_, boost::asio::buffer(bytes));
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    http::read(socket_, buffer_, parser);
    return convert(parser.get());
  }

  void close() {
    boost::system::error_code ec;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  using Parser = boost::beast::http::response_parser<boost::beast::http::string_body>;

  void send(const std::string& method, const std::string& target, const std::string& body, const HeaderList& headers) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_);
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    http::write(socket_, req);
  }

  template <typename Message>
  static HttpResponse convert(const Message& m) {
    HttpResponse r;
    r.status = static_cast<int>(m.result_int());
    for (const auto& field : m) {
      std::string name(field.name_string());
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers[name] = std::string(field.value());
    }
    r.body = m.body();
    return r;
  }

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string host_;
  std::unique_ptr<Parser> stream_;
  size_t consumed_ = 0;
};

// One request on a fresh connection.
inline HttpResponse http_get(int port, const std::string& target, const HeaderList& headers = {}) {
  return HttpClient("127.0.0.1", port).get(target, headers);
}
inline HttpResponse http_post(int port, const std::string& target, const std::string& body,
                              const HeaderList& headers = {}) {
  return HttpClient("127.0.0.1", port).post(target, body, headers);
}

}  // namespace hayate::test
