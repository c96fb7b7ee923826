// `hayate gateway` with real processes on loopback (issue 18): two `hayate serve` behind it, one
// killed mid-load and brought back; a fallback chain; prefix affinity against a single server;
// upstreams that misbehave (garbage, hanging after the head, a 10 GB body) and a slow-loris
// client; a config reload under a stream.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>

#include "gateway_harness.h"
#include "support/services.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

// A model slow enough (a few ms a token) that a long stream is still running when its server is
// killed; the byte tokenizer's specials banned, so it runs to max_tokens.
const std::string& slow_model() {
  static const std::string path = [] {
    const std::string p = ::testing::TempDir() + "/hayate-gateway-slow-" + std::to_string(::getpid()) + ".gguf";
    const auto r =
        run_command(kHayate + " synth -o " + p + " --n-embd 512 --n-layer 6 --n-head 8 --n-head-kv 4 --n-ff 1536 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("hayate synth failed: " + r.output);
    return p;
  }();
  return path;
}

json no_specials() {
  json bias = json::object();
  for (const char* id : {"0", "1", "2", "256", "257", "258", "259", "260", "261"}) bias[id] = -100;
  return bias;
}

std::unique_ptr<ServerProcess> slow_server(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"-m", slow_model()};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(args, std::vector<std::pair<std::string, std::string>>{}, true, false);
}

std::string gateway_state(int port, const std::string& upstream) {
  return json::parse(http_get(port, "/health").body)["upstreams"].value(upstream, "");
}

