// `hayate report`'s reading and rendering: kind detection, tolerance of missing optional fields,
// errors that name the wrong field, escaping of text from files, chart contents and the
// recommendation rules, on the sample results in tests/data/report/.
#include <gtest/gtest.h>

#include <regex>

#include "core/error.h"
#include "report/report.h"
#include "report/svg.h"

namespace hayate::report {
namespace {

const std::string kData = std::string(HAYATE_TESTDATA) + "/report/";

// A small `hayate bench model -o json` document in the format_json shape.
std::string model_json(const std::string& name, double tg, uint64_t rss) {
  return R"({"system": {"cpu_model": "Test CPU", "cpu_features": "avx2", "n_cpus": 2, "load_average": [1.5, 1, 0.5],
             "timestamp": "2026-12-01T21:00:00Z"},
   "results": [
    {"model_file": ")" +
         name + R"(.gguf", "model_path": "x", "model_name": ")" + name + R"(", "arch": "llama",
     "file_type": "Q8_0", "model_size_bytes": 1000000, "n_params": 2000000, "backend": "cpu", "device": "Test CPU",
     "n_threads": 2, "test": "pp64", "n_prompt": 64, "n_gen": 0, "n_batch": 256, "repetitions": 2,
     "samples_seconds": [0.1, 0.1], "samples_ts": [640, 640], "avg_ts": 640, "stddev_ts": 5, "median_ts": 640,
     "rss_peak_bytes": )" +
         std::to_string(rss) + R"(, "rss_bytes": 1, "gpu_memory_bytes": null},
    {"model_file": ")" +
         name + R"(.gguf", "model_path": "x", "model_name": ")" + name + R"(", "arch": "llama",
     "file_type": "Q8_0", "model_size_bytes": 1000000, "n_params": 2000000, "backend": "cpu", "device": "Test CPU",
     "n_threads": 2, "test": "tg16", "n_prompt": 0, "n_gen": 16, "n_batch": 256, "repetitions": 2,
     "samples_seconds": [0.1, 0.1], "samples_ts": [1, 1], "avg_ts": )" +
         std::to_string(tg) + R"(, "stddev_ts": 1,
     "median_ts": 1, "rss_peak_bytes": )" +
         std::to_string(rss) + R"(, "rss_bytes": 1, "gpu_memory_bytes": null}]})";
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(ReportResults, DetectsServeResultsAndReadsTheirFields) {
  const ResultFile f = load_result_file(kData + "serve_two_targets.json");
  EXPECT_EQ(f.kind, ResultKind::Serve);
  EXPECT_EQ(f.name, "serve_two_targets.json");
  ASSERT_EQ(f.targets.size(), 2u);
  EXPECT_EQ(f.targets[0].label, "hayate q8_0");
  EXPECT_EQ(f.targets[0].workload, "story");
  ASSERT_EQ(f.targets[0].runs.size(), 4u);
  const ServeRun& r = f.targets[0].runs[0];
  EXPECT_EQ(r.mode, "concurrency");
  EXPECT_EQ(r.concurrency, 1.0);
  EXPECT_EQ(r.ttft_samples_ms.size(), 10u);
  ASSERT_TRUE(r.ttft.p90 && r.output_tokens_per_s && r.peak_rss_bytes);
  EXPECT_EQ(*r.peak_rss_bytes, 313000000u);  // the largest of the four resource samples
  EXPECT_EQ(f.cpu_model, "AMD EPYC 9454P 48-Core Processor");
}

TEST(ReportResults, ToleratesMissingOptionalFields) {
  const ResultFile f = load_result_file(kData + "serve_other_server.json");
  ASSERT_EQ(f.targets.size(), 1u);
  EXPECT_EQ(f.targets[0].workload, "");
  const ServeRun& rate = f.targets[0].runs.back();
  EXPECT_EQ(rate.mode, "rate");
  EXPECT_FALSE(rate.concurrency);
  EXPECT_EQ(rate.rate_rps, 2.0);
  EXPECT_EQ(rate.errors, 2);
  EXPECT_FALSE(rate.e2e.p50);
  EXPECT_FALSE(rate.peak_rss_bytes);
  EXPECT_TRUE(f.cpu_model.empty());
}

TEST(ReportResults, DetectsModelBenchOutput) {
  const ResultFile f = parse_result(model_json("tiny", 30, 50 << 20), "m.json");
  EXPECT_EQ(f.kind, ResultKind::Model);
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_TRUE(f.rows[0].is_prompt());
  EXPECT_EQ(f.rows[1].test, "tg16");
  EXPECT_EQ(f.rows[0].config(), "tiny · Q8_0 · cpu · 2 threads");
  EXPECT_EQ(f.load_average.size(), 3u);
}

void expect_error(const std::string& text, ErrorKind kind, const std::string& what) {
  try {
    parse_result(text, "f.json");
    FAIL() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(ReportResults, ErrorsNameTheFileAndField) {
  expect_error("{not json", ErrorKind::BadInput, "f.json: not JSON");
  expect_error("[1, 2]", ErrorKind::BadInput, "neither a `hayate bench serve` result");
  expect_error(R"({"schema": "hayate.bench.serve/2", "targets": []})", ErrorKind::Unsupported, "newer");
  expect_error(R"({"schema": "something/1"})", ErrorKind::BadInput, "unknown schema");
  expect_error(R"({"schema": "hayate.bench.serve/1"})", ErrorKind::BadInput, "targets");
  expect_error(R"({"schema": "hayate.bench.serve/1", "targets": [{"runs": [{"concurrency": "five"}]}]})",
               ErrorKind::BadInput, "targets[0].runs[0].concurrency: expected a number");
  expect_error(R"({"results": [{"test": "pp1"}]})", ErrorKind::BadInput, "results[0].avg_ts: missing");
  try {
    load_result_file(kData + "does-not-exist.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

TEST(ReportSvg, TicksAreRoundAndCoverTheRange) {
  const Ticks t = nice_ticks(0, 937);
  EXPECT_EQ(t.lo, 0);
  EXPECT_EQ(t.hi, 1000);
  ASSERT_EQ(t.values.size(), 6u);
  EXPECT_EQ(t.values[1], 200);
  const Ticks small = nice_ticks(0, 0.73);
  EXPECT_NEAR(small.hi, 0.8, 1e-12);
  EXPECT_EQ(nice_ticks(5, 5).values.size() >= 2, true);
  EXPECT_EQ(short_number(12345), "12.3k");
  EXPECT_EQ(short_bytes(1.5 * 1024 * 1024 * 1024), "1.5 GiB");
  EXPECT_EQ(escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
}

TEST(ReportSvg, ChartsDrawOneShapePerValue) {
  LineChart lc;
  lc.title = "T";
  lc.x_label = "concurrency";
  lc.y_label = "tok/s";
  lc.series = {{"a", series_color(0), "", {{1, 10}, {2, 18}, {4, 30}}}, {"b", series_color(1), "4 2", {{1, 5}}}};
  const std::string line = line_chart(lc);
  EXPECT_EQ(count(line, "<path class=\"series\""), 2u);
  EXPECT_EQ(count(line, "<circle"), 4u);
  EXPECT_NE(line.find(">concurrency</text>"), std::string::npos);
  EXPECT_NE(line.find("stroke-dasharray=\"4 2\""), std::string::npos);

  BarChart bc;
  bc.title = "B";
  bc.y_label = "tokens/s";
  bc.groups = {"m1 · Q8_0", "m2 · F32"};
  bc.series = {{"pp", series_color(0), {100.0, std::nullopt}, {}}, {"tg", series_color(1), {10.0, 12.0}, {1, 1}}};
  const std::string bars = bar_chart(bc);
  EXPECT_EQ(count(bars, "<rect"), 3u);
  EXPECT_EQ(count(bars, "class=\"errbar\""), 2u);
  EXPECT_NE(bars.find(">Q8_0</text>"), std::string::npos) << "group labels split at the dots";
}

TEST(ReportRender, EscapesTextFromFilesAndHasNoScripts) {
  const std::vector<ResultFile> files = {load_result_file(kData + "serve_other_server.json")};
  const std::string html = render_html(files);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>other"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;b&gt;other"), std::string::npos);
  const std::string md = render_markdown(files);
  EXPECT_EQ(md.find("<script"), std::string::npos);
  EXPECT_NE(md.find("&lt;script>"), std::string::npos);
}

TEST(ReportRender, SeveralFilesSideBySide) {
  const std::vector<ResultFile> files = {load_result_file(kData + "serve_two_targets.json"),
                                         load_result_file(kData + "serve_other_server.json"),
                                         parse_result(model_json("tiny", 30, 50 << 20), "a.json"),
                                         parse_result(model_json("small", 20, 80 << 20), "b.json")};
  const std::string tp = serve_throughput_chart(files);
  EXPECT_EQ(count(tp, "<path class=\"series\""), 3u) << "one line per target over all files";
  EXPECT_NE(tp.find("serve_two_targets.json: hayate q8_0"), std::string::npos);
  EXPECT_EQ(count(serve_latency_chart(files, "ttft"), "<path class=\"series\""), 9u) << "p50, p90, p99 per target";
  EXPECT_EQ(ttft_cdf_charts(files).size(), 3u);
  EXPECT_EQ(count(model_speed_chart(files, false), "<rect"), 2u);
  EXPECT_NE(model_speed_chart(files, true).find("a.json: pp64"), std::string::npos);
  EXPECT_NE(memory_chart(files).find("peak resident memory"), std::string::npos);

  const std::string html = render_html(files);
  // throughput, ttft, e2e; 3 CDFs; pp, tg; memory; the speed × memory front and the flowchart
  // (issue 23; no eval summary, so no speed × quality chart)
  EXPECT_EQ(count(html, "<svg"), 3u + 3 + 2 + 1 + 2);
  const std::string md = render_markdown(files);
  EXPECT_NE(md.find("| concurrency | 8 |"), std::string::npos) << md;
}

TEST(ReportRecommend, EachRulePicksTheBestMeasuredRow) {
  const std::vector<ResultFile> files = {load_result_file(kData + "serve_two_targets.json"),
                                         parse_result(model_json("tiny", 30, 64u << 20), "a.json"),
                                         parse_result(model_json("small", 20, 32u << 20), "b.json")};
  // The expected TTFT pick, recomputed from the file.
  const ServeTarget* best = nullptr;
  for (const ServeTarget& t : files[0].targets)
    if (!best || *t.runs[0].ttft.p90 < *best->runs[0].ttft.p90) best = &t;
  std::map<std::string, Recommendation> by_job;
  for (const Recommendation& r : recommend(files)) by_job[r.job] = r;
  EXPECT_NE(by_job.at("Interactive chat (server)").choice.find(best->label + " at concurrency 1"), std::string::npos)
      << by_job.at("Interactive chat (server)").choice;
  EXPECT_NE(by_job.at("Interactive chat (in-process)").choice.find("a.json: tiny"), std::string::npos);
  EXPECT_NE(by_job.at("Smallest memory (in-process)").choice.find("b.json: small"), std::string::npos);
  // tokens/s per GiB: 30 / (1/16) = 480 against 20 / (1/32) = 640.
  EXPECT_NE(by_job.at("Best tokens/s per GiB (in-process)").choice.find("small"), std::string::npos);
  EXPECT_EQ(by_job.at("Best tokens/s per GiB (in-process)").value, "640 tokens/s per GiB");
  EXPECT_EQ(by_job.at("Smallest memory (server)").choice, "serve_two_targets.json: hayate q4_k_m");
  // Many users: recomputed from the file with the rule the report states.
  double most = 0;
  std::string most_name;
  for (const ServeTarget& t : files[0].targets)
    for (const ServeRun& r : t.runs)
      if (r.errors == 0 && *r.ttft.p90 <= 2 * *t.runs[0].ttft.p90 && *r.concurrency > most)
        most = *r.concurrency, most_name = t.label;
  ASSERT_GT(most, 1);
  EXPECT_EQ(by_job.at("Many concurrent users (server)").choice, "serve_two_targets.json: " + most_name);
  EXPECT_EQ(by_job.at("Many concurrent users (server)").value.rfind(short_number(most) + " concurrent requests", 0),
            0u);
}

}  // namespace
}  // namespace hayate::report
