// The judging half of `hayate report` (issue 23) on hand-made results whose answers are known:
// four configurations measured for speed (bench serve) and quality (eval summaries), so the
// Pareto fronts, the flowchart's three branches and the use-case picks can be worked out by hand.
#include <gtest/gtest.h>

#include "core/error.h"
#include "report/matrix.h"
#include "report/report.h"

namespace hayate::report {
namespace {

// A bench serve file with one target: concurrency 1 and 10 of the story workload, GPU memory
// and energy in the runs' resource summaries.
ResultFile serve(const std::string& label, const std::string& model, double tps1, double tps10, double ttft1,
                 double gpu_gb, double joules) {
  const std::string mem = std::to_string(static_cast<uint64_t>(gpu_gb * 1e9));
  auto run = [&](int c, double tps, double ttft) {
    return R"({"mode": "concurrency", "concurrency": )" + std::to_string(c) +
           R"(, "requests": {"sent": 10, "ok": 10, "errors": {"http_5xx": 0}},
        "throughput": {"output_tokens_per_s": )" +
           std::to_string(tps) + R"(}, "latency_ms": {"ttft": {"p90": )" + std::to_string(ttft) +
           R"(}}, "resources": {"samples": [{"t_s": 0, "rss_bytes": 1000, "gpu_mem_bytes": )" + mem +
           R"(}]}, "resource_summary": {"energy_per_output_token_j": )" + std::to_string(joules) + "}}";
  };
  return parse_result(R"({"schema": "hayate.bench.serve/1", "targets": [{"url": "http://h:1", "label": ")" + label +
                          R"(", "server": "hayate", "model": ")" + model + R"(", "workload": {"name": "story"},
      "runs": [)" + run(1, tps1, ttft1) +
                          ", " + run(10, tps10, ttft1 * 3) + "]}]}",
                      label + ".json");
}

ResultFile eval(const std::string& suite, const std::string& model, const std::string& metric, double v) {
  return parse_result(R"({"suite": ")" + suite + R"(", "model": ")" + model +
                          R"(", "format": "", "server": "hayate", "metrics": {")" + metric + R"(": )" +
                          std::to_string(v) + R"(, "items_scored": 10}, "items": 10, "wall_s": 3.5})",
                      suite + "-" + model + ".json");
}

// A: fast, 12 tok/s each at 10 users, 10 GB; B: small, best code; C: best quality, 40 GB;
// D: slow and large, beaten by B everywhere.
std::vector<ResultFile> four_configurations() {
  std::vector<ResultFile> f = {serve("A", "big-q4_k_m", 30, 120, 200, 10, 0.5),
                               serve("B", "mid-q8_0", 20, 50, 300, 5, 0.8), serve("C", "huge-f16", 8, 30, 900, 40, 2.0),
                               serve("D", "slow-q5_k_m", 10, 20, 1500, 50, 3.0)};
  const struct {
    const char* model;
    double gsm8k, humaneval, jcqa;
  } q[] = {{"big-q4_k_m", 0.5, 0.3, 0.5},
           {"mid-q8_0", 0.8, 0.6, 0.7},
           {"huge-f16", 90, 0.4, 0.9},  // a percentage: read as 0.9
           {"slow-q5_k_m", 0.6, 0.2, 0.6}};
  for (const auto& r : q) {
    f.push_back(eval("gsm8k", r.model, "accuracy", r.gsm8k));
    f.push_back(eval("humaneval", r.model, "pass@1", r.humaneval));
    f.push_back(eval("jcommonsenseqa", r.model, "accuracy", r.jcqa));
  }
  return f;
}

const Config& row(const std::vector<Config>& rows, const std::string& server) {
  for (const Config& c : rows)
    if (c.server == server) return c;
  throw std::runtime_error("no row " + server);
}

}  // namespace