TEST(Gateway, KilledServerLosesNoUnstartedRequestAndIsReadmittedWhenBack) {
  auto a = slow_server();
  auto b = slow_server();
  const int port_a = a->port();
  const std::string id = model_id(port_a);
  const std::string config =
      write_config("gw-kill.toml",
                   "health_interval = 0.5\neject_failures = 2\neject_seconds = 0.3\neject_max_seconds = 1\n"
                   "retries = 2\nretry_base_ms = 5\nretry_max_ms = 50\n" +
                       upstream("a", port_a, "m", id) + upstream("b", b->port(), "m", id));
  auto gw = start_gateway(config);
  const int g = gw->port();

  // A long stream served by 'a', its first bytes read.
  const std::string long_stream = json{
      {"prompt", "Once upon a time"},
      {"stream", true},
      {"max_tokens", 1500},
      {"temperature", 0},
      {"logit_bias", no_specials()}}.dump();
  std::unique_ptr<HttpClient> stream;
  std::string received;
  for (int i = 0; i < 10 && !stream; ++i) {
    auto s = std::make_unique<HttpClient>("127.0.0.1", g, std::chrono::seconds(60));
    const HttpResponse head = s->start_stream("/v1/completions", long_stream);
    ASSERT_EQ(head.status, 200) << head.body;
    if (head.header("x-hayate-upstream") != "a") continue;  // dropped: the gateway cancels it upstream
    received = s->read_more();
    stream = std::move(s);
  }
  ASSERT_TRUE(stream) << "no stream went to 'a'";

  // Load of whole and streamed requests while 'a' dies.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::mutex mu;
  std::string failures;
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t)
    load.emplace_back([&, t] {
      HttpClient c("127.0.0.1", g, std::chrono::seconds(60));
      for (int i = 0; !stop; ++i) {
        const bool streamed = (i + t) % 2 == 0;
        const std::string body = json{
            {"prompt", "load " + std::to_string(t) + "/" + std::to_string(i)},
            {"max_tokens", 4},
            {"stream", streamed}}.dump();
        HttpResponse r;
        try {
          r = c.post("/v1/completions", body);
        } catch (const std::exception& e) {
          r.status = -1;
          r.body = e.what();
        }
        if (r.status == 200) {
          ++ok;
        } else {
          ++failed;
          std::lock_guard lk(mu);
          failures += std::to_string(r.status) + ": " + r.body.substr(0, 300) + "\n";
        }
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  a->signal(SIGKILL);
  a->wait_exit(std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_EQ(failed, 0) << failures;
  EXPECT_GT(ok, 8);

  // The stream in flight on 'a' ends with an error event, not [DONE].
  for (std::string more = stream->read_more(); !more.empty(); more = stream->read_more()) received += more;
  EXPECT_NE(received.find("upstream_failed"), std::string::npos) << received.substr(0, 2000);
  EXPECT_EQ(received.find("[DONE]"), std::string::npos);

  auto m = gw->metrics();
  EXPECT_GE(m["hayate_gateway_upstream_ejections_total{upstream=\"a\"}"], 1);
  EXPECT_EQ(m["hayate_gateway_upstream_up{upstream=\"a\"}"], 0);
  EXPECT_NE(gateway_state(g, "a"), "up");
  EXPECT_EQ(gateway_state(g, "b"), "up");

  // Back on its port: re-admitted, and given requests again.
  a = slow_server({"--port", std::to_string(port_a)});
  bool served_by_a = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!served_by_a && std::chrono::steady_clock::now() < deadline) {
    const HttpResponse r = http_post(g, "/v1/completions", json{{"prompt", "back?"}, {"max_tokens", 1}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    served_by_a = r.header("x-hayate-upstream") == "a";
    if (!served_by_a) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(served_by_a);
  EXPECT_EQ(gateway_state(g, "a"), "up");
}

TEST(Gateway, FallbackChainAndAliases) {
  ServerProcess small({});
  const std::string id = model_id(small.port());
  const int dead_port = free_port();  // big has one replica, where nobody listens
  const std::string config = write_config(
      "gw-fallback.toml", "health_interval = 0\nretries = 1\nretry_base_ms = 1\n" +
                              upstream("big-1", dead_port, "big", "") + upstream("small-1", small.port(), "small", id) +
                              "[[models]]\nname = \"big\"\naliases = [\"gpt-4o\"]\nfallback = [\"small\"]\n");
  auto gw = start_gateway(config);
  const HttpResponse r = http_post(
      gw->port(), "/v1/chat/completions",
      json{{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-hayate-upstream"), "small-1");
  auto m = gw->metrics();
  EXPECT_EQ(m["hayate_gateway_fallbacks_total{from=\"big\",to=\"small\"}"], 1);
  EXPECT_EQ(m["hayate_gateway_upstream_errors_total{kind=\"connect\",upstream=\"big-1\"}"], 2);  // tried, retried
  const HttpResponse unknown = http_post(gw->port(), "/v1/completions", json{{"model", "nope"}}.dump());
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("gpt-4o"), std::string::npos) << unknown.body;  // says what exists
}

// Cached prompt tokens (usage.prompt_tokens_details.cached_tokens) of conversations that grow
// turn by turn, interleaved so that balancing by load alone would scatter them (an odd number of
// conversations over two replicas in turn).
int64_t cached_tokens(int port) {
  int64_t cached = 0;
  for (int turn = 0; turn < 4; ++turn)
    for (int conv = 0; conv < 5; ++conv) {
      std::string prompt = "Conversation " + std::to_string(conv) + ": ";
      for (int i = 0; i < 12; ++i) prompt += "fact " + std::to_string(conv * 100 + i) + " is worth remembering. ";
      for (int k = 0; k <= turn; ++k) prompt += "Turn " + std::to_string(k) + " asks something new. ";
      const HttpResponse r =
          http_post(port, "/v1/completions", json{{"prompt", prompt}, {"max_tokens", 1}, {"temperature", 0}}.dump());
      EXPECT_EQ(r.status, 200) << r.body;
      cached += json::parse(r.body)["usage"]["prompt_tokens_details"].value("cached_tokens", 0);
    }
  return cached;
}

TEST(Gateway, PrefixAffinityKeepsWhatASingleServerCaches) {
  ServerProcess single({}), a({}), b({});
  const std::string id = model_id(a.port());
  auto gw =
      start_gateway(write_config("gw-affinity.toml", "affinity_block_bytes = 64\n" + upstream("a", a.port(), "m", id) +
                                                         upstream("b", b.port(), "m", id)));
  const int64_t direct = cached_tokens(single.port());
  const int64_t through = cached_tokens(gw->port());
  ASSERT_GT(direct, 0);
  EXPECT_GE(static_cast<double>(through), 0.9 * static_cast<double>(direct)) << through << " vs " << direct;
  auto m = gw->metrics();
  EXPECT_GE(m["hayate_gateway_affinity_total{result=\"hit\"}"], 15);  // every turn after the first
}

// An upstream that misbehaves in one way on every connection.
class BadUpstream {
 public:
  enum class Mode { Garbage, HangAfterHead, HugeBody };
  explicit BadUpstream(Mode mode) : mode_(mode) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~BadUpstream() {
    stop_ = true;
    thread_.join();
    for (std::thread& t : handlers_) t.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) handlers_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    char buf[65536];
    ::recv(c, buf, sizeof buf, 0);  // the request (its first part is enough)
    auto send_all = [&](const std::string& s) { return ::send(c, s.data(), s.size(), MSG_NOSIGNAL) > 0; };
    if (mode_ == Mode::Garbage) {
      send_all(std::string("\x00\xff\x13garbage, not HTTP\r\n\r\n", 24));
    } else if (mode_ == Mode::HangAfterHead) {
      send_all("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");
      while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      send_all("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n");
      const std::string block(65536, 'x');
      while (!stop_ && send_all(block)) {
      }
    }
    ::close(c);
  }

  Mode mode_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> handlers_;
};

TEST(Gateway, BadUpstreamsAndSlowClientsNeverTakeItDown) {
  BadUpstream garbage(BadUpstream::Mode::Garbage), hang(BadUpstream::Mode::HangAfterHead),
      huge(BadUpstream::Mode::HugeBody);
  auto gw = start_gateway(write_config("gw-bad.toml",
                                       "health_interval = 0\nretries = 1\nretry_base_ms = 1\nread_timeout = 1\n"
                                       "max_response_bytes = 1048576\n" +
                                           upstream("garbage", garbage.port(), "garbage", "") +
                                           upstream("hang", hang.port(), "hang", "") +
                                           upstream("huge", huge.port(), "huge", "")));
  const int g = gw->port();
  const HttpResponse r1 = http_post(g, "/v1/completions", json{{"model", "garbage"}}.dump());
  EXPECT_EQ(r1.status, 502) << r1.body;
  const HttpResponse r2 = http_post(g, "/v1/completions", json{{"model", "hang"}}.dump(), {{"X-Request-Timeout", "1"}});
  EXPECT_EQ(r2.status, 504) << r2.body;
  const HttpResponse r3 = http_post(g, "/v1/completions", json{{"model", "huge"}}.dump());
  EXPECT_EQ(r3.status, 502) << r3.body;
  EXPECT_NE(r3.body.find("max_response_bytes"), std::string::npos) << r3.body;

  // A slow-loris client: half a request head, then nothing. The gateway closes it after
  // read_timeout and keeps serving others meanwhile.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(g));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string partial = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n";
  ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
  EXPECT_EQ(http_get(g, "/metrics").status, 200);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 20000), 1) << "the gateway never closed the slow client";
  char byte;
  EXPECT_LE(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
  EXPECT_FALSE(gw->exited());
  EXPECT_EQ(http_get(g, "/metrics").status, 200);
}

TEST(Gateway, ReloadKeepsTheStreamInFlightAndTakesTheNewRoutes) {
  auto a = slow_server();
  ServerProcess b({});
  const std::string id_a = model_id(a->port()), id_b = model_id(b.port());
  const std::string path = temp_path("gw-reload.toml");
  std::ofstream(path) << upstream("a", a->port(), "m", id_a);
  auto gw = start_gateway(path);
  HttpClient s("127.0.0.1", gw->port(), std::chrono::seconds(60));
  const HttpResponse head = s.start_stream("/v1/completions", json{{"prompt", "reload"},
                                                                   {"stream", true},
                                                                   {"max_tokens", 300},
                                                                   {"temperature", 0},
                                                                   {"logit_bias", no_specials()}}
                                                                  .dump());
  ASSERT_EQ(head.status, 200);
  std::string got = s.read_more();
  std::ofstream(path, std::ios::trunc) << upstream("a", a->port(), "m", id_a) + upstream("b2", b.port(), "n", id_b);
  gw->signal(SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  HttpResponse r;
  while (std::chrono::steady_clock::now() < deadline) {
    r = http_post(gw->port(), "/v1/completions", json{{"model", "n"}, {"prompt", "x"}, {"max_tokens", 1}}.dump());
    if (r.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-hayate-upstream"), "b2");
  for (std::string more = s.read_more(); !more.empty(); more = s.read_more()) got += more;
  EXPECT_NE(got.find("[DONE]"), std::string::npos) << got.substr(0, 500);
  EXPECT_EQ(got.find("error"), std::string::npos);
}

}  // namespace
}  // namespace hayate::test
