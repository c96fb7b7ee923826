// A bounded loopback load test of the real `hayate serve`: 64 concurrent streaming clients send
// 2,000 chat requests (every 7th cancelled midway by closing its socket), and afterwards there
// must be no 5xx, every other stream well-formed and ending in [DONE], no KV block still held by
// a sequence, and the server's resident memory within 5% of where it was after a warm-up.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "integration/server_harness.h"
#include "support/sse_load_client.h"

namespace hayate::test {
namespace {

using nlohmann::json;
using M = std::map<std::string, double>;

// The server's resident set (VmRSS of /proc/PID/status), in KiB.
int64_t resident_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  throw std::runtime_error("no VmRSS for process " + std::to_string(pid));
}

// Half the requests share a system prompt (prefix-cache hits), the rest differ from the first
// bytes; cancelled ones ask for many tokens so that they are still running when the client leaves.
LoadPlan plan_for(int port, int requests) {
  LoadPlan p;
  p.port = port;
  p.concurrency = 64;
  p.requests = requests;
  p.cancel = [](int i) { return i % 7 == 3; };
  p.body = [cancel = p.cancel](int i) {
    json messages = json::array();
    if (i % 2 == 0)
      messages.push_back(
          {{"role", "system"}, {"content", "You are a terse assistant of the load test; answer briefly."}});
    messages.push_back({{"role", "user"}, {"content", "Question " + std::to_string(i) + ": what comes next?"}});
    json body = {{"messages", messages},
                 {"stream", true},
                 {"max_tokens", cancel(i) ? 400 : 4 + i % 9},
                 {"temperature", i % 3 == 0 ? 0.0 : 0.8},
                 {"seed", i}};
    if (i % 5 == 0) body["stream_options"] = {{"include_usage", true}};
    return body.dump();
  };
  return p;
}

std::string describe(const LoadReport& r) {
  std::string s = "sent " + std::to_string(r.sent) + ", completed " + std::to_string(r.completed) + ", cancelled " +
                  std::to_string(r.cancelled) + ", statuses:";
  // Appended piece by piece: g++ 12 reports a false -Wrestrict for " " + std::to_string(...) here.
  for (const auto& [status, n] : r.by_status)
    s.append(" ").append(std::to_string(status)).append("x").append(std::to_string(n));
  for (const std::string& p : r.problems) s += "\n  " + p;
  return s;
}

// Waits (up to 10 s) for the server to have nothing running, then returns its metrics.
M settled(ServerProcess& s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  M m = s.metrics();
  while (std::chrono::steady_clock::now() < deadline &&
         (m["hayate_running_sequences"] != 0 || m["hayate_queue_depth"] != 0 || m["hayate_kv_blocks_active"] != 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m = s.metrics();
  }
  return m;
}

void expect_clean(const LoadReport& r, int requests) {
  EXPECT_EQ(r.sent, requests) << describe(r);
  EXPECT_EQ(r.server_errors, 0) << describe(r);
  EXPECT_EQ(r.malformed, 0) << describe(r);
  EXPECT_EQ(r.without_done, 0) << describe(r);
  EXPECT_EQ(r.hung, 0) << describe(r);
  EXPECT_EQ(r.transport_errors, 0) << describe(r);
  int cancelled = 0;
  for (int i = 0; i < requests; ++i) cancelled += i % 7 == 3;
  EXPECT_EQ(r.cancelled, cancelled) << describe(r);
  EXPECT_EQ(r.completed, requests - cancelled) << describe(r);
  EXPECT_EQ(r.by_status.size(), 1u) << "every response is 200: " << describe(r);
}

TEST(ServerLoad, SixtyFourStreamingClientsTwoThousandRequests) {
  ServerProcess s({"--max-running", "32", "--http-threads", "2"});
  const std::string cancelled = "hayate_sequences_finished_total{reason=\"cancelled\"}";

  // Warm-up: allocator pools, the prefix cache and every KV page reach their working size.
  const LoadReport warm = run_load(plan_for(s.port(), 400));
  expect_clean(warm, 400);
  const M before = settled(s);
  const int64_t rss_before = resident_kib(s.pid());
  ASSERT_EQ(before.at("hayate_kv_blocks_active"), 0) << "blocks held after the warm-up";

  const int kRequests = 2000;
  const LoadReport r = run_load(plan_for(s.port(), kRequests));
  std::cout << "[load] " << kRequests << " streaming requests, 64 clients: " << r.seconds << " s ("
            << kRequests / r.seconds << " requests/s); " << describe(r) << "\n";
  expect_clean(r, kRequests);
  EXPECT_LT(r.seconds, 100) << "the load should take well under the test's bound";

  const M after = settled(s);
  const int64_t rss_after = resident_kib(s.pid());
  // No KV block is held by a sequence: every used block is one only the prefix cache holds.
  EXPECT_EQ(after.at("hayate_running_sequences"), 0);
  EXPECT_EQ(after.at("hayate_queue_depth"), 0);
  EXPECT_EQ(after.at("hayate_kv_blocks_active"), 0) << "leaked KV blocks";
  EXPECT_EQ(after.at("hayate_kv_blocks_used"), after.at("hayate_kv_blocks_cached"));
  EXPECT_EQ(after.at("hayate_kv_blocks_free") + after.at("hayate_kv_blocks_used"),
            before.at("hayate_kv_blocks_free") + before.at("hayate_kv_blocks_used"));
  // (Not /health: the harness polled it while the model loaded, which is a 503 by design.)
  for (const auto& [name, value] : after) {
    if (name.rfind("hayate_requests_total{route=\"/v1/chat/completions\"", 0) == 0 &&
        name.find("status=\"5") != std::string::npos) {
      EXPECT_EQ(value, 0) << name;
    }
  }
  // Most cancelled streams were still generating when their client left (a few may have reached
  // their 400 tokens first under load); the engine ended them as cancelled.
  const double engine_cancelled = after.at(cancelled) - before.at(cancelled);
  EXPECT_GE(engine_cancelled, 0.8 * r.cancelled) << describe(r);
  EXPECT_LE(engine_cancelled, r.cancelled);
  EXPECT_GT(after.at("hayate_prefix_cache_hit_tokens_total"), before.at("hayate_prefix_cache_hit_tokens_total"))
      << "the shared system prompt should be served from the prefix cache";

  const double growth = static_cast<double>(rss_after - rss_before) / static_cast<double>(rss_before);
  std::cout << "[load] resident memory after warm-up " << rss_before << " KiB, after the load " << rss_after << " KiB ("
            << growth * 100 << "%)\n";
  EXPECT_LE(std::abs(growth), 0.05) << "resident memory moved more than 5%";
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace hayate::test