TEST(ReportJudge, MatrixJoinsSpeedQualityAndMemoryPerConfiguration) {
  const std::vector<Config> rows = build_matrix(four_configurations());
  ASSERT_EQ(rows.size(), 4u) << "eval summaries join the serve rows, they do not add rows";
  const Config& a = row(rows, "A");
  EXPECT_EQ(a.format, "Q4_K_M");  // from the model id
  EXPECT_EQ(row(rows, "C").format, "F16");
  EXPECT_DOUBLE_EQ(*a.tps_1, 30);
  EXPECT_DOUBLE_EQ(*a.per_user_at_10(), 12);
  EXPECT_DOUBLE_EQ(*a.memory_bytes, 10e9);
  EXPECT_EQ(a.memory_basis, "GPU");
  EXPECT_DOUBLE_EQ(*a.tokens_per_s_per_gb(), 3);
  EXPECT_DOUBLE_EQ(*a.energy_per_token_j, 0.5);
  EXPECT_EQ(a.quality.size(), 3u);
  EXPECT_NEAR(*row(rows, "C").quality_mean(), (0.9 + 0.4 + 0.9) / 3, 1e-12);
}

TEST(ReportJudge, ParetoFrontsAreTheUnbeatenRows) {
  const std::vector<Config> rows = build_matrix(four_configurations());
  // Speed × quality: A fastest, B and C each better in quality than every faster row; D is
  // beaten by B (faster and better).
  EXPECT_TRUE(row(rows, "A").pareto_quality);
  EXPECT_TRUE(row(rows, "B").pareto_quality);
  EXPECT_TRUE(row(rows, "C").pareto_quality);
  EXPECT_FALSE(row(rows, "D").pareto_quality);
  // Speed × memory: A fastest, B smallest; C (slower and larger than A) and D are beaten.
  EXPECT_TRUE(row(rows, "A").pareto_memory);
  EXPECT_TRUE(row(rows, "B").pareto_memory);
  EXPECT_FALSE(row(rows, "C").pareto_memory);
  EXPECT_FALSE(row(rows, "D").pareto_memory);
  // Ties are not beaten; a missing value is never on the front.
  EXPECT_EQ(pareto_front({1.0, 1.0, std::nullopt}, {2.0, 2.0, 9.0}), (std::vector<size_t>{0, 1}));
}

TEST(ReportJudge, FlowchartBranchesPickTheKnownRows) {
  const FlowChart f = build_flowchart(build_matrix(four_configurations()));
  EXPECT_EQ(f.many_users.pick, "big-q4_k_m · Q4_K_M · A");  // the only row with >= 10 tok/s each at 10 users
  ASSERT_TRUE(f.budget);
  EXPECT_DOUBLE_EQ(*f.budget, 10e9);               // the median of 5, 10, 40, 50 GB (the lower one)
  EXPECT_EQ(f.tight.pick, "mid-q8_0 · Q8_0 · B");  // of A and B, the better quality
  EXPECT_EQ(f.roomy.pick, "huge-f16 · F16 · C");   // the best quality of all
  ASSERT_EQ(f.rules.size(), 2u);
  EXPECT_NE(f.rules[0].find("concurrency 10"), std::string::npos) << f.rules[0];
  EXPECT_NE(f.rules[1].find("median peak memory"), std::string::npos) << f.rules[1];

  const std::string svg = flowchart_svg(f);
  size_t decisions = 0, leaves = 0, edges = 0;
  for (size_t at = svg.find("class=\"decision\""); at != std::string::npos; at = svg.find("class=\"decision\"", at + 1))
    ++decisions;
  for (size_t at = svg.find("class=\"leaf\""); at != std::string::npos; at = svg.find("class=\"leaf\"", at + 1))
    ++leaves;
  for (size_t at = svg.find("class=\"edge\""); at != std::string::npos; at = svg.find("class=\"edge\"", at + 1))
    ++edges;
  EXPECT_EQ(decisions, 2u);
  EXPECT_EQ(leaves, 3u);
  EXPECT_EQ(edges, 4u);
  EXPECT_NE(svg.find("huge-f16 · F16 · C"), std::string::npos);
}

TEST(ReportJudge, NoRowServesTenUsersSaysSo) {
  const FlowChart f = build_flowchart(build_matrix({serve("slow", "m-q8_0", 5, 20, 100, 1, 1)}));
  EXPECT_EQ(f.many_users.pick, "");
  EXPECT_NE(f.many_users.why.find("no row reaches"), std::string::npos) << f.many_users.why;
  EXPECT_EQ(f.roomy.pick, "m-q8_0 · Q8_0 · slow");
  EXPECT_NE(f.rules[0].find("no quality was measured"), std::string::npos) << f.rules[0];
}

