// The exact response cache of `hayate serve` (--cache): a deterministic request answered twice is
// computed once (the engine's counters do not move for the second), a random one never comes
// from the cache, a Redis cache is shared by two servers and its loss is no error to a client,
// and a memory cache kept in a file survives a restart.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/server_harness.h"
#include "support/services.h"

namespace hayate::test {
namespace {

using nlohmann::json;

json chat(const std::string& user, json extra) {
  json body = {{"messages", {{{"role", "user"}, {"content", user}}}}, {"max_tokens", 6}};
  body.update(extra);
  return body;
}

// The sum of a metric over its labels (0 when absent).
double total(const std::map<std::string, double>& m, const std::string& name) {
  double sum = 0;
  for (const auto& [k, v] : m)
    if (k == name || k.rfind(name + "{", 0) == 0) sum += v;
  return sum;
}

double finished(const ServerProcess& s) { return total(s.metrics(), "hayate_sequences_finished_total"); }

// What must be equal between a computed answer and its cached copy (the id and time are new).
json answer_of(const HttpResponse& r) {
  json j = json::parse(r.body);
  return {{"choices", j["choices"]}, {"usage", j["usage"]}, {"model", j["model"]}, {"object", j["object"]}};
}

TEST(ServerCache, ADeterministicRequestIsComputedOnceAndServedFromTheCache) {
  ServerProcess server({"--cache", "memory"});
  const json body = chat("the same question", {{"temperature", 0}});
  const HttpResponse first = http_post(server.port(), "/v1/chat/completions", body.dump());
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("x-hayate-cache"), "");
  const double computed = finished(server);
  const double prompt_tokens = total(server.metrics(), "hayate_prompt_tokens_total");
  EXPECT_EQ(computed, 1);

  // The same request with its fields in another order, another `user` and the model named.
  json again = json::parse(R"({"max_tokens": 6, "user": "someone else"})");
  again["messages"] = body["messages"];
  again["temperature"] = 0;
  const HttpResponse second = http_post(server.port(), "/v1/chat/completions", again.dump());
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.header("x-hayate-cache"), "hit");
  EXPECT_EQ(answer_of(second), answer_of(first));
  EXPECT_NE(json::parse(second.body)["id"], json::parse(first.body)["id"]);
  const auto m = server.metrics();
  EXPECT_EQ(total(m, "hayate_sequences_finished_total"), computed) << "the engine ran for a cached answer";
  EXPECT_EQ(total(m, "hayate_prompt_tokens_total"), prompt_tokens);
  EXPECT_EQ(m.at("hayate_cache_hits_total{cache=\"response\"}"), 1);
  EXPECT_EQ(m.at("hayate_cache_misses_total{cache=\"response\"}"), 1);
  EXPECT_EQ(m.at("hayate_cache_entries{cache=\"response\"}"), 1);
  EXPECT_GT(m.at("hayate_cache_bytes{cache=\"response\"}"), 0);
  EXPECT_EQ(m.at("hayate_cache_lookup_seconds_count{cache=\"response\"}"), 2);

