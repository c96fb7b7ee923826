// net's blocking face: the same client run on a private io_context, for eval and the tests.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "core/error.h"
#include "net/blocking_client.h"
#include "net_test_server.h"
#include "support/test_util.h"

namespace hayate::net {
namespace {

using test::Mode;
using test::TestServer;
using namespace std::chrono_literals;

using ::hayate::test::error_of;

TEST(NetBlocking, RequestsOnOneKeptAliveConnection) {
  TestServer server(Mode::KeepAlive);
  Client c(server.endpoint());
  for (int i = 1; i <= 3; ++i) {
    const Response r = c.request({"GET", "/"});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, TestServer::answer(i));
  }
  EXPECT_EQ(c.connects(), 1);
}

TEST(NetBlocking, ServerClosingEveryConnectionAfterOneResponse) {
  TestServer server(Mode::CloseAfterEach);
  Client c(server.endpoint());
  for (int i = 1; i <= 10; ++i) EXPECT_EQ(c.request({"GET", "/"}).body, TestServer::answer(i));
  EXPECT_EQ(server.requests, 10);
}

// A server that closes an idle connection with an answer nobody asked for: the client sees the
// stale connection before it sends, and the 408 is not taken for the next request's answer.
TEST(NetBlocking, UnaskedAnswerOnAnIdleConnectionIsNotTheNextResponse) {
  TestServer server(Mode::Unasked408);
  Client c(server.endpoint());
  EXPECT_EQ(c.request({"GET", "/"}).body, TestServer::answer(1));
  std::this_thread::sleep_for(200ms);
  const Response r = c.request({"GET", "/"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, TestServer::answer(2));
  EXPECT_EQ(c.connects(), 2);
  EXPECT_EQ(server.requests, 2) << "nothing was sent twice";
}

TEST(NetBlocking, WithoutReconnectASecondConnectionIsAnError) {
  TestServer server(Mode::CloseAfterEach);
  ClientOptions o;
  o.connection.reconnect = false;
  Client c(server.endpoint(), o);
  EXPECT_EQ(c.request({"GET", "/"}).status, 200);
  // The server closed the connection without saying so: the write may still succeed, then the
  // read ends; or the client already knows. Either way it does not open another.
  const std::string error = error_of([&] { c.request({"GET", "/"}); });
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(c.connects(), 1);
}

TEST(NetBlocking, StreamedBodyComesPieceByPiece) {
  TestServer server(Mode::Chunked);
  Client c(server.endpoint());
  const Response head = c.start({"GET", "/stream"});
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  std::vector<std::string> pieces;
  while (!c.done()) {
    std::string piece = c.next();
    if (!piece.empty()) pieces.push_back(piece);
  }
  EXPECT_EQ(pieces, (std::vector<std::string>{"one,", "two,", "three"}));
  EXPECT_EQ(c.next(), "");
  // The connection is still good for the next request.
  EXPECT_EQ(c.request({"GET", "/"}).body, "one,two,three");
  EXPECT_EQ(c.connects(), 1);
}

TEST(NetBlocking, AbandonedStreamClosesItsConnection) {
  TestServer server(Mode::Chunked);
  Client c(server.endpoint());
  c.start({"GET", "/stream"});
  EXPECT_EQ(c.next(), "one,");
  EXPECT_EQ(c.request({"GET", "/"}).body, "one,two,three");
  EXPECT_EQ(c.connects(), 2);
}

TEST(NetBlocking, FailuresThrowNamingTheUrl) {
  TestServer silent(Mode::Silent);
  ClientOptions o;
  o.timeout = 150ms;
  Client c(silent.endpoint(), o);
  const std::string timeout = error_of([&] { c.request({"GET", "/v1/models"}); });
  EXPECT_NE(timeout.find("http://127.0.0.1:" + std::to_string(silent.port()) + "/v1/models: "), std::string::npos)
      << timeout;
  EXPECT_NE(timeout.find("deadline"), std::string::npos) << timeout;

  TestServer cut(Mode::CutSecond);
  Client k(cut.endpoint());
  EXPECT_EQ(k.request({"GET", "/"}).status, 200);
  try {
    k.request({"GET", "/second"});
    ADD_FAILURE() << "a body cut short is an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("/second: reading the body"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cut.requests, 2);
}

}  // namespace
}  // namespace hayate::net
