// The tests' HTTP/1.1 client: a thin layer over net's blocking client (whole requests, streamed
// response bodies read as they arrive, a timeout so that a server that never answers fails the
// test instead of hanging it), and raw bytes for malformed requests.
//
// It never opens a second connection nor sends a request again: a test sees what the server
// does with its connection (keep-alive kept, idle connections closed).
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "net/blocking_client.h"

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
  // Over TLS when `ca_file` names the PEM file of the CA (or the self-signed certificate) that the
  // server's certificate must chain to.
  HttpClient(const std::string& host, int port, std::chrono::seconds timeout = std::chrono::seconds(60),
             const std::string& ca_file = "")
      : client_(net::resolve(net::parse_url((ca_file.empty() ? "http://" : "https://") + host + ":" +
                                            std::to_string(port))),
                options(timeout, ca_file)) {}

  // One request and its whole response (on this connection, which stays open when the server
  // keeps it alive).
  HttpResponse request(const std::string& method, const std::string& target, const std::string& body = "",
                       const HeaderList& headers = {}) {
    return convert(client_.request({method, target, headers, body}));
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
    return convert(client_.start({"POST", target, h, body}));
  }
  std::string read_more() { return client_.next(); }
  bool stream_done() const { return client_.done(); }

  // Bytes as they are on a connection of their own, then the response (for requests Beast would
  // refuse to write).
  HttpResponse raw(const std::string& bytes) {
    namespace http = boost::beast::http;
    boost::asio::io_context ioc;
    tcp::socket socket(ioc);
    boost::asio::connect(socket, client_.endpoint().addresses);
    boost::asio::write(socket, boost::asio::buffer(bytes));
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    http::read(socket, buffer, parser);
    HttpResponse r;
    r.status = static_cast<int>(parser.get().result_int());
    for (const auto& field : parser.get())
      r.headers[lower(std::string(field.name_string()))] = std::string(field.value());
    r.body = parser.get().body();
    return r;
  }

  void close() { client_.close(); }
  int64_t connects() const { return client_.connects(); }  // connections opened (keep-alive: 1)

 private:
  static net::ClientOptions options(std::chrono::seconds timeout, const std::string& ca_file) {
    net::ClientOptions o;
    o.timeout = timeout;
    o.connection.ca_file = ca_file;
    o.connection.reconnect = false;
    o.connection.body_limit = 1ull << 30;
    return o;
  }
  static std::string lower(std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
  }
  static HttpResponse convert(const net::Response& m) {
    HttpResponse r;
    r.status = m.status;
    for (const auto& [name, value] : m.headers) r.headers[name] = value;
    r.body = m.body;
    return r;
  }

  net::Client client_;
};

// One request on a fresh connection (over TLS when `ca_file` is given, as HttpClient).
inline HttpResponse http_get(int port, const std::string& target, const HeaderList& headers = {},
                             const std::string& ca_file = "") {
  return HttpClient("127.0.0.1", port, std::chrono::seconds(60), ca_file).get(target, headers);
}
inline HttpResponse http_post(int port, const std::string& target, const std::string& body,
                              const HeaderList& headers = {}) {
  return HttpClient("127.0.0.1", port).post(target, body, headers);
}

}  // namespace hayate::test