  // A fixed seed is deterministic too; completions have their own entries.
  const json seeded = chat("seeded", {{"temperature", 1}, {"seed", 7}});
  ASSERT_EQ(http_post(server.port(), "/v1/chat/completions", seeded.dump()).status, 200);
  EXPECT_EQ(http_post(server.port(), "/v1/chat/completions", seeded.dump()).header("x-hayate-cache"), "hit");
  const json completion = {{"prompt", "once upon"}, {"max_tokens", 4}, {"temperature", 0}};
  const HttpResponse c1 = http_post(server.port(), "/v1/completions", completion.dump());
  const HttpResponse c2 = http_post(server.port(), "/v1/completions", completion.dump());
  ASSERT_EQ(c1.status, 200) << c1.body;
  EXPECT_EQ(c1.header("x-hayate-cache"), "");
  EXPECT_EQ(c2.header("x-hayate-cache"), "hit");
  EXPECT_EQ(answer_of(c2), answer_of(c1));
  EXPECT_EQ(finished(server), computed + 2);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServerCache, ARandomOrStreamedRequestIsNeverCached) {
  ServerProcess server({"--cache", "memory"});
  const json random = chat("a random answer", {{"temperature", 1}});
  for (int i = 0; i < 2; ++i) {
    const HttpResponse r = http_post(server.port(), "/v1/chat/completions", random.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-hayate-cache"), "");
  }
  const json streamed = chat("streamed", {{"temperature", 0}, {"stream", true}});
  for (int i = 0; i < 2; ++i) {
    const HttpResponse r = http_post(server.port(), "/v1/chat/completions", streamed.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-hayate-cache"), "");
  }
  const auto m = server.metrics();
  EXPECT_EQ(total(m, "hayate_sequences_finished_total"), 4);
  EXPECT_EQ(m.at("hayate_cache_entries{cache=\"response\"}"), 0);
  EXPECT_EQ(m.at("hayate_cache_hits_total{cache=\"response\"}") + m.at("hayate_cache_misses_total{cache=\"response\"}"),
            0);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServerCache, RedisIsSharedByTwoServersAndItsLossIsNoError) {
  if (RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh installs it)";
  RedisServer redis;
  ServerProcess a({"--cache", redis.url()}), b({"--cache", redis.url()});
  const json body = chat("shared", {{"temperature", 0}});
  const HttpResponse computed = http_post(a.port(), "/v1/chat/completions", body.dump());
  ASSERT_EQ(computed.status, 200) << computed.body;
  const HttpResponse cached = http_post(b.port(), "/v1/chat/completions", body.dump());
  ASSERT_EQ(cached.status, 200) << cached.body;
  EXPECT_EQ(cached.header("x-hayate-cache"), "hit");
  EXPECT_EQ(answer_of(cached), answer_of(computed));
  EXPECT_EQ(finished(b), 0);
  EXPECT_EQ(b.metrics().at("hayate_cache_available{cache=\"response\"}"), 1);
  const CommandResult stats = run_command(kHayate + " cache stats --store " + redis.url());
  EXPECT_EQ(stats.exit_code, 0);
  EXPECT_NE(stats.output.find("response: 1 entries"), std::string::npos) << stats.output;

  redis.stop();
  const HttpResponse without = http_post(b.port(), "/v1/chat/completions", body.dump());
  ASSERT_EQ(without.status, 200) << without.body;
  EXPECT_EQ(without.header("x-hayate-cache"), "");
  EXPECT_EQ(answer_of(without), answer_of(computed));
  EXPECT_EQ(finished(b), 1);
  EXPECT_EQ(b.metrics().at("hayate_cache_available{cache=\"response\"}"), 0);
  EXPECT_NE(b.log().find("unreachable"), std::string::npos) << b.log();
  EXPECT_EQ(a.stop(), 0);
  EXPECT_EQ(b.stop(), 0);
}

TEST(ServerCache, AMemoryCacheKeptInAFileSurvivesARestart) {
  const std::string path = temp_path("responses.cache." + std::to_string(::getpid()));
  std::filesystem::remove(path);
  const json body = chat("remembered", {{"temperature", 0}});
  HttpResponse computed;
  {
    ServerProcess server({"--cache", "memory", "--cache-persist", path});
    computed = http_post(server.port(), "/v1/chat/completions", body.dump());
    ASSERT_EQ(computed.status, 200) << computed.body;
    EXPECT_EQ(server.stop(), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  ServerProcess server({"--cache", "memory", "--cache-persist", path});
  const HttpResponse cached = http_post(server.port(), "/v1/chat/completions", body.dump());
  EXPECT_EQ(cached.header("x-hayate-cache"), "hit");
  EXPECT_EQ(answer_of(cached), answer_of(computed));
  EXPECT_EQ(server.stop(), 0);

  // `hayate cache` reads and empties the same file.
  const CommandResult stats = run_command(kHayate + " cache stats --file " + path);
  EXPECT_EQ(stats.exit_code, 0);
  EXPECT_NE(stats.output.find("response: 1 entries"), std::string::npos) << stats.output;
  const CommandResult cleared = run_command(kHayate + " cache clear --file " + path);
  EXPECT_EQ(cleared.exit_code, 0);
  EXPECT_NE(cleared.output.find("cleared 1 entries"), std::string::npos) << cleared.output;
  EXPECT_NE(run_command(kHayate + " cache stats --file " + path).output.find("response: 0 entries"), std::string::npos);
  const CommandResult no_file = run_command(kHayate + " cache stats 2>&1");
  EXPECT_NE(no_file.exit_code, 0);
  EXPECT_NE(no_file.output.find("--cache-persist"), std::string::npos) << no_file.output;
}

TEST(ServerCache, AnUnknownStoreIsRefusedAtStart) {
  ServerProcess server({"--cache", "memcached://127.0.0.1:11211"}, {}, false);
  const std::optional<int> code = server.wait_exit(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(server.log().find("memcached://127.0.0.1:11211"), std::string::npos) << server.log();
  EXPECT_NE(server.log().find("redis://HOST:PORT"), std::string::npos) << server.log();
}

}  // namespace
}  // namespace hayate::test
