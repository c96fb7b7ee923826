// net's coroutine HTTP client against servers that keep, close, cut and stall connections.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "net/http_client.h"
#include "net_test_server.h"

namespace hayate::net {
namespace {

using test::Mode;
using test::TestServer;
using namespace std::chrono_literals;

// Runs a coroutine to its end on a fresh io_context of this thread.
template <typename T>
T run(asio::awaitable<T> a, asio::io_context& ioc) {
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
    error = e;
    out = std::move(v);
  });
  ioc.restart();
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

Clock::time_point in(Clock::duration d) { return Clock::now() + d; }

// n GET requests one after another on one Connection.
asio::awaitable<std::vector<Response>> sequential(Connection& c, int n) {
  std::vector<Response> out;
  for (int i = 0; i < n; ++i) {
    Request req{"GET", "/r" + std::to_string(i)};
    Response r = co_await c.request(std::move(req), in(5s));
    out.push_back(std::move(r));
  }
  co_return out;
}

std::vector<Response> sequential(const TestServer& server, int n, int64_t* connects = nullptr) {
  asio::io_context ioc;
  Connection c(ioc.get_executor(), server.endpoint());
  std::vector<Response> out = run(sequential(c, n), ioc);
  if (connects) *connects = c.connects();
  return out;
}

TEST(NetClient, KeptAliveConnectionIsReused) {
  TestServer server(Mode::KeepAlive);
  int64_t connects = 0;
  const std::vector<Response> rs = sequential(server, 5, &connects);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(rs[i].ok()) << rs[i].error;
    EXPECT_EQ(rs[i].status, 200);
    EXPECT_EQ(rs[i].body, TestServer::answer(i + 1));
    EXPECT_EQ(rs[i].header("content-type"), "text/plain") << "header names in lower case";
    EXPECT_TRUE(rs[i].keep_alive);
  }
  EXPECT_EQ(connects, 1);
  EXPECT_EQ(server.connections, 1);
  EXPECT_EQ(server.requests, 5);
}

// The bug of `hayate bench serve` against llama-server: a kept-alive connection the server had
// closed failed the next request with "end of stream".
TEST(NetClient, ServerClosingEveryConnectionAfterOneResponse) {
  TestServer server(Mode::CloseAfterEach);
  constexpr int kN = 20;
  int64_t connects = 0;
  const std::vector<Response> rs = sequential(server, kN, &connects);
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(rs[i].ok()) << "request " << i << ": " << rs[i].error;
    EXPECT_EQ(rs[i].status, 200);
  }
  EXPECT_EQ(connects, kN);
  EXPECT_EQ(server.connections, kN);
  EXPECT_EQ(server.requests, kN) << "each request reached the server once";
}

TEST(NetClient, RequestTheServerDroppedUnansweredIsSentAgainOnce) {
  TestServer server(Mode::DropSecond);
  constexpr int kN = 6;
  int64_t connects = 0;
  const std::vector<Response> rs = sequential(server, kN, &connects);
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(rs[i].ok()) << "request " << i << ": " << rs[i].error;
  // Every request after the first arrives on a kept-alive connection that the server then
  // closes without a byte of answer: it is sent again on a new one, which answers it.
  EXPECT_EQ(connects, kN);
  EXPECT_EQ(server.requests, 2 * kN - 1);
  EXPECT_EQ(rs.back().body, TestServer::answer(2 * kN - 1));
}

TEST(NetClient, NoResendWhenTurnedOff) {
  TestServer server(Mode::DropSecond);
  asio::io_context ioc;
  ConnectionOptions o;
  o.reopen_stale = false;
  Connection c(ioc.get_executor(), server.endpoint(), o);
  const std::vector<Response> rs = run(sequential(c, 2), ioc);
  EXPECT_TRUE(rs[0].ok());
  EXPECT_EQ(rs[1].failure, Failure::Closed);
  EXPECT_NE(rs[1].error.find("reading the response header"), std::string::npos) << rs[1].error;
  EXPECT_EQ(server.requests, 2);
}

TEST(NetClient, FreshConnectionClosedUnansweredIsNotRetried) {
  TestServer server(Mode::CloseUnanswered);
  const std::vector<Response> rs = sequential(server, 1);
  EXPECT_EQ(rs[0].failure, Failure::Closed);
  EXPECT_NE(rs[0].error.find("reading the response header"), std::string::npos) << rs[0].error;
  EXPECT_EQ(server.requests, 1) << "only a reused connection may turn out stale";
}

// Once a byte of the answer has arrived, the server may have acted on the request: a close then
// is the request's failure, never a reason to send it again.
TEST(NetClient, ServerClosingInsideTheAnswerIsAnErrorAndNotRetried) {
  struct Case {
    Mode mode;
    int status;         // what had arrived: the head (200) or only part of the status line (0)
    std::string stage;  // where the error says it happened
  };
  for (const Case& c :
       {Case{Mode::CutSecond, 200, "reading the body"}, Case{Mode::HalfHeadSecond, 0, "reading the response header"}}) {
    SCOPED_TRACE(c.stage);
    TestServer server(c.mode);
    const std::vector<Response> rs = sequential(server, 2);
    ASSERT_TRUE(rs[0].ok()) << rs[0].error;
    EXPECT_EQ(rs[1].failure, Failure::Closed);
    EXPECT_EQ(rs[1].status, c.status);
    EXPECT_NE(rs[1].error.find(c.stage), std::string::npos) << rs[1].error;
    EXPECT_EQ(server.requests, 2);
  }
}

