// `hayate gateway` with the services of a scale-out (issue 18): two gateways sharing a response
// cache in a real redis-server, and a real Prometheus scraping a gateway and a server.
#include <nlohmann/json.hpp>

#include "gateway_harness.h"
#include "support/services.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

std::string only_upstream(int port) { return upstream("u", port, "m", model_id(port)); }

TEST(GatewayServices, TwoGatewaysShareTheResponseCacheInRedis) {
  if (RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh installs it)";
  RedisServer redis;
  ServerProcess server({});
  const std::string settings = "cache_entries = 100\ncache_store = \"" + redis.url() + "\"\n";
  auto one = start_gateway(write_config("gw-cache-1.toml", settings + only_upstream(server.port())));
  auto two = start_gateway(write_config("gw-cache-2.toml", settings + only_upstream(server.port())));
  const std::string greedy = json{{"prompt", "cache me"}, {"max_tokens", 3}, {"temperature", 0}}.dump();
  const HttpResponse first = http_post(one->port(), "/v1/completions", greedy);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("x-hayate-cache"), "");
  const HttpResponse second = http_post(two->port(), "/v1/completions", greedy);  // the other gateway
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.header("x-hayate-cache"), "hit");
  EXPECT_EQ(second.body, first.body);
  const std::string sampled = json{{"prompt", "cache me"}, {"max_tokens", 3}, {"temperature", 0.8}}.dump();
  EXPECT_EQ(http_post(two->port(), "/v1/completions", sampled).header("x-hayate-cache"), "");  // varies: not kept
  EXPECT_EQ(http_post(two->port(), "/v1/completions", sampled).header("x-hayate-cache"), "");
  auto m = two->metrics();
  EXPECT_EQ(m["hayate_gateway_cache_requests_total{result=\"hit\"}"], 1);
}

TEST(GatewayServices, PrometheusScrapesTheGatewayAndTheServer) {
  const std::string prometheus = find_binary({"/usr/bin/prometheus", "/usr/local/bin/prometheus"});
  if (prometheus.empty()) GTEST_SKIP() << "prometheus is not installed (scripts/setup.sh installs it)";
  ServerProcess server({});
  auto gw = start_gateway(write_config("gw-prom.toml", only_upstream(server.port())));
  ASSERT_EQ(http_post(gw->port(), "/v1/completions", json{{"prompt", "hi"}, {"max_tokens", 2}}.dump()).status, 200);

  const std::string dir = temp_path("prometheus." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/prometheus.yml") << "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: hayate\n"
                                            "    static_configs:\n      - targets: ['127.0.0.1:"
                                         << gw->port() << "', '127.0.0.1:" << server.port() << "']\n";
  const int port = free_port();
  const pid_t pid =
      spawn({prometheus, "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
             "--web.listen-address=127.0.0.1:" + std::to_string(port)},
            dir + "/prometheus.log");
  struct Stop {
    pid_t pid;
    ~Stop() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } stop{pid};
  // Both nodes' series through Prometheus's query API (its first scrapes come within seconds).
  bool gateway_seen = false, server_seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(gateway_seen && server_seen) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (!port_accepts(port)) continue;
    try {
      const json g = json::parse(http_get(port, "/api/v1/query?query=hayate_gateway_requests_total").body);
      gateway_seen = !g["data"]["result"].empty();
      const json s = json::parse(http_get(port, "/api/v1/query?query=up%7Binstance%3D%22127.0.0.1%3A" +
                                                    std::to_string(server.port()) + "%22%7D%3D%3D1")
                                     .body);
      server_seen = !s["data"]["result"].empty();
    } catch (const std::exception&) {
    }
  }
  EXPECT_TRUE(gateway_seen) << read_file(dir + "/prometheus.log").substr(0, 3000);
  EXPECT_TRUE(server_seen);
}

TEST(GatewayServices, BenchProbeReportsLatencyAndSuccessPerEndpoint) {
  ServerProcess server({});
  const std::string out = temp_path("probe.json");
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  const auto r =
      run_command(kHayate + " bench probe -n 3 --url " + base + "/health --url " + base + "/nowhere --post " + base +
                  "/v1/completions '{\"prompt\":\"hi\",\"max_tokens\":1}' --out " + out + " 2>&1");
  EXPECT_EQ(r.exit_code, 1) << r.output;  // /nowhere fails, and says so in the exit status
  const json j = json::parse(read_file(out))["probe"];
  ASSERT_EQ(j.size(), 4u) << j;
  EXPECT_EQ(j[0]["success_rate"], 1.0);
  EXPECT_EQ(j[1]["ok"], 0);  // GETs first, then POSTs
  EXPECT_EQ(j[1]["errors"][0], "status 404");
  EXPECT_EQ(j[2]["ok"], 3);
  EXPECT_GT(j[2]["latency_ms"]["max"].get<double>(), 0);
  EXPECT_EQ(j[3]["endpoint"], "overall");
  EXPECT_EQ(j[3]["calls"], 9);
  EXPECT_EQ(j[3]["ok"], 6);
  EXPECT_NE(r.output.find("| overall | 6/9 |"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hayate::test
