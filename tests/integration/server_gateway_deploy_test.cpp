// deploy/start-local.sh as a user runs it (issue 18's scale-out recipe): Redis, two servers, two
// gateways, nginx on a free port in front; requests through nginx reach both gateways, and an
// answer cached through one gateway is a hit through the other (the shared Redis).
#include <nlohmann/json.hpp>
#include <set>

#include "server_harness.h"
#include "support/services.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

TEST(GatewayDeploy, NginxInFrontOfTwoGatewaysSharingRedis) {
  if (RedisServer::binary().empty() || find_binary({"/usr/sbin/nginx", "/usr/bin/nginx"}).empty())
    GTEST_SKIP() << "nginx or redis-server is not installed (scripts/setup.sh installs them)";
  const std::string dir = temp_path("deploy." + std::to_string(::getpid()));
  const std::string script = std::string(HAYATE_SOURCE_DIR) + "/deploy/start-local.sh";
  const int nginx_port = free_port();
  const std::string env = "HAYATE=" + kHayate + " NGINX_PORT=" + std::to_string(nginx_port) +
                          " REDIS_PORT=" + std::to_string(free_port()) + " PROMETHEUS_PORT=0 PATH=$PATH:/usr/sbin ";
  struct Stop {
    std::string command;
    ~Stop() { run_command(command); }
  } stop{env + script + " " + dir + " stop"};
  const auto started = run_command(env + script + " " + dir + " " + tiny_model() + " 2>&1");
  ASSERT_EQ(started.exit_code, 0) << started.output;

  EXPECT_EQ(http_get(nginx_port, "/health").status, 200);
  std::set<std::string> upstreams;
  for (int i = 0; i < 6; ++i) {  // nginx spreads connections, each gateway spreads requests
    const HttpResponse r =
        http_post(nginx_port, "/v1/completions", json{{"prompt", "hi " + std::to_string(i)}, {"max_tokens", 2}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    upstreams.insert(r.header("x-hayate-upstream"));
  }
  EXPECT_EQ(upstreams.size(), 2u);
  const std::string greedy = json{{"prompt", "the same question"}, {"max_tokens", 3}, {"temperature", 0}}.dump();
  const HttpResponse first = http_post(nginx_port, "/v1/completions", greedy);
  ASSERT_EQ(first.status, 200) << first.body;
  int hits = 0;
  for (int i = 0; i < 4; ++i)
    hits += http_post(nginx_port, "/v1/completions", greedy).header("x-hayate-cache") == "hit";
  EXPECT_EQ(hits, 4);  // whichever gateway nginx picked
}

}  // namespace
}  // namespace hayate::test
