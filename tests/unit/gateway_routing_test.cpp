// The gateway's configuration, circuit breaker, prefix affinity, replica choice and access rules,
// without a network (tests/integration/server_gateway_test.cpp runs the real processes).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.h"
#include "gateway/access.h"
#include "gateway/config.h"
#include "gateway/upstreams.h"

namespace hayate::gateway {
namespace {

const char* kTwoModels = R"(
retries = 1
eject_failures = 2
eject_seconds = 1
eject_max_seconds = 4
[[upstreams]]
name = "a"
url = "http://127.0.0.1:1/v1"
model = "big"
[[upstreams]]
name = "b"
url = "http://127.0.0.1:2"
model = "big"
[[upstreams]]
url = "http://127.0.0.1:3"
model = "small"
[[models]]
name = "big"
aliases = ["gpt-4o"]
fallback = ["small"]
[[keys]]
key = "secret-key-1"
token_quota = 100
)";

std::string error_of(const std::string& toml) {
  try {
    parse_gateway_config(toml, "gw.toml");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  return "";
}

TEST(GatewayConfig, ReadsUpstreamsModelsAndKeys) {
  const GatewayConfig c = parse_gateway_config(kTwoModels, "gw.toml");
  ASSERT_EQ(c.upstreams.size(), 3u);
  EXPECT_EQ(c.upstreams[2].name, "127.0.0.1:3");  // the default name
  EXPECT_EQ(c.retries, 1);
  EXPECT_EQ(c.keys.at(0).name, "key1");
  EXPECT_EQ(resolve_model(c, "gpt-4o"), "big");
  EXPECT_EQ(resolve_model(c, "small"), "small");
  EXPECT_EQ(resolve_model(c, "nope"), "");
}

TEST(GatewayConfig, SaysWhatIsWrong) {
  const std::string up = "[[upstreams]]\nurl = \"http://127.0.0.1:1\"\nmodel = \"m\"\n";
  EXPECT_NE(error_of("port = 1\n").find("no [[upstreams]]"), std::string::npos);
  EXPECT_NE(error_of(up + "colour = 1\n").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(error_of("retries = \"x\"\n" + up).find("retries must be an integer"), std::string::npos);
  EXPECT_NE(error_of("retries = -1\n" + up).find("retries must be in [0, 100]"), std::string::npos);
  EXPECT_NE(error_of("port = \n").find("gw.toml:1"), std::string::npos);
  EXPECT_NE(error_of(up + "[[models]]\nname = \"m\"\nfallback = [\"x\"]\n").find("no upstream serves"),
            std::string::npos);
  EXPECT_NE(error_of(up + up).find("two upstreams are named"), std::string::npos);
  EXPECT_NE(error_of(up + "[[keys]]\nkey = \"short\"\n").find("fewer than 8"), std::string::npos);
  EXPECT_NE(error_of("host = \"0.0.0.0\"\n" + up).find("without [[keys]]"), std::string::npos);
  EXPECT_NE(error_of("[[upstreams]]\nurl = \"ftp://x\"\nmodel = \"m\"\n").find("the scheme 'ftp' is not supported"),
            std::string::npos);
  // https upstreams are reached over TLS (net's client verifies their certificate).
  const GatewayConfig tls = parse_gateway_config("[[upstreams]]\nurl = \"https://x\"\nmodel = \"m\"\n", "gw.toml");
  EXPECT_EQ(tls.upstreams.at(0).name, "x:443");
}

UpstreamConfig upstream(const std::string& name) {
  // Built whole: assigning the literals one by one draws a false -Wrestrict from g++ 12 here.
  return UpstreamConfig{name, std::string("http://127.0.0.1:1"), std::string("m"), {}, {}};
}

TEST(GatewayUpstream, EjectsAfterFailuresInARowAndDoublesTheTime) {
  GatewayConfig policy;
  policy.eject_failures = 2;
  policy.eject_seconds = 1;
  policy.eject_max_seconds = 3;
  Upstream u(upstream("a"), net::Endpoint{});
  const auto t0 = Clock::now();
  EXPECT_FALSE(u.failed(t0, policy));
  u.succeeded();  // a success in between resets the count
  EXPECT_FALSE(u.failed(t0, policy));
  EXPECT_TRUE(u.failed(t0, policy));
  EXPECT_EQ(u.state(t0), Upstream::State::Ejected);
  EXPECT_FALSE(u.selectable(t0 + std::chrono::milliseconds(900)));
  // Half-open after a second: one trial at a time.
  const auto t1 = t0 + std::chrono::milliseconds(1100);
  EXPECT_EQ(u.state(t1), Upstream::State::HalfOpen);
  EXPECT_TRUE(u.claim(t1));
  EXPECT_FALSE(u.claim(t1));
  EXPECT_TRUE(u.failed(t1, policy));  // the trial failed: ejected again, for 2 s
  EXPECT_FALSE(u.selectable(t1 + std::chrono::milliseconds(1900)));
  EXPECT_TRUE(u.selectable(t1 + std::chrono::milliseconds(2100)));
  EXPECT_TRUE(u.claim(t1 + std::chrono::milliseconds(2100)));
  u.succeeded();
  EXPECT_EQ(u.state(t1), Upstream::State::Up);
  EXPECT_EQ(u.ejections(), 2);
}

TEST(GatewayUpstream, HealthChecksTakeOutAndReadmit) {
  GatewayConfig policy;
  policy.eject_failures = 1;
  policy.eject_seconds = 1;
  Upstream u(upstream("a"), net::Endpoint{});
  const auto t0 = Clock::now();
  EXPECT_TRUE(u.health_checked(false, t0));
  EXPECT_EQ(u.state(t0), Upstream::State::Unhealthy);
  EXPECT_FALSE(u.selectable(t0));
  EXPECT_TRUE(u.health_checked(true, t0));
  EXPECT_TRUE(u.selectable(t0));
  // Ejected by a failure: a passing check re-admits it only once the ejection time is over.
  EXPECT_TRUE(u.failed(t0, policy));
  EXPECT_FALSE(u.health_checked(true, t0 + std::chrono::milliseconds(500)));
  EXPECT_EQ(u.state(t0 + std::chrono::milliseconds(500)), Upstream::State::Ejected);
  EXPECT_TRUE(u.health_checked(true, t0 + std::chrono::milliseconds(1500)));
  EXPECT_EQ(u.state(t0 + std::chrono::milliseconds(1500)), Upstream::State::Up);
}

TEST(GatewayAffinity, LongestKnownPrefixWinsAndTheTableIsBounded) {
  const std::string prompt(1000, 'x');
  const auto h = prefix_hashes("m", prompt, 256);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_NE(prefix_hashes("other", prompt, 256), h);  // models never share entries
  EXPECT_TRUE(prefix_hashes("m", "short", 256).empty());
  AffinityTable t(4);
  t.record(prefix_hashes("m", prompt.substr(0, 600), 256), "a");  // two blocks
  EXPECT_EQ(t.lookup(h), "a");
  t.record(h, "b");
  EXPECT_EQ(t.lookup(h), "b");
  EXPECT_EQ(t.size(), 3u);
  t.record(prefix_hashes("m", std::string(600, 'y'), 256), "c");
  EXPECT_EQ(t.size(), 4u);  // the least recent dropped
  EXPECT_EQ(t.lookup(prefix_hashes("m", std::string(600, 'y'), 256)), "c");
}

TEST(GatewayPick, AffinityUnlessTooBusyElseLeastOutstanding) {
  Upstream a(upstream("a"), net::Endpoint{}), b(upstream("b"), net::Endpoint{});
  ModelRoute route{"m", {&a, &b}, {}};
  AffinityTable table(100);
  const auto hashes = prefix_hashes("m", std::string(600, 'p'), 256);
  const auto now = Clock::now();
  table.record(hashes, "b");
  a.begin();
  Pick p = pick_replica(route, {}, {}, table, 8, now);
  EXPECT_EQ(p.upstream, &b);  // least outstanding
  EXPECT_FALSE(p.affinity);
  b.begin();
  b.begin();
  p = pick_replica(route, hashes, {}, table, 8, now);
  EXPECT_EQ(p.upstream, &b);  // its prefix, though busier
  EXPECT_TRUE(p.affinity);
  p = pick_replica(route, hashes, {}, table, 0, now);
  EXPECT_EQ(p.upstream, &a);  // busier than the slack allows
  p = pick_replica(route, {}, {&a}, table, 8, now);
  EXPECT_EQ(p.upstream, &b);  // not the one already tried
  GatewayConfig policy;
  policy.eject_failures = 1;
  a.failed(now, policy);
  b.failed(now, policy);
  EXPECT_EQ(pick_replica(route, {}, {}, table, 8, now).upstream, nullptr);
}

TEST(GatewayAccess, KeysRateLimitsAndQuotas) {
  GatewayConfig c = parse_gateway_config(kTwoModels, "gw.toml");
  c.keys[0].rate_limit_rpm = 60;
  c.keys[0].rate_limit_burst = 2;
  c.cors_origins = {"https://app.example"};
  Access access(c);
  const auto t0 = Clock::now();
  EXPECT_EQ(access.admit("", "1.2.3.4", t0).status, 401);
  EXPECT_EQ(access.admit("Bearer wrong-key-9", "1.2.3.4", t0).status, 401);
  EXPECT_EQ(access.admit("Bearer secret-key-1", "1.2.3.4", t0).status, 0);
  EXPECT_EQ(access.admit("Bearer secret-key-1", "1.2.3.4", t0).status, 0);
  const Admission limited = access.admit("Bearer secret-key-1", "1.2.3.4", t0);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.code, "rate_limit_exceeded");
  EXPECT_GT(limited.retry_after, 0);
  const auto t1 = t0 + std::chrono::seconds(1);  // one more request per second
  EXPECT_EQ(access.admit("Bearer secret-key-1", "1.2.3.4", t1).status, 0);
  access.charge("key1", 100, t1);
  const Admission spent = access.admit("Bearer secret-key-1", "1.2.3.4", t1 + std::chrono::seconds(5));
  EXPECT_EQ(spent.status, 429);
  EXPECT_EQ(spent.code, "insufficient_quota");
  EXPECT_EQ(access.cors_origin("https://app.example"), "https://app.example");
  EXPECT_EQ(access.cors_origin("https://evil.example"), "");
}

}  // namespace
}  // namespace hayate::gateway

