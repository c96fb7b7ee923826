// `hayate serve --tls-cert --tls-key` (issue 22): HTTPS with keep-alive and streaming through
// net's client, which verifies the certificate (chain and name); a certificate renewed on disk
// taken up on SIGHUP without a restart, a broken one refused while the old one goes on; bad TLS
// settings refused at start with a message. The hostile-client cases over TLS are in
// server_security_test.cpp.
#include <gtest/gtest.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/server_harness.h"
#include "support/tls.h"

namespace hayate::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string dir() {
  const std::string d = ::testing::TempDir() + "/hayate-tls-" + std::to_string(::getpid());
  fs::create_directories(d);
  return d;
}

// What a request through net's client trusting only `ca` gives: the status, or the error text.
std::string try_get(int port, const std::string& ca) {
  try {
    return std::to_string(HttpClient("127.0.0.1", port, std::chrono::seconds(30), ca).get("/v1/models").status);
  } catch (const std::exception& e) {
    return e.what();
  }
}

bool wait_for_log(ServerProcess& s, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (s.log().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST(ServerTls, KeepAliveAndStreamingOverHttps) {
  const CertFiles cert = make_cert(dir(), "serve");
  ServerProcess s({"--tls-cert", cert.cert, "--tls-key", cert.key});
  HttpClient client("127.0.0.1", s.port(), std::chrono::seconds(60), cert.cert);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.get("/v1/models").status, 200);
  const HttpResponse head = client.start_stream(
      "/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":8,"stream":true})");
  EXPECT_EQ(head.status, 200);
  std::string events;
  while (!client.stream_done()) events += client.read_more();
  EXPECT_NE(events.find("data: [DONE]"), std::string::npos) << events;
  EXPECT_EQ(client.get("/health").status, 200);
  EXPECT_EQ(client.connects(), 1);  // every request on the one kept-alive TLS connection
  EXPECT_EQ(s.stop(), 0);
}

// The chat WebSocket as wss://: upgrade, a generation streamed, a clean close.
TEST(ServerTls, WebSocketOverTls) {
  namespace beast = boost::beast;
  namespace ssl = boost::asio::ssl;
  const CertFiles cert = make_cert(dir(), "wss");
  ServerProcess s({"--tls-cert", cert.cert, "--tls-key", cert.key});
  boost::asio::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(cert.cert);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::websocket::stream<ssl::stream<tcp::socket>> ws(ioc, ctx);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), s.port()));
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.handshake("127.0.0.1", "/v1/ws");
  auto next = [&] {
    beast::flat_buffer b;
    ws.read(b);
    return json::parse(beast::buffers_to_string(b.data()));
  };
  EXPECT_EQ(next()["type"], "ready");
  ws.write(boost::asio::buffer(std::string(R"({"type":"start","content":"hi","max_tokens":4})")));
  std::vector<std::string> types;
  for (json m = next();; m = next()) {
    types.push_back(m["type"]);
    if (m["type"] == "done" || m["type"] == "error") break;
  }
  EXPECT_EQ(types.back(), "done");
  EXPECT_NE(std::find(types.begin(), types.end(), "token"), types.end());
  ws.close(beast::websocket::close_code::normal);
  EXPECT_EQ(s.stop(), 0);
}

// The client refuses a server whose certificate it cannot verify: an unknown CA, or a
// certificate for another name.
TEST(ServerTls, ClientVerifiesTheCertificate) {
  const CertFiles good = make_cert(dir(), "verify");
  ServerProcess s({"--tls-cert", good.cert, "--tls-key", good.key});
  EXPECT_EQ(try_get(s.port(), good.cert), "200");
  const CertFiles stranger = make_cert(dir(), "stranger");
  EXPECT_NE(try_get(s.port(), stranger.cert).find("certificate verify failed"), std::string::npos);

  const CertFiles other_name = make_cert(dir(), "othername", "DNS:other.example");
  ServerProcess t({"--tls-cert", other_name.cert, "--tls-key", other_name.key}, {}, false);
  // The harness cannot reach it by 127.0.0.1 (the name check fails), so readiness is its log line.
  ASSERT_TRUE(wait_for_log(t, "listening on")) << t.log();
  const std::string line = t.log().substr(t.log().find("listening on 127.0.0.1:"));
  const int port = std::atoi(line.c_str() + std::string("listening on 127.0.0.1:").size());
  std::string answer;
  for (int i = 0; i < 100 && answer.find("verify") == std::string::npos; ++i) {
    answer = try_get(port, other_name.cert);  // a connect error first, until it listens
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(answer.find("certificate verify failed"), std::string::npos) << answer;
  EXPECT_EQ(t.stop(), 0);
  EXPECT_EQ(s.stop(), 0);
}

// A renewed certificate written over the old files is served after SIGHUP, to new connections; a
// broken file on SIGHUP is refused with an error in the log, and the previous one stays.
TEST(ServerTls, SighupReloadsTheCertificate) {
  const std::string d = dir();
  const CertFiles live = make_cert(d, "live");
  const CertFiles first = make_cert(d, "first");
  fs::copy_file(first.cert, live.cert, fs::copy_options::overwrite_existing);
  fs::copy_file(first.key, live.key, fs::copy_options::overwrite_existing);
  ServerProcess s({"--tls-cert", live.cert, "--tls-key", live.key});
  EXPECT_EQ(try_get(s.port(), first.cert), "200");

  const CertFiles second = make_cert(d, "second");
  fs::copy_file(second.cert, live.cert, fs::copy_options::overwrite_existing);
  fs::copy_file(second.key, live.key, fs::copy_options::overwrite_existing);
  EXPECT_EQ(try_get(s.port(), first.cert), "200");  // not before the signal
  s.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(s, "SIGHUP: reloaded the TLS certificate")) << s.log();
  EXPECT_EQ(try_get(s.port(), second.cert), "200");
  EXPECT_NE(try_get(s.port(), first.cert).find("certificate verify failed"), std::string::npos);

  std::ofstream(live.cert, std::ios::trunc) << "not a certificate\n";
  s.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(s, "still serving the previous certificate")) << s.log();
  EXPECT_EQ(try_get(s.port(), second.cert), "200");
  EXPECT_EQ(s.stop(), 0);
}

// Bad TLS settings stop the server at start, with a message naming what is wrong.
TEST(ServerTls, BadSettingsAreRefusedAtStart) {
  const std::string d = dir();
  const CertFiles a = make_cert(d, "a");
  const CertFiles b = make_cert(d, "b");
  std::ofstream(d + "/garbage.crt") << "-----BEGIN CERTIFICATE-----\nnot base64\n";
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"--tls-cert", a.cert}, "only tls_cert is set"},
      {{"--tls-key", a.key}, "only tls_key is set"},
      {{"--tls-cert", d + "/missing.crt", "--tls-key", a.key}, "cannot use it as the TLS certificate"},
      {{"--tls-cert", d + "/garbage.crt", "--tls-key", a.key}, "cannot use it as the TLS certificate"},
      {{"--tls-cert", a.cert, "--tls-key", b.key}, "is not the private key of the certificate"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    ServerProcess s(c.args, {}, false);
    const auto code = s.wait_exit(std::chrono::seconds(30));
    ASSERT_TRUE(code.has_value()) << s.log();
    EXPECT_NE(*code, 0);
    EXPECT_NE(s.log().find(c.message), std::string::npos) << s.log();
  }
}

}  // namespace
}  // namespace hayate::test
