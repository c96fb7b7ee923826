// `hayate serve` over time: clients that leave mid-stream, timeouts, graceful shutdown, the
// embedded default model, and where settings come from.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>

#include "api/openai.h"
#include "integration/server_harness.h"

namespace hayate::test {
namespace {

using nlohmann::json;

// Greedy decoding of this prompt on the tiny model runs to max_tokens without an end token, so
// requests with it last as long as max_tokens says (the reference backend on one thread: ~1 ms
// a token).
std::string long_request(int max_tokens, bool stream) {
  return json({{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
               {"max_tokens", max_tokens},
               {"temperature", 0},
               {"stream", stream}})
      .dump();
}

const std::vector<std::string> kSlow = {"--backend", "reference", "-t", "1"};

std::vector<std::string> slow(std::vector<std::string> more) {
  std::vector<std::string> args = kSlow;
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Polls /metrics until `pred` holds (true) or `timeout` passes (false).
template <typename Pred>
bool metrics_reach(ServerProcess& s, Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(s.metrics())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(ServerLifecycle, ClientLeavingMidStreamFreesItsKvBlocks) {
  ServerProcess s(slow({"--no-prefix-caching"}));
  ASSERT_EQ(s.metrics()["hayate_kv_blocks_used"], 0);
  HttpClient c("127.0.0.1", s.port());
  ASSERT_EQ(c.start_stream("/v1/chat/completions", long_request(1500, true)).status, 200);
  api::SseParser parser;
  size_t events = 0;
  while (events < 4) {
    parser.feed(c.read_more());
    events += parser.take_events().size();
  }
  EXPECT_GT(s.metrics()["hayate_kv_blocks_used"], 0);
  c.close();
  using M = std::map<std::string, double>;
  const std::string cancelled = "hayate_requests_total{route=\"/v1/chat/completions\",status=\"499\"}";
  EXPECT_TRUE(metrics_reach(
      s,
      [&](M m) { return m["hayate_kv_blocks_used"] == 0 && m["hayate_running_sequences"] == 0 && m[cancelled] == 1; },
      std::chrono::seconds(2)))
      << "the KV blocks of a cancelled request must be freed at the next step";
  const M m = s.metrics();
  EXPECT_EQ(m.at(cancelled), 1) << "counted as 499 (client closed the request)";
  EXPECT_LT(m.at("hayate_generation_tokens_total"), 1500) << "the request was cancelled, not finished";
  EXPECT_EQ(s.stop(), 0);
}

// A client that requests a long stream and never reads: once the socket buffers are full (small
// on both sides here; each chunk carries logprobs, ~1 KB) the server's writes block, and after
// --write-timeout the connection is cut and the request cancelled, its KV blocks freed. (Each
// engine step sleeps 5 ms, so the 1500 tokens would take over 7 s: the request is still
// generating when the timeout strikes.)
TEST(ServerLifecycle, AClientThatStopsReadingIsCutOffAndItsRequestCancelled) {
  ServerProcess s({"--write-timeout", "1", "--debug-step-delay-ms", "5", "--send-buffer-bytes", "8192"});
  const int fd = connect_loopback(s.port(), 2048);  // a small window from the start
  ASSERT_GE(fd, 0);
  json long_stream = json::parse(long_request(1500, true));
  long_stream["logprobs"] = true;
  long_stream["top_logprobs"] = 8;
  const std::string body = long_stream.dump();
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));

  using M = std::map<std::string, double>;
  ASSERT_TRUE(metrics_reach(
      s, [](M m) { return m["hayate_running_sequences"] == 1 && m["hayate_kv_blocks_active"] > 0; },
      std::chrono::seconds(5)));
  const std::string cancelled = "hayate_sequences_finished_total{reason=\"cancelled\"}";
  EXPECT_TRUE(metrics_reach(
      s,
      [&](M m) {
        return m["hayate_write_timeouts_total"] == 1 && m["hayate_running_sequences"] == 0 &&
               m["hayate_kv_blocks_active"] == 0;
      },
      std::chrono::seconds(15)))
      << s.log();
  const M m = s.metrics();
  EXPECT_EQ(m.at("hayate_write_timeouts_total"), 1);
  EXPECT_EQ(m.at(cancelled), 1) << "the engine ended the sequence as cancelled, before its 1500 tokens";
  EXPECT_EQ(m.at("hayate_sequences_finished_total{reason=\"length\"}"), 0);
  EXPECT_EQ(m.at("hayate_kv_blocks_used"), m.at("hayate_kv_blocks_cached")) << "only the prefix cache holds blocks";
  EXPECT_NE(s.log().find("write timeout"), std::string::npos);
  ::close(fd);
  EXPECT_EQ(http_get(s.port(), "/health").status, 200);
  EXPECT_EQ(s.stop(), 0);
}

// /health is 200 only while the engine loop makes progress: with every step sleeping 1.2 s and a
// stall threshold of 0.5 s, it answers 503 (OpenAI error JSON) during a request, the request in
// flight ends with a 503 saying so instead of waiting (new ones are refused: the engine's unit
// test), the stall is counted, and /health is 200 again once the engine is idle.
TEST(ServerLifecycle, HealthIs503AndRequestsFailFastWhileTheEngineLoopIsStuck) {
  ServerProcess s({"--engine-stall-timeout", "0.5", "--debug-step-delay-ms", "1200"});
  EXPECT_EQ(http_get(s.port(), "/health").status, 200) << "an idle engine beats while it waits";
  auto response = std::async(std::launch::async, [port = s.port()] {
    return http_post(port, "/v1/chat/completions", long_request(2, false));
  });
  HttpResponse unhealthy;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    unhealthy = http_get(s.port(), "/health");
    if (unhealthy.status != 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(unhealthy.status, 503) << unhealthy.body;
  EXPECT_EQ(unhealthy.header("content-type"), "application/json");
  const json j = json::parse(unhealthy.body);
  EXPECT_EQ(j["error"]["type"], "server_error");
  EXPECT_EQ(j["error"]["code"], "engine_unhealthy");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("stuck"), std::string::npos) << unhealthy.body;
  EXPECT_EQ(s.metrics()["hayate_engine_healthy"], 0);
  const HttpResponse failed = response.get();
  EXPECT_EQ(failed.status, 503) << failed.body;
  EXPECT_EQ(json::parse(failed.body)["error"]["code"], "engine_unhealthy") << failed.body;
  EXPECT_NE(json::parse(failed.body)["error"]["message"].get<std::string>().find("stuck"), std::string::npos)
      << failed.body;
  using M = std::map<std::string, double>;
  EXPECT_EQ(s.metrics()["hayate_engine_stalls_total"], 1);
  // The request ended while the step was still stuck; the step ends later (1.2 s in all).
  HttpResponse again;
  const auto step_over = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < step_over) {
    again = http_get(s.port(), "/health");
    if (again.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(again.status, 200) << "healthy again once the step is over: " << again.body;
  EXPECT_TRUE(metrics_reach(
      s, [](M m) { return m["hayate_running_sequences"] == 0; }, std::chrono::seconds(5)));
  EXPECT_EQ(s.metrics()["hayate_engine_healthy"], 1);
  EXPECT_EQ(s.stop(), 0);
}

TEST(ServerLifecycle, RequestTimeoutIs504) {
  ServerProcess s(slow({"--request-timeout", "0.3"}));
  const auto t0 = std::chrono::steady_clock::now();
  const HttpResponse r = http_post(s.port(), "/v1/chat/completions", long_request(1500, false));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "timeout");
  using M = std::map<std::string, double>;
  EXPECT_TRUE(metrics_reach(
      s, [](M m) { return m["hayate_running_sequences"] == 0; }, std::chrono::seconds(2)));
  EXPECT_EQ(s.stop(), 0);
}

// Sends a chat request of max_tokens on its own thread, waits until it runs, sends SIGTERM and
// returns the response.
HttpResponse sigterm_while_running(ServerProcess& s, int max_tokens) {
  auto response = std::async(std::launch::async, [port = s.port(), max_tokens] {
    return http_post(port, "/v1/chat/completions", long_request(max_tokens, false));
  });
  using M = std::map<std::string, double>;
  EXPECT_TRUE(metrics_reach(
      s, [](M m) { return m["hayate_running_sequences"] == 1; }, std::chrono::seconds(5)));
  s.signal(SIGTERM);
  return response.get();
}

TEST(ServerLifecycle, SigtermLetsARunningRequestFinish) {
  ServerProcess s(kSlow);
  const HttpResponse r = sigterm_while_running(s, 600);
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 600);
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(s.wait_exit(std::chrono::seconds(10)), 0) << s.log();
  EXPECT_NE(s.log().find("draining"), std::string::npos) << s.log();
}

// Past the drain timeout the engine ends what still runs with an Error event of kind
// Unavailable: the client gets 503 shutting_down from that kind (not 500, and not from the text).
TEST(ServerLifecycle, RequestCutByTheDrainTimeoutIs503ShuttingDown) {
  ServerProcess s(slow({"--drain-timeout", "0.3"}));
  const HttpResponse r = sigterm_while_running(s, 1500);
  EXPECT_EQ(r.status, 503) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "shutting_down") << r.body;
  EXPECT_EQ(j["error"]["type"], "server_error") << r.body;
  EXPECT_EQ(s.wait_exit(std::chrono::seconds(10)), 0) << s.log();
}

// One kept-alive request, then silence: the server answers, then closes the connection once it
// has been idle for --idle-timeout (not before; a busy machine may close it a little late, so the
// test waits up to 10 s for the close rather than a fixed time).
TEST(ServerLifecycle, IdleConnectionsAreClosed) {
  ServerProcess s({"--idle-timeout", "0.2"});
  const int fd = connect_loopback(s.port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  const timeval tv{10, 0};
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  const auto t0 = std::chrono::steady_clock::now();
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  EXPECT_EQ(n, 0) << "the server should have closed the idle connection (recv: " << std::strerror(errno) << ")";
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_GE(waited, 0.15) << "closed before the idle timeout";
  EXPECT_EQ(http_get(s.port(), "/health").status, 200);
  EXPECT_EQ(s.stop(), 0);
}

TEST(ServerLifecycle, EmbeddedDefaultModel) {
  const std::string home = temp_path("home");
  std::filesystem::create_directories(home);
  ServerProcess s({}, {{"HAYATE_HOME", home}}, true, false);
  const json models = json::parse(http_get(s.port(), "/v1/models").body);
  const std::string id = models["data"][0]["id"];
  EXPECT_FALSE(id.empty());
  if (s.log().find("RANDOM WEIGHTS") != std::string::npos) {
    EXPECT_EQ(id, "hayate-default-random");
  }
  EXPECT_EQ(s.stop(), 0);
}

TEST(ServerConfig, FileThenEnvironmentThenFlags) {
  const std::string toml = temp_path("serve.toml");
  std::ofstream(toml) << "max_n = 3\ngzip = false\nrequest_timeout = 12\ncors_origins = [\"https://a.example\"]\n"
                         "api_keys = [\"sk-secret-0123456789\"]\nrate_limit_rpm = 100\n";
  const auto r = run_command(
      "HAYATE_MAX_N=5 HAYATE_RATE_LIMIT_RPM=200 HAYATE_CORS_ORIGINS='https://b.example, "
      "https://c.example' " +
      kHayate + " serve --config " + toml + " --max-n 7 --print-config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\nmax_n = 7\n"), std::string::npos) << r.output;  // flag over env over file
  EXPECT_NE(r.output.find("\nrate_limit_rpm = 200\n"), std::string::npos);   // env over file
  EXPECT_NE(r.output.find("\ngzip = false\n"), std::string::npos);           // file over default
  EXPECT_NE(r.output.find("\nrequest_timeout = 12.0\n"), std::string::npos);
  EXPECT_NE(r.output.find("\ncors_origins = [\"https://b.example\", \"https://c.example\"]\n"), std::string::npos);
  EXPECT_NE(r.output.find("\nport = 8080\n"), std::string::npos);  // the default
  EXPECT_EQ(r.output.find("sk-secret"), std::string::npos) << "keys are never printed";
  EXPECT_NE(r.output.find("api_keys: 1 set"), std::string::npos);
}

TEST(ServerConfig, BadSettingsAreNamed) {
  const std::string toml = temp_path("bad.toml");
  std::ofstream(toml) << "port = 1\nmax_nn = 3\n";
  auto r = run_command(kHayate + " serve --config " + toml + " --print-config 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.toml:2: unknown key 'max_nn'"), std::string::npos) << r.output;
  r = run_command("HAYATE_PORT=eighty " + kHayate + " serve --print-config 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("HAYATE_PORT: 'eighty' is not an integer"), std::string::npos) << r.output;
  r = run_command(kHayate + " serve --port 70000 --print-config 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--port: port must be in [0, 65535]"), std::string::npos) << r.output;
  r = run_command("HAYATE_GPU_LAYERS=-2 " + kHayate + " serve -m " + tiny_model() + " --port 0 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("'-2' is not a layer count"), std::string::npos) << r.output;
  r = run_command(kHayate + " serve -m " + tiny_model() + " --device cpu --gpu-layers 1 --port 0 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("needs a GPU"), std::string::npos) << r.output;
}

TEST(ServerConfig, RefusesAnOpenAddressWithoutKeys) {
  const auto r = run_command(kHayate + " serve -m " + tiny_model() + " --host 0.0.0.0 --port 0 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("refusing to serve on 0.0.0.0 without API keys"), std::string::npos) << r.output;
}

TEST(ServerConfig, HelpListsEveryOption) {
  const auto r = run_command(kHayate + " serve --help");
  ASSERT_EQ(r.exit_code, 0);
  for (const char* flag : {"--host",
                           "--port",
                           "--model",
                           "--model-alias",
                           "--backend",
                           "--gpu-layers",
                           "--threads",
                           "--ctx-size",
                           "--max-running",
                           "--max-waiting",
                           "--max-batch-tokens",
                           "--kv-blocks",
                           "--prefix-caching",
                           "--api-keys",
                           "--no-auth",
                           "--rate-limit-rpm",
                           "--rate-limit-burst",
                           "--cors-origins",
                           "--max-body-bytes",
                           "--max-prompt-tokens",
                           "--max-tokens-cap",
                           "--request-timeout",
                           "--drain-timeout",
                           "--idle-timeout",
                           "--header-timeout",
                           "--body-timeout",
                           "--max-header-bytes",
                           "--max-header-count",
                           "--max-connections",
                           "--max-connections-per-ip",
                           "--write-timeout",
                           "--send-buffer-bytes",
                           "--engine-stall-timeout",
                           "--debug-step-delay-ms",
                           "--gzip",
                           "--slow-request-ms",
                           "--log-level",
                           "--log-file",
                           "--log-max-bytes",
                           "--log-files",
                           "--config",
                           "--print-config",
                           "HAYATE_API_KEYS"})
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace hayate::test