namespace hayate::gateway {
namespace {

// The config parser on mutated configurations (bytes flipped, inserted, dropped, lines repeated):
// each must parse into a checked configuration or throw Error, never crash or throw anything
// else. Deterministic (a fixed seed), so a failure reproduces; the ASan pass runs it too.
// (libFuzzer cannot build net/ with this clang, whose coroutines Boost.Asio 1.74 does not see.)
TEST(GatewayConfigFuzz, MutatedFilesParseOrSayWhy) {
  std::vector<std::string> seeds;
  for (const char* name : {"basic.toml", "full.toml"}) {
    std::ifstream f(std::string(HAYATE_TESTDATA) + "/gateway/" + name);
    seeds.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    ASSERT_FALSE(seeds.back().empty()) << name;
  }
  const std::string alphabet = std::string("[]{}=\"'#\n ,.:0123456789abcdefghijklmnopqrstuvwxyz_-\\\xff\xc3") + '\0';
  std::mt19937 rng(1234);
  int parsed = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = seeds[static_cast<size_t>(i) % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0:
          text[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          text.erase(at, 1 + rng() % 8);
          break;
        default: {  // the line holding `at` twice
          const size_t nl = text.rfind('\n', at);
          const size_t start = nl == std::string::npos ? 0 : nl + 1;
          const size_t end =
              std::min(text.size(), text.find('\n', at) == std::string::npos ? text.size() : text.find('\n', at) + 1);
          std::string out;
          out.append(text, 0, end);
          out.append(text, start, end - start);
          out.append(text, end, std::string::npos);
          text.swap(out);
        }
      }
    }
    try {
      const GatewayConfig c = parse_gateway_config(text, "mutated.toml");
      ASSERT_FALSE(c.upstreams.empty());
      for (const UpstreamConfig& u : c.upstreams) ASSERT_EQ(resolve_model(c, u.model), u.model);
      for (const ModelConfig& m : c.models)
        for (const std::string& a : m.aliases) ASSERT_EQ(resolve_model(c, a), m.name);
      ++parsed;
    } catch (const Error& e) {
      ASSERT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
      ASSERT_NE(std::string(e.what()).find("mutated.toml"), std::string::npos) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(parsed, 100);  // the mutations are not all fatal: checks past the syntax are reached
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace hayate::gateway