TEST(NetClient, ConnectionCloseIsHonoured) {
  TestServer server(Mode::SayClose);
  int64_t connects = 0;
  const std::vector<Response> rs = sequential(server, 3, &connects);
  for (const Response& r : rs) {
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_FALSE(r.keep_alive);
  }
  EXPECT_EQ(connects, 3);
  EXPECT_EQ(server.requests, 3);
}

TEST(NetClient, DeadlineEndsASilentServer) {
  TestServer server(Mode::Silent);
  asio::io_context ioc;
  Connection c(ioc.get_executor(), server.endpoint());
  const Clock::time_point t0 = Clock::now();
  const Response r = run(c.request({"GET", "/"}, in(200ms)), ioc);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(r.failure, Failure::Timeout);
  EXPECT_NE(r.error.find("deadline"), std::string::npos) << r.error;
  EXPECT_GE(s, 0.19);
  EXPECT_LT(s, 3.0);
  EXPECT_FALSE(c.is_open());
}

TEST(NetClient, DeadlineAlreadyPassed) {
  TestServer server(Mode::KeepAlive);
  asio::io_context ioc;
  Connection c(ioc.get_executor(), server.endpoint());
  const Response r = run(c.request({"GET", "/"}, Clock::now() - 1s), ioc);
  EXPECT_EQ(r.failure, Failure::Timeout);
}

TEST(NetClient, ChunkedBodyStreamsInOrder) {
  TestServer server(Mode::Chunked);
  asio::io_context ioc;
  Connection c(ioc.get_executor(), server.endpoint());
  std::vector<std::string> events;
  ResponseHandlers h;
  h.on_head = [&](const Response& head) { events.push_back("head " + std::to_string(head.status)); };
  h.on_body = [&](std::string_view piece) {
    events.emplace_back(piece);
    return true;
  };
  const Response r = run(c.request({"GET", "/stream"}, in(5s), h), ioc);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_TRUE(r.body.empty()) << "the handler took the body";
  // The pieces are 30 ms apart, so each comes on its own, without the chunk framing.
  EXPECT_EQ(events, (std::vector<std::string>{"head 200", "one,", "two,", "three"}));

  // Without a handler the same body comes whole, on the same connection.
  const Response whole = run(c.request({"GET", "/stream"}, in(5s)), ioc);
  ASSERT_TRUE(whole.ok()) << whole.error;
  EXPECT_EQ(whole.body, "one,two,three");
  EXPECT_EQ(c.connects(), 1);
}

TEST(NetClient, BodyHandlerStopsReading) {
  TestServer server(Mode::Chunked);
  asio::io_context ioc;
  Connection c(ioc.get_executor(), server.endpoint());
  int pieces = 0;
  ResponseHandlers h;
  h.on_body = [&](std::string_view) { return ++pieces < 2; };
  const Response r = run(c.request({"GET", "/"}, in(5s), h), ioc);
  EXPECT_EQ(r.failure, Failure::Stopped);
  EXPECT_EQ(pieces, 2);
  EXPECT_FALSE(c.is_open()) << "the rest of the body is unread: the connection cannot be reused";
  const Response next = run(c.request({"GET", "/"}, in(5s)), ioc);
  EXPECT_TRUE(next.ok()) << next.error;
  EXPECT_EQ(c.connects(), 2);
}

TEST(NetClient, CancelEndsTheRequestInFlight) {
  TestServer server(Mode::Silent);
  asio::io_context ioc;
  Connection c(ioc.get_executor(), server.endpoint());
  asio::steady_timer later(ioc, 50ms);
  later.async_wait([&](boost::system::error_code) { c.cancel(); });
  const Response r = run(c.request({"GET", "/"}, in(10s)), ioc);
  EXPECT_EQ(r.failure, Failure::Cancelled);
  EXPECT_EQ(run(c.request({"GET", "/"}, in(10s)), ioc).failure, Failure::Cancelled) << "and every later one";
}

TEST(NetClient, NothingListening) {
  Endpoint ep;
  {
    TestServer gone(Mode::KeepAlive);
    ep = gone.endpoint();
  }
  asio::io_context ioc;
  Connection c(ioc.get_executor(), ep);
  const Response r = run(c.request({"GET", "/"}, in(5s)), ioc);
  EXPECT_EQ(r.failure, Failure::Connect);
  EXPECT_NE(r.error.find("connect: "), std::string::npos) << r.error;
}

TEST(NetClient, PostCarriesBodyHeadersAndBase) {
  TestServer server(Mode::KeepAlive);
  Endpoint ep = server.endpoint();
  ep.url.base = "/api";
  asio::io_context ioc;
  Connection c(ioc.get_executor(), ep);
  const Response r = run(c.request({"POST", "/v1/x", {{"X-Test", "1"}}, "{\"a\":1}"}, in(5s)), ioc);
  EXPECT_TRUE(r.ok()) << r.error;
  const std::vector<std::string> got = server.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].starts_with("POST /api/v1/x HTTP/1.1\r\n")) << got[0];
  EXPECT_NE(got[0].find("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("X-Test: 1\r\n"), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("Content-Length: 7\r\n"), std::string::npos) << got[0];
  EXPECT_TRUE(got[0].ends_with("\r\n\r\n{\"a\":1}")) << got[0];
  EXPECT_THROW(run(c.request({"FROB", "/"}, in(5s)), ioc), Error) << "an unknown method is the caller's error";
}

}  // namespace
}  // namespace hayate::net
