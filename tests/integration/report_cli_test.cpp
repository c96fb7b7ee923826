// `hayate report` as a program: real `hayate bench model` JSON beside a sample serve result,
// both outputs written, Markdown to stdout without --md/--html, and errors with exit codes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_util.h"

namespace hayate {
namespace {

const std::string kBin = HAYATE_BIN;
const std::string kData = std::string(HAYATE_TESTDATA) + "/report/";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

TEST(ReportCli, ModelBenchAndServeResultsSideBySide) {
  const std::string model = test::temp_path("m.gguf"), bench = test::temp_path("bench.json");
  auto r = test::run_command(kBin + " synth -o " + model +
                             " --n-embd 64 --n-layer 1 --n-head 2 --n-head-kv 1 --n-ff 128 --type q8_0 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_command(kBin + " bench model -m " + model + " -p 16 -n 4 -r 1 -t 1 -o json --output " + bench +
                        " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto bench_json = nlohmann::json::parse(slurp(bench));

  const std::string md = test::temp_path("r.md"), html = test::temp_path("r.html");
  r = test::run_command(kBin + " report " + kData + "serve_two_targets.json " + bench + " --md " + md + " --html " +
                        html + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string m = slurp(md), h = slurp(html);
  EXPECT_NE(m.find("bench.json | bench model |"), std::string::npos) << m;
  EXPECT_NE(m.find("| tg4 |"), std::string::npos) << m;
  EXPECT_NE(m.find("Interactive chat (in-process)"), std::string::npos) << m;
  EXPECT_NE(m.find(bench_json["results"][0]["file_type"].get<std::string>()), std::string::npos);
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(h.find("Generation speed (tg)"), std::string::npos);
  EXPECT_NE(h.find("Output throughput against concurrency"), std::string::npos);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("http://www.w3.org/2000/svg\" class"), h.find("<svg xmlns") + 12) << "inline SVG";

  r = test::run_command(kBin + " report " + bench);
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output.rfind("# hayate benchmark report", 0), 0u) << r.output;
}

TEST(ReportCli, BadFilesGiveClearErrors) {
  auto r = test::run_command(kBin + " report /nonexistent/results.json 2>&1");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/results.json: cannot open"), std::string::npos) << r.output;
  const std::string bad = test::temp_path("bad.json");
  std::ofstream(bad) << R"({"schema": "hayate.bench.serve/1", "targets": [{"runs": [{"throughput": []}]}]})";
  r = test::run_command(kBin + " report " + bad + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("targets[0].runs[0].throughput: expected an object"), std::string::npos) << r.output;
  r = test::run_command(kBin + " report " + kData + "serve_two_targets.json --html /nonexistent/dir/r.html 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace hayate
