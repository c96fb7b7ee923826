// The security suite (issue 22) against the real `hayate serve`: hostile HTTP heads (too many or
// too large headers, request smuggling), slow-loris clients trickling a head or a body, too many
// connections, and hostile JSON bodies, each refused with its 4xx, a message naming the limit and,
// for the limits against hostile clients, the metric hayate_limit_hits_total{limit=...}. The cases
// are tables: a new attack is one more row.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/server_harness.h"
#include "support/tls.h"

namespace hayate::test {
namespace {

using nlohmann::json;

const std::string kKey = "sk-security-0123456789";
const HeaderList kAuth = {{"Authorization", "Bearer " + kKey}};

ServerProcess* server = nullptr;

class ServerSecurity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server = new ServerProcess({"--max-header-bytes", "4096", "--max-header-count", "20", "--header-timeout", "0.5",
                                "--body-timeout", "0.5", "--max-body-bytes", "65536"},
                               {{"HAYATE_API_KEYS", kKey}});
  }
  static void TearDownTestSuite() {
    if (!server) return;
    EXPECT_EQ(server->stop(), 0);
    delete server;
    server = nullptr;
  }
};

int connect_to(int port) {
  const int fd = connect_loopback(port);
  const timeval tv{30, 0};  // a server that never answers fails the test instead of hanging it
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Everything the server sends until it closes (or 30 s of silence).
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Sends `parts` one after another, `pause_ms` apart (a write the server refused, having closed,
// ends the sending), then reads the answer until the server closes; over TLS when `tls`.
std::string exchange(int port, const std::vector<std::string>& parts, int pause_ms = 0, bool tls = false) {
  auto pause = [&](size_t i) {
    if (i > 0 && pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  };
  if (tls) {
    RawTls conn(port);
    for (size_t i = 0; i < parts.size(); ++i) {
      pause(i);
      if (!conn.send(parts[i])) break;
    }
    return conn.read_all();
  }
  const int fd = connect_to(port);
  if (fd < 0) return "connect failed";
  for (size_t i = 0; i < parts.size(); ++i) {
    pause(i);
    if (::send(fd, parts[i].data(), parts[i].size(), MSG_NOSIGNAL) < 0) break;
  }
  std::string answer = read_all(fd);
  ::close(fd);
  return answer;
}

int status_of(const std::string& answer) {
  return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(answer.c_str() + 9) : -1;
}

std::string body_of(const std::string& answer) {
  const size_t at = answer.find("\r\n\r\n");
  return at == std::string::npos ? "" : answer.substr(at + 4);
}

double limit_hits(const ServerProcess& s, const std::string& limit) {
  const auto m = s.metrics();
  const auto it = m.find("hayate_limit_hits_total{limit=\"" + limit + "\"}");
  return it == m.end() ? 0 : it->second;
}

std::string head(const std::string& extra) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kKey + "\r\n" + extra;
}

struct HeadCase {
  const char* name;
  std::string bytes;
  int status;
  const char* message;  // a part of error.message
  const char* limit;    // the metric's label
};

// Hostile heads (request smuggling among them), refused on a plain or a TLS server alike.
void check_hostile_heads(ServerProcess& server, bool tls) {
  std::string many_fields, big_field;
  for (int i = 0; i < 25; ++i) many_fields += "X-Field-" + std::to_string(i) + ": v\r\n";
  big_field = "X-Big: " + std::string(5000, 'a') + "\r\n";
  const std::string body = R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":1})";
  const std::string len = std::to_string(body.size());
  const std::vector<HeadCase> cases = {
      {"too many header fields", head(many_fields + "\r\n"), 431, "max_header_count", "header_count"},
      {"header over the size limit", head(big_field + "\r\n"), 431, "max_header_bytes", "header_bytes"},
      {"Content-Length and Transfer-Encoding",
       head("Content-Length: " + len + "\r\nTransfer-Encoding: chunked\r\n\r\n") + body, 400, "Transfer-Encoding",
       "bad_framing"},
      {"Transfer-Encoding then Content-Length",
       head("Transfer-Encoding: chunked\r\nContent-Length: " + len + "\r\n\r\n") + body, 400, "", "bad_framing"},
      {"two equal Content-Lengths", head("Content-Length: " + len + "\r\nContent-Length: " + len + "\r\n\r\n") + body,
       400, "Content-Length", "bad_framing"},
      {"two different Content-Lengths", head("Content-Length: " + len + "\r\nContent-Length: 5\r\n\r\n") + body, 400,
       "", "bad_framing"},
      {"a transfer coding other than chunked", head("Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 400,
       "Transfer-Encoding", "bad_framing"},
      {"Transfer-Encoding twice", head("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
       400, "Transfer-Encoding", "bad_framing"},
  };
  for (const HeadCase& c : cases) {
    SCOPED_TRACE(c.name);
    const double before = limit_hits(server, c.limit);
    const std::string answer = exchange(server.port(), {c.bytes}, 0, tls);
    EXPECT_EQ(status_of(answer), c.status) << answer;
    const json j = json::parse(body_of(answer), nullptr, false);
    ASSERT_TRUE(j.contains("error")) << answer;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.message), std::string::npos) << answer;
    EXPECT_EQ(limit_hits(server, c.limit), before + 1);
  }
  // The limits refuse only what is over them.
  EXPECT_EQ(status_of(exchange(server.port(),
                               {head("Content-Length: " + len + "\r\nConnection: close\r\n\r\n") + body}, 0, tls)),
            200);
}

TEST_F(ServerSecurity, HostileHeads) { check_hostile_heads(*server, false); }

// A client trickling its request (slow-loris) is answered 408 once header_timeout (or
// body_timeout) has passed, not served nor kept forever.
void check_slow_clients(ServerProcess& server, bool tls) {
  struct SlowCase {
    const char* name;
    std::vector<std::string> parts;
    int pause_ms;
    const char* message;
    const char* limit;
  };
  std::vector<std::string> trickle;
  for (char ch : head("X-Slow: 1\r\n")) trickle.emplace_back(1, ch);
  const std::vector<SlowCase> cases = {
      {"a head that stops half way", {head("X-Half: ")}, 0, "header_timeout", "header_timeout"},
      {"a head sent a byte at a time", trickle, 20, "header_timeout", "header_timeout"},
      {"a body that stops half way",
       {head("Content-Length: 100\r\n\r\n{\"messages\":")},
       0,
       "body_timeout",
       "body_timeout"},
  };
  for (const SlowCase& c : cases) {
    SCOPED_TRACE(c.name);
    const double before = limit_hits(server, c.limit);
    const std::string answer = exchange(server.port(), c.parts, c.pause_ms, tls);
    EXPECT_EQ(status_of(answer), 408) << answer;
    EXPECT_NE(body_of(answer).find(c.message), std::string::npos) << answer;
    EXPECT_EQ(limit_hits(server, c.limit), before + 1);
  }
}

TEST_F(ServerSecurity, SlowClients) { check_slow_clients(*server, false); }

// Hostile JSON bodies: each refused with 400, a message naming what was wrong and, where one
// field is at fault, that field as `param`.
TEST_F(ServerSecurity, HostileBodies) {
  struct BodyCase {
    const char* name;
    const char* path;
    std::string body;
    const char* message;
    const char* param;  // "" for null
  };
  const json hi = json::array({{{"role", "user"}, {"content", "hi"}}});
  auto chat = [&](const json& extra) {
    json b = {{"messages", hi}, {"max_tokens", 2}};
    b.update(extra);
    return b.dump();
  };
  json stops = json::array();
  for (int i = 0; i < 1000; ++i) stops.push_back(std::string("s").append(std::to_string(i)));  // g++ 12: no -Wrestrict
  const std::string deep = "{\"messages\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  const std::string deep_object = R"({"messages":[{"role":"user","content":"hi"}],"x":)" + [] {
    std::string t;
    for (int i = 0; i < 3000; ++i) t += "{\"a\":";
    return t + "1" + std::string(3000, '}');
  }() + "}";
  const std::vector<BodyCase> cases = {
      {"arrays nested 5,000 deep", "/v1/chat/completions", deep, "levels deep", ""},
      {"objects nested 3,000 deep", "/v1/chat/completions", deep_object, "levels deep", ""},
      {"n huge", "/v1/chat/completions", chat({{"n", 100000}}), "'n'", "n"},
      {"stop with 1,000 entries", "/v1/chat/completions", chat({{"stop", stops}}), "'stop'", "stop"},
      {"top_logprobs 1,000", "/v1/chat/completions", chat({{"logprobs", true}, {"top_logprobs", 1000}}),
       "'top_logprobs'", "top_logprobs"},
      {"max_tokens huge", "/v1/chat/completions", chat({{"max_tokens", 1000000000000}}), "'max_tokens'", "max_tokens"},
      {"invalid UTF-8 in model", "/v1/chat/completions",
       "{\"model\":\"\xff\xfe\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "not valid UTF-8", ""},
      {"overlong UTF-8 in role", "/v1/chat/completions", "{\"messages\":[{\"role\":\"\xc0\xaf\",\"content\":\"hi\"}]}",
       "not valid UTF-8", ""},
      {"a surrogate in stop", "/v1/chat/completions",
       "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"\xed\xa0\x80\"]}", "not valid UTF-8", ""},
      {"a 5-byte sequence in user", "/v1/chat/completions",
       "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"user\":\"\xf8\x88\x80\x80\x80\"}", "not valid UTF-8",
       ""},
      {"invalid UTF-8 in a completion prompt", "/v1/completions", "{\"prompt\":\"\xff\",\"max_tokens\":2}",
       "not valid UTF-8", ""},
      {"invalid UTF-8 in an embedding input", "/v1/embeddings", "{\"input\":\"\xff\"}", "not valid UTF-8", ""},
  };
  for (const BodyCase& c : cases) {
    SCOPED_TRACE(c.name);
    const HttpResponse r = http_post(server->port(), c.path, c.body, kAuth);
    EXPECT_EQ(r.status, 400) << r.body;
    const json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.message), std::string::npos) << r.body;
    if (*c.param) {
      EXPECT_EQ(j["error"]["param"], c.param) << r.body;
    } else {
      EXPECT_TRUE(j["error"]["param"].is_null()) << r.body;
    }
  }
}

// With keys set, every route but /health and /metrics answers 401 without a key or with a wrong
// one, before looking at the request.
TEST_F(ServerSecurity, EveryRouteNeedsTheKey) {
  const std::vector<std::pair<std::string, std::string>> routes = {{"POST", "/v1/chat/completions"},
                                                                   {"POST", "/v1/completions"},
                                                                   {"POST", "/v1/embeddings"},
                                                                   {"POST", "/v1/compress"},
                                                                   {"POST", "/v1/decompress"},
                                                                   {"POST", "/v1/compress/batch"},
                                                                   {"GET", "/v1/models"},
                                                                   {"GET", "/v1/models/x"},
                                                                   {"POST", "/v1/responses"},
                                                                   {"GET", "/v1/responses/x"},
                                                                   {"DELETE", "/v1/responses/x"},
                                                                   {"POST", "/v1/rerank"},
                                                                   {"POST", "/v1/score"},
                                                                   {"POST", "/v1/collections"},
                                                                   {"GET", "/v1/collections"},
                                                                   {"GET", "/v1/collections/x"},
                                                                   {"DELETE", "/v1/collections/x"},
                                                                   {"POST", "/v1/collections/x/documents"},
                                                                   {"POST", "/v1/collections/x/search"},
                                                                   {"DELETE", "/v1/collections/x/documents/y"}};
  for (const auto& [method, path] : routes) {
    for (const std::string& auth : {std::string(), std::string("Authorization: Bearer sk-wrong-but-long\r\n")}) {
      SCOPED_TRACE(method + " " + path + (auth.empty() ? " without a key" : " with a wrong key"));
      const std::string answer = exchange(server->port(), {method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                                           auth + "Content-Length: 2\r\nConnection: close\r\n\r\n{}"});
      EXPECT_EQ(status_of(answer), 401) << answer;
      EXPECT_NE(body_of(answer).find("invalid_api_key"), std::string::npos) << answer;
    }
  }
  for (const char* open : {"/health", "/metrics"}) EXPECT_EQ(http_get(server->port(), open).status, 200) << open;
}

// Kept-alive connections that have each had an answer, so the server has counted them.
std::vector<int> hold_connections(int port, int n) {
  std::vector<int> fds;
  const std::string get = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (static_cast<int>(fds.size()) < n && std::chrono::steady_clock::now() < deadline) {
    const int fd = connect_to(port);
    if (fd < 0) break;
    char buf[4096];
    const ssize_t got =
        ::send(fd, get.data(), get.size(), MSG_NOSIGNAL) > 0 ? ::recv(fd, buf, sizeof buf, 0) : ssize_t{-1};
    // A 429/503 here means a connection of the harness's readiness check was still counted: retry.
    if (got > 0 && status_of(std::string(buf, static_cast<size_t>(got))) == 200) {
      fds.push_back(fd);
    } else {
      ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return fds;
}

TEST(ServerSecurityConnections, PerAddressAndTotalLimits) {
  struct ConnCase {
    const char* flag;
    int status;
    const char* message;
    const char* limit;
  };
  for (const ConnCase& c : {ConnCase{"--max-connections-per-ip", 429, "max_connections_per_ip", "connections_per_ip"},
                            ConnCase{"--max-connections", 503, "max_connections", "connections"}}) {
    SCOPED_TRACE(c.flag);
    ServerProcess s({c.flag, "2"});
    const std::vector<int> held = hold_connections(s.port(), 2);
    ASSERT_EQ(held.size(), 2u);
    const std::string answer = exchange(s.port(), {"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"});
    EXPECT_EQ(status_of(answer), c.status) << answer;
    EXPECT_NE(body_of(answer).find(c.message), std::string::npos) << answer;
    for (int fd : held) ::close(fd);
    // Closed connections free their places: the metrics scrape below gets through.
    double hits = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        hits = limit_hits(s, c.limit);
      } catch (const std::exception&) {
      }
      if (hits >= 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GE(hits, 1);
    EXPECT_EQ(s.stop(), 0);
  }
}

// The same hostile clients against a server speaking TLS (--tls-cert/--tls-key): the limits hold
// behind the handshake, and the handshake itself has a deadline.
ServerProcess* tls_server = nullptr;

class ServerSecurityTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::signal(SIGPIPE, SIG_IGN);  // a write into a connection the server closed fails instead
    const CertFiles cert = make_cert(::testing::TempDir(), "security-" + std::to_string(::getpid()));
    tls_server = new ServerProcess({"--max-header-bytes", "4096", "--max-header-count", "20", "--header-timeout",
                                    "0.5", "--body-timeout", "0.5", "--max-body-bytes", "65536", "--tls-cert",
                                    cert.cert, "--tls-key", cert.key},
                                   {{"HAYATE_API_KEYS", kKey}});
  }
  static void TearDownTestSuite() {
    if (!tls_server) return;
    EXPECT_EQ(tls_server->stop(), 0);
    delete tls_server;
    tls_server = nullptr;
  }
};

TEST_F(ServerSecurityTls, HostileHeads) { check_hostile_heads(*tls_server, true); }
TEST_F(ServerSecurityTls, SlowClients) { check_slow_clients(*tls_server, true); }

// A client that connects and never says hello is dropped after header_timeout; one that speaks
// plain HTTP to the TLS port fails its handshake. Neither is answered, and the server goes on.
TEST_F(ServerSecurityTls, BadHandshakes) {
  const double before = limit_hits(*tls_server, "tls_handshake_timeout");
  const auto start = std::chrono::steady_clock::now();
  const int silent = connect_to(tls_server->port());
  ASSERT_GE(silent, 0);
  EXPECT_EQ(read_all(silent), "");  // closed without a word
  ::close(silent);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(limit_hits(*tls_server, "tls_handshake_timeout"), before + 1);

  const std::string answer = exchange(tls_server->port(), {"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"});
  EXPECT_EQ(answer.find("HTTP/1.1"), std::string::npos) << answer;
  EXPECT_EQ(http_get(tls_server->port(), "/health", {}, tls_server->ca_file()).status, 200);
}

}  // namespace
}  // namespace hayate::test
