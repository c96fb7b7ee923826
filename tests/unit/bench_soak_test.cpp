// The soak's bookkeeping (bench/soak.h): the end-of-run judgement fails on each thing issue 22
// asks of a soak (a 5xx, a hung stream, RSS growth after warm-up, KV blocks left, TTFT drift), and
// a run saved to its state file resumes with the same ledger, or refuses a state of another run.
#include <gtest/gtest.h>

#include <fstream>

#include "bench/soak.h"
#include "core/error.h"
#include "support/test_util.h"

namespace hayate::bench {
namespace {

RequestResult ok_request(double start_s, double ttft_ms) {
  RequestResult r;
  r.start_s = start_s;
  r.end_s = start_s + 1;
  r.ttft_ms = ttft_ms;
  r.e2e_ms = ttft_ms + 100;
  r.completion_tokens = 10;
  r.prompt_tokens = 5;
  return r;
}

// A 1,000 s run with windows of 100 s: TTFT `first` ms early, `last` ms late.
SoakLedger steady_ledger(double first, double last) {
  SoakLedger l(100);
  for (int t = 0; t < 1000; ++t) l.add(ok_request(t, t < 500 ? first : last));
  return l;
}

std::vector<Snapshot> rss_snapshots(std::vector<uint64_t> rss_mib) {
  std::vector<Snapshot> out;
  for (size_t i = 0; i < rss_mib.size(); ++i) {
    Snapshot s;
    s.t_s = 100.0 * static_cast<double>(i + 1);
    s.server.rss_bytes = rss_mib[i] << 20;
    s.server.open_fds = 30;
    out.push_back(s);
  }
  return out;
}

std::optional<bool> verdict(const std::vector<SoakCheck>& checks, const std::string& name) {
  for (const SoakCheck& c : checks)
    if (c.name == name) return c.passed;
  ADD_FAILURE() << "no check " << name;
  return std::nullopt;
}

SoakLimits limits() {
  SoakLimits l;
  l.warmup_s = 250;
  l.window_s = 100;
  return l;
}

TEST(Soak, AHealthyRunPassesEveryCheck) {
  const auto checks = judge_soak(
      steady_ledger(50, 55), rss_snapshots({200, 300, 400, 401, 401, 402, 400, 401, 402, 402}), 0.0, 1000, limits());
  for (const SoakCheck& c : checks) EXPECT_EQ(c.passed, true) << c.name << ": " << c.detail;
}

TEST(Soak, EachFaultFailsItsCheck) {
  SoakLedger bad = steady_ledger(50, 55);
  RequestResult five = ok_request(10, 1);
  five.outcome = Outcome::Http5xx;
  bad.add(five);
  RequestResult hung = ok_request(20, 1);
  hung.outcome = Outcome::Timeout;
  bad.add(hung);
  const auto checks = judge_soak(bad, rss_snapshots({200, 300, 400, 405, 410, 420}), 3.0, 1000, limits());
  EXPECT_EQ(verdict(checks, "no_5xx"), false);
  EXPECT_EQ(verdict(checks, "no_hung_streams"), false);
  EXPECT_EQ(verdict(checks, "rss_flat"), false);  // +5% after warm-up (the growth before it is not judged)
  EXPECT_EQ(verdict(checks, "kv_blocks_zero"), false);
  EXPECT_EQ(verdict(judge_soak(steady_ledger(50, 70), {}, 0.0, 1000, limits()), "ttft_p99_stable"), false);  // +40%
}

TEST(Soak, WhatCannotBeJudgedIsSaidSo) {
  // No --pid (no memory figures), no hayate metrics, a run shorter than two windows.
  SoakLedger short_run(100);
  for (int t = 0; t < 150; ++t) short_run.add(ok_request(t, 50));
  const auto checks = judge_soak(short_run, {}, std::nullopt, 150, limits());
  EXPECT_EQ(verdict(checks, "rss_flat"), std::nullopt);
  EXPECT_EQ(verdict(checks, "kv_blocks_zero"), std::nullopt);
  EXPECT_EQ(verdict(checks, "ttft_p99_stable"), std::nullopt);
  EXPECT_EQ(verdict(checks, "no_5xx"), true);
}

TEST(Soak, StateRoundTripAndIdentity) {
  const std::string path = test::temp_path("soak-state.json");
  const nlohmann::json identity = {{"url", "http://127.0.0.1:1"}, {"concurrency", 20}};
  SoakState st;
  st.identity = identity;
  st.elapsed_s = 1000;
  st.ledger = steady_ledger(50, 55);
  st.snapshots = rss_snapshots({200, 300, 400});
  save_soak_state(path, st);

  const SoakState back = load_soak_state(path, identity, 100);
  EXPECT_EQ(back.elapsed_s, 1000);
  ASSERT_EQ(back.snapshots.size(), 3u);
  EXPECT_EQ(back.snapshots[2].server.rss_bytes, uint64_t{400} << 20);
  const RunFigures a = st.ledger.figures(1000), b = back.ledger.figures(1000);
  EXPECT_EQ(a.sent, b.sent);
  EXPECT_EQ(a.ok, b.ok);
  EXPECT_EQ(a.output_tokens, b.output_tokens);
  EXPECT_EQ(a.ttft.p99, b.ttft.p99);
  EXPECT_EQ(st.ledger.last_window_ttft(1000), back.ledger.last_window_ttft(1000));
  EXPECT_EQ(st.ledger.first_window_ttft(), back.ledger.first_window_ttft());

  try {
    load_soak_state(path, {{"url", "http://127.0.0.1:1"}, {"concurrency", 8}}, 100);
    ADD_FAILURE() << "a state of another run should be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("concurrency"), std::string::npos) << e.what();
  }
  std::ofstream(path) << "{\"schema\": \"something else\"}";
  EXPECT_THROW(load_soak_state(path, identity, 100), Error);
  EXPECT_THROW(load_soak_state(path + ".missing", identity, 100), Error);
}

TEST(Soak, ReservoirKeepsAUniformSampleOfBoundedSize) {
  Reservoir r(100, 7);
  for (int i = 0; i < 100000; ++i) r.add(i);
  EXPECT_EQ(r.values().size(), 100u);
  EXPECT_EQ(r.seen(), 100000u);
  double mean = 0;
  for (double v : r.values()) mean += v / 100;
  EXPECT_NEAR(mean, 50000, 10000);  // a uniform sample's mean; the first 100 alone would give 49.5
  // Resumed from its state, it samples on as the uninterrupted one does.
  Reservoir a(100, 7), b(100, 7);
  for (int i = 0; i < 500; ++i) a.add(i);
  b.from_json(a.to_json());
  for (int i = 500; i < 1000; ++i) {
    a.add(i);
    b.add(i);
  }
  EXPECT_EQ(a.values(), b.values());
}

}  // namespace
}  // namespace hayate::bench