TEST(ReportJudge, UseCasePicksFollowTheirRules) {
  const std::vector<UseCase> u = recommend_use_cases(build_matrix(four_configurations()));
  ASSERT_EQ(u.size(), 4u);
  auto pick = [&](const std::string& use) {
    for (const UseCase& x : u)
      if (x.use == use) return x;
    throw std::runtime_error("no use case " + use);
  };
  // Chat: A and B are fast enough and start within a second; B has the better JCommonsenseQA.
  EXPECT_EQ(pick("chat").pick, "mid-q8_0 · Q8_0 · B");
  EXPECT_NE(pick("chat").reason.find("JGLUE"), std::string::npos);
  EXPECT_EQ(pick("code").pick, "mid-q8_0 · Q8_0 · B");  // HumanEval 0.6
  EXPECT_NE(pick("code").reason.find("HumanEval"), std::string::npos);
  // RAG: quality at least the median (D's 0.467) leaves B, C, D; B starts first.
  EXPECT_EQ(pick("RAG").pick, "mid-q8_0 · Q8_0 · B");
  EXPECT_EQ(pick("batch").pick, "big-q4_k_m · Q4_K_M · A");  // 120 tok/s at 10 users
  EXPECT_NE(pick("batch").reason.find("J per token"), std::string::npos) << pick("batch").reason;
}

TEST(ReportJudge, RenderedReportsShowTheJudgement) {
  const std::vector<ResultFile> files = four_configurations();
  const std::string html = render_html(files);
  for (const char* want : {"Speed × quality × memory", "Speed against quality (Pareto front)", "Speed against memory",
                           "Model-selection flowchart", "class=\"flowchart\"",
                           "Recommended configurations per use case", "Q1 &quot;10 users at once"})
    EXPECT_NE(html.find(want), std::string::npos) << want;
  size_t front_rows = 0;
  for (size_t at = html.find("<tr class=\"front\">"); at != std::string::npos;
       at = html.find("<tr class=\"front\">", at + 1))
    ++front_rows;
  EXPECT_EQ(front_rows, 3u);  // A, B, C
  const std::string md = render_markdown(files);
  EXPECT_NE(md.find("| **big-q4_k_m · Q4_K_M · A** |"), std::string::npos);
  EXPECT_NE(md.find("| slow-q5_k_m · Q5_K_M · D |"), std::string::npos);
  EXPECT_NE(md.find("| chat | mid-q8_0 · Q8_0 · B |"), std::string::npos);
  EXPECT_EQ(md.find("no GPU was sampled"), std::string::npos);  // these files have GPU figures
}

TEST(ReportJudge, WithoutGpuOrQualityTheReportSaysWhatIsMissing) {
  ResultFile f = serve("cpu", "m-q8_0", 5, 20, 100, 1, 1);
  f.gpu_note = "libnvidia-ml.so.1 not found (no NVIDIA driver): GPU sampling skipped";
  const std::string md = render_markdown({f});
  EXPECT_NE(md.find("no GPU was sampled"), std::string::npos);
  EXPECT_NE(md.find("no `hayate eval` summary"), std::string::npos);
}

TEST(ReportJudge, EvalSummariesAreReadAndCheckedByField) {
  const ResultFile e = eval("gsm8k", "m-q5_k_m", "exact_match", 0.25);
  ASSERT_EQ(e.kind, ResultKind::Eval);
  EXPECT_EQ(e.evals[0].format, "Q5_K_M");
  EXPECT_DOUBLE_EQ(*e.evals[0].score(), 0.25);
  EXPECT_DOUBLE_EQ(*e.evals[0].wall_s, 3.5);
  try {
    parse_result(R"({"suite": "gsm8k", "metrics": {"accuracy": "high"}})", "bad.json");
    FAIL() << "a metric that is not a number was accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(err.what()).find("bad.json: metrics.accuracy"), std::string::npos) << err.what();
  }
  EXPECT_EQ(detect_format("Qwen2.5-32B-Instruct-Q4_K_M.gguf"), "Q4_K_M");
  EXPECT_EQ(detect_format("llama-70b-fp16"), "F16");
  EXPECT_EQ(detect_format("hayate-demo"), "");
}

}  // namespace hayate::report
