// The benchmark programme's workloads (issue 23): the long story, the retention chat and its
// score, the seed's ladder, and the resource summary (energy per token, tokens/s per GB).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/serve_bench.h"
#include "bench/serve_workload.h"
#include "core/error.h"

namespace hayate::bench {
namespace {

nlohmann::json body_of(const StreamRequest& r) { return nlohmann::json::parse(r.body); }

RequestResult ok_answer(const std::string& text) {
  RequestResult r;
  r.outcome = Outcome::Ok;
  r.text = text;
  return r;
}

// The code the last user message of a retention conversation's first turn gives.
std::string code_in(const StreamRequest& first_turn) {
  const std::string text = body_of(first_turn)["messages"].back()["content"];
  const size_t at = text.find("locker code is ");
  EXPECT_NE(at, std::string::npos) << text;
  return text.substr(at + 15, 5);
}

}  // namespace

TEST(BenchSeedWorkloads, LongAsksForATwoThousandTokenStoryIgnoringEos) {
  WorkloadConfig c;
  c.name = "long";
  auto w = make_workload(c, "m");
  const nlohmann::json b = body_of(w->next(0));
  EXPECT_EQ(b["max_tokens"], 2000);
  EXPECT_EQ(b["ignore_eos"], true);
  EXPECT_EQ(b["model"], "m");
  EXPECT_NE(b["messages"][0]["content"].get<std::string>().find("Write a long story"), std::string::npos);
  EXPECT_EQ(workload_default_max_tokens("long"), 2000);
}

TEST(BenchSeedWorkloads, RetentionAsksTheTurnOneFactBackAtTheLastTurnAndScoresIt) {
  WorkloadConfig c;
  c.name = "retention";
  c.turns = 10;
  auto w = make_workload(c, "");
  w->begin_run();
  // Stream 0 remembers, stream 1 forgets; both run ten turns side by side.
  std::string code0, code1;
  for (int turn = 1; turn <= 10; ++turn) {
    const StreamRequest r0 = w->next(0), r1 = w->next(1);
    const nlohmann::json b0 = body_of(r0);
    EXPECT_EQ(b0["messages"].size(), static_cast<size_t>(2 * turn - 1));  // history kept
    if (turn == 1) code0 = code_in(r0), code1 = code_in(r1);
    if (turn == 10) {
      EXPECT_NE(b0["messages"].back()["content"].get<std::string>().find("locker code"), std::string::npos);
    }
    EXPECT_EQ(w->retention()->conversations, 0);  // nothing scored before the last answer
    w->completed(0, ok_answer(turn == 10 ? "Your code is " + code0.substr(0, 2) + " " + code0.substr(2) : "ok"));
    w->completed(1, ok_answer(turn == 10 ? "I do not remember." : "ok"));
  }
  EXPECT_NE(code0, code1);  // each conversation has its own fact
  ASSERT_TRUE(w->retention());
  EXPECT_EQ(w->retention()->conversations, 2);
  EXPECT_EQ(w->retention()->retained, 1);
  EXPECT_DOUBLE_EQ(w->retention()->share(), 0.5);

  // A failed turn starts the conversation again and is not scored; a new run starts from zero.
  w->next(0);
  RequestResult failed;
  failed.outcome = Outcome::Http5xx;
  w->completed(0, failed);
  EXPECT_EQ(body_of(w->next(0))["messages"].size(), 1u);
  w->begin_run();
  EXPECT_EQ(w->retention()->conversations, 0);
}

TEST(BenchSeedWorkloads, RetentionFactsAreDeterministicAndTheMatchToleratesSeparators) {
  const RetentionFact a = retention_fact(42, 3), b = retention_fact(42, 3), c = retention_fact(42, 4);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.name, b.name);
  EXPECT_NE(a.code, c.code);
  ASSERT_EQ(a.code.size(), 5u);
  const RetentionFact f{"Aiko Holm", "48213"};
  EXPECT_TRUE(answer_retains("48213", f));
  EXPECT_TRUE(answer_retains("It is 48,213.", f));
  EXPECT_TRUE(answer_retains("4-8-2-1-3", f));
  EXPECT_FALSE(answer_retains("48312", f));
  EXPECT_FALSE(answer_retains("I cannot recall it.", f));
}

TEST(BenchSeedWorkloads, TheSeedLadderIsOneFiveTenTwenty) {
  EXPECT_EQ(named_ladder("seed"), (std::vector<int>{1, 5, 10, 20}));
  try {
    named_ladder("huge");
    FAIL() << "an unknown ladder was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("seed"), std::string::npos) << e.what();
  }
}

TEST(BenchSeedWorkloads, ResourceSummaryGivesEnergyPerTokenAndTokensPerGb) {
  std::vector<ResourceSample> s(3);
  for (size_t i = 0; i < s.size(); ++i) {
    s[i].t_s = static_cast<double>(i);
    s[i].rss_bytes = 1'000'000'000;
    s[i].cpu_time_s = 10.0 + 1.5 * static_cast<double>(i);
    s[i].gpu_mem_bytes = 2'000'000'000 + i * 500'000'000;
    s[i].gpu_util_pct = 50;
    s[i].gpu_mem_util_pct = 20 + 10 * static_cast<double>(i);
    s[i].gpu_temp_c = 40 + 5 * static_cast<double>(i);
  }
  s[0].gpu_power_w = 100, s[1].gpu_power_w = 300, s[2].gpu_power_w = 300;
  // Time-weighted: (100+300)/2 over the first second, 300 over the second: 250 W.
  const ResourceSummary r = summarize_resources(s, 4.0, 500, 125.0);
  ASSERT_TRUE(r.mean_gpu_power_w && r.energy_j && r.energy_per_output_token_j);
  EXPECT_DOUBLE_EQ(*r.mean_gpu_power_w, 250.0);
  EXPECT_DOUBLE_EQ(*r.energy_j, 1000.0);  // 250 W x 4 s
  EXPECT_DOUBLE_EQ(*r.energy_per_output_token_j, 2.0);
  EXPECT_EQ(*r.peak_gpu_mem_bytes, 3'000'000'000u);
  EXPECT_DOUBLE_EQ(*r.peak_gpu_temp_c, 50.0);
  EXPECT_DOUBLE_EQ(*r.mean_gpu_mem_util_pct, 30.0);
  EXPECT_DOUBLE_EQ(*r.cpu_time_s, 3.0);
  EXPECT_EQ(r.memory_basis, "gpu");
  EXPECT_DOUBLE_EQ(*r.output_tokens_per_s_per_gb, 125.0 / 3.0);
}

TEST(BenchSeedWorkloads, WithoutAGpuTheGpuFiguresAreAbsentNotZero) {
  std::vector<ResourceSample> s(2);
  s[0].rss_bytes = 500'000'000, s[1].rss_bytes = 250'000'000;
  s[1].t_s = 1;
  const ResourceSummary r = summarize_resources(s, 2.0, 100, 50.0);
  EXPECT_FALSE(r.mean_gpu_power_w);
  EXPECT_FALSE(r.energy_j);
  EXPECT_FALSE(r.energy_per_output_token_j);
  EXPECT_FALSE(r.peak_gpu_temp_c);
  EXPECT_FALSE(r.peak_gpu_mem_bytes);
  EXPECT_EQ(r.memory_basis, "rss");
  EXPECT_DOUBLE_EQ(*r.output_tokens_per_s_per_gb, 100.0);

  ServeBenchResult res;
  res.gpu_note = "libnvidia-ml.so.1 not found (no NVIDIA driver): GPU sampling skipped";
  TargetResult t;
  t.ladder = "seed";
  RunResult run;
  run.mode = "concurrency";
  run.resources = s;
  run.resource_summary = r;
  run.retention = RetentionScore{4, 3};
  t.runs.push_back(run);
  res.targets.push_back(t);
  const nlohmann::json j = nlohmann::json::parse(format_serve_json(res));
  EXPECT_EQ(j["gpu_note"], res.gpu_note);
  EXPECT_EQ(j["targets"][0]["ladder"], "seed");
  const nlohmann::json& rj = j["targets"][0]["runs"][0];
  for (const nlohmann::json& sample : rj["resources"]["samples"])
    for (const char* key : {"gpu_util_pct", "gpu_mem_util_pct", "gpu_mem_bytes", "gpu_power_w", "gpu_temp_c"})
      EXPECT_FALSE(sample.contains(key)) << key;
  EXPECT_FALSE(rj["resource_summary"].contains("energy_per_output_token_j"));
  EXPECT_EQ(rj["resource_summary"]["memory_basis"], "rss");
  EXPECT_DOUBLE_EQ(rj["context_retention"]["score"].get<double>(), 0.75);
}

TEST(BenchSeedWorkloads, MeasuredGpuFieldsAreWrittenWithTheirSummary) {
  ResourceSample g;
  g.gpu_util_pct = 70, g.gpu_mem_util_pct = 35, g.gpu_mem_bytes = 4'000'000'000, g.gpu_power_w = 250, g.gpu_temp_c = 61,
  g.cpu_time_s = 1.5;
  RunResult run;
  run.mode = "concurrency";
  run.resources = {g};
  run.resource_summary = summarize_resources(run.resources, 2.0, 1000, 500.0);
  TargetResult t;
  t.runs.push_back(run);
  ServeBenchResult res;
  res.targets.push_back(t);
  const nlohmann::json j = nlohmann::json::parse(format_serve_json(res));
  EXPECT_TRUE(j["gpu_note"].is_null());
  const nlohmann::json& rj = j["targets"][0]["runs"][0];
  const nlohmann::json& sample = rj["resources"]["samples"][0];
  EXPECT_EQ(sample["gpu_util_pct"], 70);
  EXPECT_EQ(sample["gpu_mem_util_pct"], 35);
  EXPECT_EQ(sample["gpu_mem_bytes"], 4'000'000'000u);
  EXPECT_EQ(sample["gpu_power_w"], 250);
  EXPECT_EQ(sample["gpu_temp_c"], 61);
  EXPECT_EQ(sample["cpu_time_s"], 1.5);
  const nlohmann::json& sum = rj["resource_summary"];
  EXPECT_DOUBLE_EQ(sum["energy_j"].get<double>(), 500.0);  // 250 W x 2 s
  EXPECT_DOUBLE_EQ(sum["energy_per_output_token_j"].get<double>(), 0.5);
  EXPECT_EQ(sum["peak_gpu_temp_c"], 61);
  EXPECT_EQ(sum["memory_basis"], "gpu");
  EXPECT_DOUBLE_EQ(sum["output_tokens_per_s_per_gb"].get<double>(), 125.0);
  EXPECT_FALSE(rj.contains("context_retention"));  // only the retention workload scores
}

}  // namespace hayate::bench
